"""Facebook Messenger: webhook verification, event parsing, and the Send API.

- Subscription check: ``GET ?hub.mode=subscribe&hub.verify_token=…&hub.challenge=…``.
- Signature: ``X-Hub-Signature-256: sha256=<HMAC-SHA256(app_secret, raw_body)>``.
- Send: ``POST {graph}/me/messages`` with ``messaging_type=RESPONSE``; the bot may
  answer within 24 h of the person's last message. Staff may answer for 7 days
  with the ``HUMAN_AGENT`` tag (``FACEBOOK_HUMAN_AGENT=1``, needs Meta's approval).
- Handover Protocol: while another app (the Page inbox) owns a thread, the person's events come in
  ``entry[].standby`` (the bot stays quiet; texts go to the open ticket). ``messaging_handovers``
  events say when control was taken from the bot (``take_thread_control``) or passed back to it
  (``pass_thread_control``); the bot passes a thread with ``POST {graph}/me/pass_thread_control``
  and takes it back with ``POST {graph}/me/take_thread_control``.
- A shared link arrives as an attachment of type ``fallback`` (``payload.url``, ``title``); a person
  opening the chat from an m.me link or an ad sends a ``referral`` event. Both are answered.
"""

from __future__ import annotations

import asyncio
import datetime as dt
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
OUTSIDE_WINDOW_SUBCODES = {2018278, 2534022}  # both: the message is outside the allowed window (issue 15)
PAGE_INBOX_APP_ID = "263902037430900"  # the Page inbox's app id in the Handover Protocol docs
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


def _standby(event: Inbound) -> Inbound:
    """The same event seen while another app owns the thread: never answered by the bot."""
    if not event.needs_reply:
        return event
    return Inbound(event.channel, event.sender_id, event.message_id, event.kind, text=event.text,
                   payload=event.payload, location=event.location, url=event.url, event=f"standby:{event.event}",
                   extra={**event.extra, "standby": True}, media=event.media)


def _handover(sender: str, stamp: Any, messaging: Mapping[str, Any]) -> Inbound | None:
    for action, field_name in (("take", "take_thread_control"), ("pass", "pass_thread_control")):
        data = messaging.get(field_name)
        if isinstance(data, dict) and sender:
            return Inbound(CHANNEL, sender, f"{field_name}:{sender}:{stamp}", "handover", event=field_name,
                           extra={"action": action, "owner": str(data.get("new_owner_app_id") or ""),
                                  "metadata": str(data.get("metadata") or "")[:200]})
    return None


def _event(messaging: Mapping[str, Any]) -> Inbound:
    sender = str((messaging.get("sender") or {}).get("id") or "")
    stamp = messaging.get("timestamp", "")
    if "read" in messaging or "delivery" in messaging:
        return Inbound(CHANNEL, sender or "?", f"seen:{sender}:{stamp}", "seen", event="read")
    handover = _handover(sender, stamp, messaging)
    if handover is not None:
        return handover
    referral = messaging.get("referral")
    if isinstance(referral, dict) and "message" not in messaging and "postback" not in messaging and sender:
        return Inbound(CHANNEL, sender, f"referral:{sender}:{stamp}", "referral", event="referral",
                       extra={"source": str(referral.get("source") or "")[:40]})
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
    if first.get("type") == "fallback":
        # A shared link: its title and address are what the person sent (a job offer, say).
        link = str(first.get("url") or url or "")
        text = " ".join(t for t in (str(first.get("title") or payload.get("title") or ""), link) if t).strip()
        if text:
            return Inbound(CHANNEL, sender, mid, "text", text=text, url=link or None, event="attachment:fallback",
                           media="link")
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
        for messaging in (entry or {}).get("standby") or []:
            if isinstance(messaging, dict):
                out.append(_standby(_event(messaging)))
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


THREAD_MEMO = "thread_owner"  # channel_memo: the app that owns the thread when it is not the bot
THREAD_MEMO_AGE = dt.timedelta(days=7)  # an inbox thread left alone longer is treated as the bot's again


async def remember_thread(store: ChannelStore, recipient_id: str, owner: str | None) -> None:
    """Who owns this person's thread: another app's id, or None when it is the bot's again."""
    if owner:
        await asyncio.to_thread(store.remember, CHANNEL, recipient_id, THREAD_MEMO, owner)
    else:
        await asyncio.to_thread(store.forget, CHANNEL, recipient_id, THREAD_MEMO)


async def thread_elsewhere(store: ChannelStore, recipient_id: str) -> bool:
    return bool(await asyncio.to_thread(store.recall, CHANNEL, recipient_id, THREAD_MEMO, THREAD_MEMO_AGE))


def error_for(response: httpx.Response) -> SendFailed:
    error = json_body(response).get("error")
    if not isinstance(error, dict):
        error = {}
    code, sub = error.get("code"), error.get("error_subcode")
    text = str(error.get("message") or f"HTTP {response.status_code}")[:120]
    if sub in OUTSIDE_WINDOW_SUBCODES:
        return SendFailed(f"facebook: {OUTSIDE_WINDOW} (code {code}/{sub})", permanent=True)
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
        """Outbox hook: staff messages may use the HUMAN_AGENT tag outside the 24 h window.

        A staff reply from the console to a thread another app (the Page inbox) owns takes the
        thread back first: only the owner may answer.
        """
        if item.kind == "staff" and await thread_elsewhere(self._store, item.recipient_id):
            await self.take_thread(item.recipient_id, "staff reply from the helpline console")
        await self.send(item.recipient_id, item.message, kind=item.kind)

    async def pass_thread(self, recipient_id: str, metadata: str, target_app_id: str = PAGE_INBOX_APP_ID) -> None:
        """Give the thread to another app (by default the Page inbox), so staff answer there."""
        await with_retries(lambda: self._control("pass_thread_control", {
            "recipient": {"id": edge_id(CHANNEL, recipient_id)}, "target_app_id": target_app_id,
            "metadata": metadata[:1000]}))
        await remember_thread(self._store, recipient_id, target_app_id)

    async def take_thread(self, recipient_id: str, metadata: str) -> None:
        """Take the thread back from the app that owns it (the bot's app must be the primary receiver)."""
        await with_retries(lambda: self._control("take_thread_control", {
            "recipient": {"id": edge_id(CHANNEL, recipient_id)}, "metadata": metadata[:1000]}))
        await remember_thread(self._store, recipient_id, None)

    async def _control(self, action: str, body: dict[str, Any]) -> None:
        url = f"{self._config.graph_base}/me/{action}"
        try:
            response = await self._client.post(url, params={"access_token": self._config.page_access_token},
                                               json=body)
        except httpx.HTTPError as exc:
            raise_for_transport(f"facebook {action}", exc)
        if response.status_code == 429:
            raise_for_http_status(f"facebook {action}", response)
        if response.status_code != 200 or json_body(response).get("success") is not True:
            raise error_for(response)

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

