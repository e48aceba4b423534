"""Telegram: webhook secret, update parsing, reply mapping, and a python-telegram-bot sender.

``setWebhook(url, secret_token=…)`` makes Telegram send the secret in
``X-Telegram-Bot-Api-Secret-Token``. Parsing and mapping work on the Bot API's
JSON so they run anywhere; only :class:`TelegramSender` needs python-telegram-bot
(installed in the Rasa environment), imported when a sender is built.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hmac
import json
import logging
from collections.abc import Mapping
from typing import Any

from helpline.channels.config import TelegramConfig
from helpline.channels.http import redact_secrets, with_retries
from helpline.channels.inbound import MEDIA_KINDS, Inbound, Location
from helpline.channels.keys import edge_id
from helpline.channels.messages import Progress, reply_from_message
from helpline.channels.store import ChannelStore
from helpline.errors import SendFailed
from helpline.text import split_message

logger = logging.getLogger(__name__)

CHANNEL = "telegram"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 - a header name
TEXT_LIMIT = 4096
CALLBACK_DATA_BYTES = 64
ALLOWED_UPDATES = ("message", "callback_query")


def verify(config: TelegramConfig, header: str | None) -> bool:
    if not header:
        return False
    return hmac.compare_digest(header.encode("utf-8"), config.secret_token.encode("utf-8"))


def _message_kind(message: Mapping[str, Any]) -> tuple[str, Location | None]:
    if message.get("text"):
        return "text", None
    loc = message.get("location") or (message.get("venue") or {}).get("location")
    if isinstance(loc, dict):
        location = Location.parse(loc.get("latitude"), loc.get("longitude"))
        return ("location", location) if location else ("unknown", None)
    for key, kind in (("sticker", "sticker"), ("photo", "image"), ("animation", "image"), ("document", "file"),
                      ("voice", "audio"), ("audio", "audio"), ("video", "video"), ("video_note", "video"),
                      ("contact", "file")):
        if message.get(key):
            return kind, None
    return "unknown", None


def parse_update(update: Mapping[str, Any]) -> Inbound:
    update_id = update.get("update_id")
    message_id = f"u{update_id}"  # unique per bot; a redelivered update keeps its id
    query = update.get("callback_query")
    if isinstance(query, dict):
        chat = ((query.get("message") or {}).get("chat") or query.get("from") or {})
        sender = str(chat.get("id") or "")
        return Inbound(CHANNEL, sender or "?", message_id, "postback" if sender else "unknown",
                       payload=str(query.get("data") or ""), event="callback_query",
                       extra={"callback_query_id": str(query.get("id") or "")})
    message = update.get("message")
    if not isinstance(message, dict):
        return Inbound(CHANNEL, "?", message_id, "unknown", event="other")
    chat = message.get("chat") or {}
    sender = str(chat.get("id") or "")
    if chat.get("type") != "private" or not sender:
        return Inbound(CHANNEL, sender or "?", message_id, "unknown", event="group")
    kind, location = _message_kind(message)
    caption = message.get("caption")  # Bot API: on animation, audio, document, photo, video and voice
    if kind in MEDIA_KINDS and isinstance(caption, str) and caption.strip():
        # Someone may describe their situation under a photo: the caption is their message (normal turn).
        return Inbound(CHANNEL, sender, message_id, "text", text=caption, event="message", media=kind)
    return Inbound(CHANNEL, sender, message_id, kind, text=str(message.get("text") or ""), location=location,
                   event="message")


def parse(body: bytes) -> list[Inbound]:
    """Raises ValueError on a malformed body."""
    data = json.loads(body)
    if not isinstance(data, dict) or "update_id" not in data:
        raise ValueError("not a Telegram update")
    return [parse_update(data)]


def callback_data(payload: str, store: ChannelStore | None) -> str:
    """Payloads over Telegram's 64-byte limit travel as a short key kept in the store."""
    if len(payload.encode("utf-8")) <= CALLBACK_DATA_BYTES and not payload.startswith("k:"):
        return payload
    if store is None:
        raise ValueError("a long button payload needs the channel store")
    return store.payload_key(payload)


def requests_for(chat_id: str, message: Mapping[str, Any], store: ChannelStore | None = None
                 ) -> list[tuple[str, dict[str, Any]]]:
    """Bot API calls ``(method, params)`` for one bot/staff message, in order."""
    reply = reply_from_message(message, CHANNEL)
    if reply.native is not None:
        return [("sendMessage", {"chat_id": chat_id, **reply.native})]
    texts = split_message(reply.text, TEXT_LIMIT) if reply.text.strip() else []
    if reply.buttons and not texts:
        texts = ["…"]
    calls: list[tuple[str, dict[str, Any]]] = [("sendMessage", {"chat_id": chat_id, "text": t}) for t in texts]
    if reply.buttons:
        keyboard = [[{"text": b.title, "callback_data": callback_data(b.payload, store)}] for b in reply.buttons]
        calls[-1][1]["reply_markup"] = {"inline_keyboard": keyboard}
    if reply.image:
        calls.append(("sendPhoto", {"chat_id": chat_id, "photo": reply.image}))
    return calls


