"""Zalo Bot Platform: ``{api}/bot<TOKEN>/<method>``, a Telegram-like API.

The webhook is registered with ``setWebhook(url, secret_token)``; Zalo then sends
the secret in ``X-Bot-Api-Secret-Token``. ``getUpdates`` (long polling) works
only while no webhook is set. Text messages hold up to 2000 characters and
there are no buttons: options become a numbered list (``zalo_format``).
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Mapping
from typing import Any

import httpx

from helpline.channels.config import ZaloBotConfig
from helpline.channels.http import (
    json_body,
    make_client,
    raise_for_http_status,
    raise_for_transport,
    redact_secrets,
    retry_after_seconds,
    with_retries,
)
from helpline.channels.inbound import MEDIA_KINDS, Inbound, Location
from helpline.channels.keys import edge_id
from helpline.channels.messages import Progress, reply_from_message
from helpline.channels.store import ChannelStore, remember_choices
from helpline.channels.zalo_format import zalo_parts
from helpline.errors import SendFailed

logger = logging.getLogger(__name__)

CHANNEL = "zalobot"
SECRET_HEADER = "X-Bot-Api-Secret-Token"  # noqa: S105 - a header name
_KINDS = {
    "message.text.received": "text",
    "message.image.received": "image",
    "message.sticker.received": "sticker",
    "message.voice.received": "audio",
    "message.audio.received": "audio",
    "message.video.received": "video",
    "message.file.received": "file",
    "message.location.received": "location",
    # Not a file: Zalo sends this instead of the text when the sender is in a protected group
    # (a child, a person with a disability or who cannot read). They get their own reply.
    "message.unsupported.received": "protected",
}


def verify(config: ZaloBotConfig, header: str | None) -> bool:
    if not header:
        return False
    return hmac.compare_digest(header.encode("utf-8"), config.secret_token.encode("utf-8"))


def _updates(data: Any) -> list[dict[str, Any]]:
    """Webhook bodies come flat or wrapped in ``{"ok": true, "result": ...}``; getUpdates too."""
    if isinstance(data, dict) and "result" in data and "event_name" not in data:
        data = data["result"]
    if isinstance(data, dict):
        return [data]
    if isinstance(data, list):
        return [u for u in data if isinstance(u, dict)]
    raise ValueError("not a Zalo Bot update")


def parse_update(update: Mapping[str, Any]) -> Inbound:
    event = str(update.get("event_name") or "")
    message = update.get("message") if isinstance(update.get("message"), dict) else {}
    chat = message.get("chat") if isinstance(message.get("chat"), dict) else {}
    sender = str(chat.get("id") or (message.get("from") or {}).get("id") or "")
    msg_id = str(message.get("message_id") or f"{event}:{sender}:{message.get('date', '')}")
    kind = _KINDS.get(event, "unknown")
    if not sender or str(chat.get("chat_type", "PRIVATE")).upper() != "PRIVATE":
        kind = "unknown"  # group chats are not served: people in danger talk to us one to one
    location = None
    if kind == "location":
        raw = message.get("location") if isinstance(message.get("location"), dict) else {}
        location = Location.parse(raw.get("latitude"), raw.get("longitude"))
        kind = "location" if location else "unknown"
    url = next((message[k] for k in ("photo_url", "photo", "voice_url", "url")
                if isinstance(message.get(k), str) and message[k]), None) if kind in MEDIA_KINDS else None
    caption = message.get("caption")
    text = str(message.get("text") or (caption if kind == "text" and isinstance(caption, str) else "") or "")
    media = None
    if kind in MEDIA_KINDS and isinstance(caption, str) and caption.strip():
        # Someone may describe their situation under a photo: the caption is their message (normal turn).
        kind, text, media = "text", caption, _KINDS[event]
    return Inbound(CHANNEL, sender or "?", msg_id, kind, text=text, location=location, url=url, event=event,
                   media=media)


def parse(body: bytes) -> list[Inbound]:
    """Raises ValueError on a malformed body."""
    updates = _updates(json.loads(body))
    if not updates or any(not isinstance(u.get("event_name"), str) for u in updates):
        raise ValueError("not a Zalo Bot update")
    return [parse_update(u) for u in updates]


def request_bodies(chat_id: str, message: Mapping[str, Any]) -> tuple[list[dict[str, Any]], tuple[str, ...]]:
    reply = reply_from_message(message, CHANNEL)
    if reply.native is not None:
        return [{"chat_id": chat_id, **reply.native}], ()
    parts = zalo_parts(reply, native_buttons=False)
    choices = next((p.choices for p in parts if p.choices), ())
    return [{"chat_id": chat_id, "text": p.text} for p in parts], choices


def error_for(status: int, body: Mapping[str, Any], response: httpx.Response) -> SendFailed:
    code = body.get("error_code", status)
    try:
        code = int(code)
    except (TypeError, ValueError):
        code = status
    description = str(body.get("description") or "")[:120]
    if code == 429:
        return SendFailed(f"zalobot 429: rate limited {description}".strip(),
                          retry_after=retry_after_seconds(response) or 30.0)
    if code >= 500:
        return SendFailed(f"zalobot {code}: {description}")
    if code == 401:  # a revoked bot token needs an operator; keep the messages meanwhile
        return SendFailed("zalobot 401: bot token refused", retry_after=300.0)
    return SendFailed(f"zalobot {code}: {description}", permanent=True)


class ZaloBotApi:
    """The few Bot Platform methods we use, over one httpx client."""

    def __init__(self, config: ZaloBotConfig, client: httpx.AsyncClient | None = None) -> None:
        redact_secrets(config.secrets)
        self._config = config
        self._client = client or make_client(config.timeout)

    async def aclose(self) -> None:
        await self._client.aclose()

    async def call(self, method: str, params: Mapping[str, Any] | None = None, timeout: float | None = None) -> Any:
        url = f"{self._config.api_base}/bot{self._config.token}/{method}"
        try:
            response = await self._client.post(url, json=dict(params or {}),
                                               timeout=timeout if timeout is not None else httpx.USE_CLIENT_DEFAULT)
        except httpx.HTTPError as exc:
            raise_for_transport(f"zalobot {method}", exc)
        raise_for_http_status(f"zalobot {method}", response)
        body = json_body(response)
        if response.status_code != 200 or body.get("ok") is not True:
            raise error_for(response.status_code, body, response)
        return body.get("result")

    async def set_webhook(self, url: str) -> Any:
        return await self.call("setWebhook", {"url": url, "secret_token": self._config.secret_token})

    async def delete_webhook(self) -> Any:
        return await self.call("deleteWebhook")

    async def get_updates(self, timeout: int = 30) -> list[dict[str, Any]]:
        result = await self.call("getUpdates", {"timeout": str(timeout)}, timeout=timeout + 10)
        return _updates(result) if result else []


class ZaloBotSender:
    channel = CHANNEL

    def __init__(self, config: ZaloBotConfig, store: ChannelStore, client: httpx.AsyncClient | None = None) -> None:
        self.api = ZaloBotApi(config, client)
        self._store = store
        self._progress = Progress()

    async def aclose(self) -> None:
        await self.api.aclose()

    async def send(self, recipient_id: str, message: Mapping[str, Any]) -> None:
        bodies, choices = request_bodies(edge_id(CHANNEL, recipient_id), message)
        await self._progress.deliver(Progress.key(recipient_id, message), bodies,
                                     lambda body: with_retries(lambda: self.api.call("sendMessage", body)))
        if choices:
            await remember_choices(self._store, CHANNEL, recipient_id, choices)
