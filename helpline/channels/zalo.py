"""Zalo Official Account: webhook signature, event parsing, and the v3 ``message/cs`` sender.

Signature: ``X-ZEvent-Signature: mac=<sha256_hex(app_id + raw_body + timestamp + oa_secret_key)>``,
a plain SHA-256 (not HMAC), where ``timestamp`` is the body's own field.
Zalo retries a webhook that is not answered 200 within about 2 s.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import hmac
import json
import logging
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from helpline.channels.config import ZaloConfig
from helpline.channels.http import (
    json_body,
    make_client,
    raise_for_http_status,
    raise_for_transport,
    redact_secrets,
    with_retries,
)
from helpline.channels.inbound import Inbound, Location
from helpline.channels.keys import edge_id
from helpline.channels.messages import Progress, reply_from_message
from helpline.channels.store import ChannelStore, remember_choices
from helpline.channels.windows import reply_window
from helpline.channels.zalo_format import ZaloPart, zalo_parts
from helpline.errors import SendFailed

logger = logging.getLogger(__name__)

CHANNEL = "zalo"
SIGNATURE_HEADER = "X-ZEvent-Signature"
TOKEN_ERRORS = {-216, -220, -124}  # access token invalid (-216, -124) or expired (-220)
PERMANENT_ERRORS = {  # retrying cannot help: recorded at once with this reason
    -230: "user has not interacted with the OA in the last 7 days",
    -213: "user has not followed the OA or has blocked it",
    -201: "invalid request parameters",
    -217: "user has blocked messages from the OA",
    -227: "the OA is locked, or inactive for more than 45 days",
    -232: "the user's interaction has expired: the OA may no longer reply",
    -244: "the user has blocked this type of message",
    -248: "refused: the OA violated Zalo's platform policy",
    -320: "paid message outside the free window, but no Zalo Cloud Account is linked to the OA",
    -321: "paid message outside the free window, but the linked Zalo Cloud Account is out of credit",
}
RATE_LIMIT_ERRORS = {-32: 60.0, -211: 3600.0}  # rate limit; out of quota
QUIET_HOURS_ERROR = -234  # no messages from 22:00 to 06:00 Vietnam time: held until 06:00
VIETNAM = dt.timezone(dt.timedelta(hours=7))
MORNING_HOUR = 6


def seconds_until_morning(now: dt.datetime | None = None) -> float:
    """Seconds from ``now`` (UTC if naive) to the next 06:00 in Vietnam (UTC+7), at least one minute."""
    now = now or dt.datetime.now(dt.timezone.utc)
    if now.tzinfo is None:
        now = now.replace(tzinfo=dt.timezone.utc)
    local = now.astimezone(VIETNAM)
    morning = local.replace(hour=MORNING_HOUR, minute=0, second=0, microsecond=0)
    if morning <= local:
        morning += dt.timedelta(days=1)
    return max(60.0, (morning - local).total_seconds())

_KINDS = {
    "user_send_text": "text", "anonymous_send_text": "text", "user_send_link": "text",
    "user_send_image": "image", "anonymous_send_image": "image", "user_send_gif": "image",
    "user_send_sticker": "sticker", "anonymous_send_sticker": "sticker",
    "user_send_file": "file", "anonymous_send_file": "file",
    "user_send_location": "location",
    "user_send_audio": "audio", "user_send_video": "video",
    "user_seen_message": "seen", "user_received_message": "seen",
}


def signature(app_id: str, body: bytes, timestamp: str, oa_secret_key: str) -> str:
    digest = hashlib.sha256(app_id.encode() + body + timestamp.encode() + oa_secret_key.encode()).hexdigest()
    return f"mac={digest}"


def verify(config: ZaloConfig, body: bytes, header: str | None) -> bool:
    """Check the event signature in constant time; the body's ``app_id`` must be ours."""
    if not header:
        return False
    try:
        data = json.loads(body)
    except ValueError:
        return False
    if not isinstance(data, dict) or str(data.get("app_id", "")) != config.app_id:
        return False
    expected = signature(config.app_id, body, str(data.get("timestamp", "")), config.oa_secret_key)
    given = header.strip()
    if not given.startswith("mac="):
        given = f"mac={given}"
    return hmac.compare_digest(given.lower().encode(), expected.encode())


def registration_probe(body: bytes) -> bool:
    """Zalo's check when a webhook URL is saved: an unsigned POST of ``{}`` that must get 200 (issue 15).

    Exactly an empty JSON object; it is answered and nothing is processed. Any other unsigned
    request is still refused.
    """
    if len(body) > 64:
        return False
    try:
        return json.loads(body) == {}
    except ValueError:
        return False


def _attachment(message: Mapping[str, Any]) -> dict[str, Any]:
    items = message.get("attachments")
    if isinstance(items, list) and items and isinstance(items[0], dict):
        return items[0]
    return {}


