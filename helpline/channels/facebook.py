"""Facebook Messenger: webhook verification, event parsing, and the Send API.

- Subscription check: ``GET ?hub.mode=subscribe&hub.verify_token=…&hub.challenge=…``.
- Signature: ``X-Hub-Signature-256: sha256=<HMAC-SHA256(app_secret, raw_body)>``.
- Send: ``POST {graph}/me/messages`` with ``messaging_type=RESPONSE``; the bot may
  answer within 24 h of the person's last message. Staff may answer for 7 days
  with the ``HUMAN_AGENT`` tag (``FACEBOOK_HUMAN_AGENT=1``, needs Meta's approval).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Mapping
from typing import Any

import httpx

from helpline.channels.config import FacebookConfig
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
from helpline.channels.messages import Progress, numbered_text, reply_from_message, truncate
from helpline.channels.store import ChannelStore, remember_choices
from helpline.errors import SendFailed
from helpline.text import split_message

logger = logging.getLogger(__name__)

CHANNEL = "facebook"
SIGNATURE_HEADER = "X-Hub-Signature-256"
TEXT_LIMIT = 2000
MAX_QUICK_REPLIES = 13
QUICK_REPLY_TITLE = 20
OUTSIDE_WINDOW = "outside the 24 h messaging window"
RATE_LIMIT_CODES = {4, 17, 32, 613, 80006}
USER_GONE = {551: "the person is not available (blocked the page or deactivated)",
             1545041: "the person is not available"}


def verify_signature(config: FacebookConfig, body: bytes, header: str | None) -> bool:
    if not header or not header.startswith("sha256="):
        return False
    expected = hmac.new(config.app_secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(header[len("sha256="):].strip().lower().encode(), expected.encode())


def verify_subscription(config: FacebookConfig, params: Mapping[str, str]) -> str | None:
    """The challenge to echo back if the subscription request carries our verify token, else None."""
    token = params.get("hub.verify_token") or ""
    if params.get("hub.mode") != "subscribe" or not token:
        return None
    if not hmac.compare_digest(token.encode("utf-8"), config.verify_token.encode("utf-8")):
        return None
    return params.get("hub.challenge") or ""


def _event(messaging: Mapping[str, Any]) -> Inbound:
    sender = str((messaging.get("sender") or {}).get("id") or "")
    stamp = messaging.get("timestamp", "")
    if "read" in messaging or "delivery" in messaging:
        return Inbound(CHANNEL, sender or "?", f"seen:{sender}:{stamp}", "seen", event="read")
    postback = messaging.get("postback")
    if isinstance(postback, dict):
        mid = str(postback.get("mid") or f"postback:{sender}:{stamp}")
        return Inbound(CHANNEL, sender, mid, "postback", text=str(postback.get("title") or ""),
                       payload=str(postback.get("payload") or ""), event="postback")
    message = messaging.get("message")
    if not isinstance(message, dict) or message.get("is_echo") or not sender:
        # Echoes are the page's own messages: answering them would loop.
        return Inbound(CHANNEL, sender or "?", f"other:{sender}:{stamp}", "unknown", event="other")
    mid = str(message.get("mid") or f"message:{sender}:{stamp}")
    quick = message.get("quick_reply")
    if isinstance(quick, dict) and quick.get("payload"):
        return Inbound(CHANNEL, sender, mid, "postback", text=str(message.get("text") or ""),
                       payload=str(quick["payload"]), event="quick_reply")
    if message.get("text"):
        return Inbound(CHANNEL, sender, mid, "text", text=str(message["text"]), event="message")
    if message.get("sticker_id"):
        return Inbound(CHANNEL, sender, mid, "sticker", event="sticker")
    items = message.get("attachments") if isinstance(message.get("attachments"), list) else []
    first = items[0] if items and isinstance(items[0], dict) else {}
    payload = first.get("payload") if isinstance(first.get("payload"), dict) else {}
    kind = {"image": "image", "video": "video", "audio": "audio", "file": "file", "location": "location"}.get(
        str(first.get("type")), "unknown")
    if kind == "image" and payload.get("sticker_id"):
        kind = "sticker"
    location = None
    if kind == "location":
        coords = payload.get("coordinates") or {}
        location = Location.parse(coords.get("lat"), coords.get("long"))
        kind = "location" if location else "unknown"
    url = payload.get("url") if isinstance(payload.get("url"), str) else None
    return Inbound(CHANNEL, sender, mid, kind, location=location, url=url, event=f"attachment:{first.get('type')}")


def parse(body: bytes) -> list[Inbound]:
    """Every messaging event of a (possibly batched) webhook body. Raises ValueError if malformed."""
    data = json.loads(body)
    if not isinstance(data, dict) or not isinstance(data.get("entry"), list):
        raise ValueError("not a Messenger webhook body")
    if data.get("object") != "page":
        return []
    out = []
    for entry in data["entry"]:
        for messaging in (entry or {}).get("messaging") or []:
            if isinstance(messaging, dict):
                out.append(_event(messaging))
    return out


def message_objects(message: Mapping[str, Any]) -> tuple[list[dict[str, Any]], tuple[str, ...]]:
    """The Send API ``message`` objects for one bot/staff message, plus payloads of numbered choices."""
    reply = reply_from_message(message, CHANNEL)
    if reply.native is not None:
        return [reply.native], ()
    buttons = reply.buttons[:MAX_QUICK_REPLIES]
    choices: tuple[str, ...] = ()
    text = reply.text
    if buttons and any(len(b.title) > QUICK_REPLY_TITLE for b in buttons):
        # Full titles go in the text; the quick replies carry the numbers.
        text = numbered_text(text, buttons)
        choices = tuple(b.payload for b in buttons)
        quick = [{"content_type": "text", "title": truncate(f"{i}. {b.title}", QUICK_REPLY_TITLE),
                  "payload": b.payload} for i, b in enumerate(buttons, start=1)]
    else:
        quick = [{"content_type": "text", "title": b.title, "payload": b.payload} for b in buttons]
    texts = split_message(text, TEXT_LIMIT) if text.strip() else []
    if quick and not texts:
        texts = ["…"]
    out: list[dict[str, Any]] = [{"text": t} for t in texts]
    if quick:
        out[-1]["quick_replies"] = quick
    if reply.image:
        out.append({"attachment": {"type": "image", "payload": {"url": reply.image, "is_reusable": True}}})
    return out, choices


def error_for(response: httpx.Response) -> SendFailed:
    error = json_body(response).get("error")
    if not isinstance(error, dict):
        error = {}
    code, sub = error.get("code"), error.get("error_subcode")
    text = str(error.get("message") or f"HTTP {response.status_code}")[:120]
    if code == 10 and sub == 2018278 or sub == 2018278:
        return SendFailed(f"facebook: {OUTSIDE_WINDOW} (code 10/2018278)", permanent=True)
    if code in USER_GONE or sub in USER_GONE:
        return SendFailed(f"facebook {code}: {USER_GONE.get(code) or USER_GONE.get(sub)}", permanent=True)
    if code in RATE_LIMIT_CODES:
        return SendFailed(f"facebook {code}: rate limited", retry_after=60.0)
    if code in (1, 2) or response.status_code >= 500:
        return SendFailed(f"facebook {code}: temporary error ({text})")
    if code == 190:  # the page token was revoked or expired: an operator must fix it; keep the messages
        logger.error("facebook refused the page access token (code 190): set a new FACEBOOK_PAGE_ACCESS_TOKEN")
        return SendFailed("facebook 190: page access token refused", retry_after=300.0)
    return SendFailed(f"facebook {code}/{sub}: {text}", permanent=True)


class FacebookSender:
    channel = CHANNEL

    def __init__(self, config: FacebookConfig, store: ChannelStore, client: httpx.AsyncClient | None = None) -> None:
        redact_secrets(config.secrets)
        self._config = config
        self._store = store
        self._client = client or make_client(config.timeout)
        self._progress = Progress()

    async def aclose(self) -> None:
        await self._client.aclose()

    async def send(self, recipient_id: str, message: Mapping[str, Any], kind: str = "bot") -> None:
        objects, choices = message_objects(message)
        staff = kind == "staff"
        psid = edge_id(CHANNEL, recipient_id)
        await self._progress.deliver(Progress.key(recipient_id, message), objects,
                                     lambda obj: with_retries(lambda: self._send_one(psid, obj, staff)))
        if choices:
            await remember_choices(self._store, CHANNEL, recipient_id, choices)

    async def send_item(self, item: Any) -> None:
        """Outbox hook: staff messages may use the HUMAN_AGENT tag outside the 24 h window."""
        await self.send(item.recipient_id, item.message, kind=item.kind)

    async def _send_one(self, recipient_id: str, obj: dict[str, Any], staff: bool) -> None:
        body = {"recipient": {"id": recipient_id}, "messaging_type": "RESPONSE", "message": obj}
        try:
            await self._post(body)
        except SendFailed as exc:
            if not (staff and self._config.human_agent and OUTSIDE_WINDOW in str(exc)):
                raise
            await self._post({**body, "messaging_type": "MESSAGE_TAG", "tag": "HUMAN_AGENT"})

    async def _post(self, body: dict[str, Any]) -> None:
        url = f"{self._config.graph_base}/me/messages"
        try:
            response = await self._client.post(url, params={"access_token": self._config.page_access_token},
                                               json=body)
        except httpx.HTTPError as exc:
            raise_for_transport("facebook send", exc)
        if response.status_code == 429:
            raise_for_http_status("facebook send", response)
        if response.status_code != 200:
            raise error_for(response)