def error_for(exc: Exception) -> SendFailed:
    """python-telegram-bot's errors as SendFailed (most specific classes first)."""
    from telegram import error as tg

    name = type(exc).__name__
    if isinstance(exc, tg.RetryAfter):
        wait = getattr(exc, "_retry_after", None)
        seconds = wait.total_seconds() if isinstance(wait, dt.timedelta) else 30.0
        return SendFailed(f"telegram: flood control, retry in {seconds:.0f} s", retry_after=seconds)
    if isinstance(exc, tg.Forbidden):
        return SendFailed(f"telegram: forbidden ({exc.message[:100]})", permanent=True)
    if isinstance(exc, tg.InvalidToken):
        return SendFailed("telegram: bot token refused", retry_after=300.0)
    if isinstance(exc, (tg.BadRequest, tg.ChatMigrated)):
        return SendFailed(f"telegram: bad request ({str(exc)[:100]})", permanent=True)
    if isinstance(exc, tg.TimedOut):
        return SendFailed("telegram: timed out")
    return SendFailed(f"telegram: {name} ({str(exc)[:100]})")


class TelegramSender:
    """Sends through ``telegram.Bot`` (python-telegram-bot 22), base URL from ``TELEGRAM_API_BASE``."""

    channel = CHANNEL

    def __init__(self, config: TelegramConfig, store: ChannelStore) -> None:
        from telegram import Bot
        from telegram.request import HTTPXRequest

        redact_secrets(config.secrets)
        self._config = config
        self._store = store
        timeout = config.timeout
        request = HTTPXRequest(connect_timeout=min(timeout, 5.0), read_timeout=timeout, write_timeout=timeout,
                               pool_timeout=timeout)
        self.bot = Bot(config.token, base_url=f"{config.api_base}/bot", request=request,
                       get_updates_request=HTTPXRequest(read_timeout=40.0))
        self._ready = False
        self._progress = Progress()

    async def _initialized(self) -> Any:
        if not self._ready:
            try:
                await self.bot.initialize()
            except Exception as exc:
                raise error_for(exc) from None
            self._ready = True
        return self.bot

    async def aclose(self) -> None:
        if self._ready:
            self._ready = False
            await self.bot.shutdown()

    async def send(self, recipient_id: str, message: Mapping[str, Any]) -> None:
        calls = await asyncio.to_thread(requests_for, edge_id(CHANNEL, recipient_id), message, self._store)
        await self._progress.deliver(Progress.key(recipient_id, message), calls,
                                     lambda call: with_retries(lambda: self._call(*call)))

    async def _call(self, method: str, params: dict[str, Any]) -> None:
        from telegram import InlineKeyboardMarkup

        bot = await self._initialized()
        kwargs = dict(params)
        if isinstance(kwargs.get("reply_markup"), dict):
            kwargs["reply_markup"] = InlineKeyboardMarkup.de_json(kwargs["reply_markup"], bot)
        try:
            if method == "sendPhoto":
                await bot.send_photo(**kwargs)
            else:
                await bot.send_message(**kwargs)
        except Exception as exc:
            raise error_for(exc) from None

    async def answer_callback(self, query_id: str) -> None:
        """Stop the button's spinner; best effort, the reply itself goes through the outbox."""
        try:
            bot = await self._initialized()
            await bot.answer_callback_query(query_id)
        except Exception as exc:
            logger.info("could not answer a Telegram callback query: %s", type(exc).__name__)

    async def set_webhook(self, url: str) -> bool:
        bot = await self._initialized()
        return bool(await bot.set_webhook(url, secret_token=self._config.secret_token,
                                          allowed_updates=list(ALLOWED_UPDATES)))

    async def get_updates(self, offset: int | None, timeout: int = 30) -> list[dict[str, Any]]:
        """Long polling for development (fails while a webhook is set: Telegram allows one or the other)."""
        bot = await self._initialized()
        updates = await bot.get_updates(offset=offset, timeout=timeout, allowed_updates=list(ALLOWED_UPDATES))
        return [u.to_dict() for u in updates]

    async def delete_webhook(self) -> bool:
        bot = await self._initialized()
        return bool(await bot.delete_webhook())