def parse(body: bytes) -> list[Inbound]:
    """One webhook body -> at most one event. Raises ValueError on a malformed body."""
    data = json.loads(body)
    if not isinstance(data, dict) or not isinstance(data.get("event_name"), str):
        raise ValueError("not a Zalo event")
    event = data["event_name"]
    kind = _KINDS.get(event, "unknown")
    # Seen and received receipts come from the OA's side: the OA is the sender, the user the recipient.
    person = "recipient" if kind == "seen" else "sender"
    sender = str((data.get(person) or {}).get("id") or "")
    message = data.get("message") if isinstance(data.get("message"), dict) else {}
    msg_id = str(message.get("msg_id") or f"{event}:{sender}:{data.get('timestamp', '')}")
    if kind in ("seen", "unknown") or not sender:
        return [Inbound(CHANNEL, sender or "?", msg_id, "seen" if kind == "seen" else "unknown", event=event)]
    attachment = _attachment(message)
    payload = attachment.get("payload") if isinstance(attachment.get("payload"), dict) else {}
    location = None
    if kind == "location":
        coords = payload.get("coordinates") or {}
        location = Location.parse(coords.get("latitude"), coords.get("longitude"))
        if location is None:
            kind = "unknown"
    text = str(message.get("text") or "")
    if kind == "text" and event == "user_send_link" and not text:
        text = str(payload.get("url") or "")
    url = payload.get("url") if isinstance(payload.get("url"), str) else None
    return [Inbound(CHANNEL, sender, msg_id, kind, text=text, location=location, url=url, event=event,
                    extra={"anonymous": event.startswith("anonymous_")})]


def part_body(recipient_id: str, part: ZaloPart) -> dict[str, Any]:
    """The ``message/cs`` request body of one message."""
    message: dict[str, Any] = {"text": part.text}
    if part.buttons:
        message["attachment"] = {"type": "template", "payload": {"buttons": [
            {"title": b.title, "type": "oa.query.hide", "payload": b.payload} for b in part.buttons]}}
    return {"recipient": {"user_id": recipient_id}, "message": message}


def request_bodies(recipient_id: str, message: Mapping[str, Any]) -> tuple[list[dict[str, Any]], tuple[str, ...]]:
    """Map one bot/staff message to request bodies, plus the payloads of numbered choices."""
    reply = reply_from_message(message, CHANNEL)
    if reply.native is not None:
        return [{"recipient": {"user_id": recipient_id}, "message": reply.native}], ()
    parts = zalo_parts(reply, native_buttons=True)
    choices = next((p.choices for p in parts if p.choices), ())
    return [part_body(recipient_id, p) for p in parts], choices


def error_for(code: int, message: str, now: dt.datetime | None = None) -> SendFailed:
    if code in PERMANENT_ERRORS:
        return SendFailed(f"zalo {code}: {PERMANENT_ERRORS[code]}", permanent=True)
    if code == QUIET_HOURS_ERROR:  # not a failure: the outbox's not-before time moves to the morning
        wait = seconds_until_morning(now)
        return SendFailed(f"zalo {code}: no messages from 22:00 to 06:00 (Vietnam); held until 06:00",
                          retry_after=wait)
    if code in RATE_LIMIT_ERRORS:
        return SendFailed(f"zalo {code}: rate limit or quota ({message[:80]})", retry_after=RATE_LIMIT_ERRORS[code])
    # Unknown codes are retried (and end as a visible failure after the outbox's last attempt).
    return SendFailed(f"zalo {code}: {message[:120]}")


class ZaloSender:
    """Delivers outbox messages through ``POST {api}/v3.0/oa/message/cs``."""

    channel = CHANNEL

    def __init__(self, config: ZaloConfig, store: ChannelStore, client: httpx.AsyncClient | None = None,
                 now: Callable[[], dt.datetime] | None = None) -> None:
        from helpline.channels.zalo_oauth import ZaloTokens

        redact_secrets(config.secrets)
        self._config = config
        self._store = store
        self._client = client or make_client(config.timeout)
        self.tokens = ZaloTokens(config, store, self._client)
        self._progress = Progress()
        self._now = now or (lambda: dt.datetime.now(dt.timezone.utc))  # the outbox's clock, for the night hold

    async def aclose(self) -> None:
        await self._client.aclose()

    async def send(self, recipient_id: str, message: Mapping[str, Any]) -> None:
        user = edge_id(CHANNEL, recipient_id)
        last = await asyncio.to_thread(self._store.last_inbound_at, CHANNEL, user)
        window = reply_window(CHANNEL, last)
        refusal = window.send_refusal(self._now()) if window is not None else None
        if refusal is not None:  # Zalo would refuse it too (-230): say why at once, without a call
            raise SendFailed(refusal, permanent=True)
        bodies, choices = request_bodies(user, message)
        await self._progress.deliver(Progress.key(recipient_id, message), bodies,
                                     lambda body: with_retries(lambda: self._post(body)))
        if choices:
            await remember_choices(self._store, CHANNEL, recipient_id, choices)

    async def _post(self, body: dict[str, Any]) -> None:
        token = await self.tokens.access_token()
        code, text = await self._call(token, body)
        if code in TOKEN_ERRORS:
            token = (await self.tokens.refresh(token)).access_token
            code, text = await self._call(token, body)
            if code in TOKEN_ERRORS:
                raise SendFailed(f"zalo {code}: access token refused right after a refresh", retry_after=300.0)
        if code != 0:
            raise error_for(code, text, self._now())

    async def _call(self, token: str, body: dict[str, Any]) -> tuple[int, str]:
        url = f"{self._config.api_base}/v3.0/oa/message/cs"
        try:
            response = await self._client.post(url, headers={"access_token": token}, json=body)
        except httpx.HTTPError as exc:
            raise_for_transport("zalo send", exc)
        raise_for_http_status("zalo send", response)
        data = json_body(response)
        if response.status_code != 200 or "error" not in data:
            raise SendFailed(f"zalo send: unexpected HTTP {response.status_code}",
                             permanent=400 <= response.status_code < 500 and response.status_code != 401)
        try:
            code = int(data.get("error") or 0)
        except (TypeError, ValueError):
            code = -1
        return code, str(data.get("message") or "")

