"""What every channel does around one Rasa turn, whatever the platform.

- Never silence: if the bot produced no text (action server down, paused
  conversation, any failure), the user still gets a reply that contains 111.
- Paused conversations: the user's message goes to their handoff ticket.
- Privacy commands from actions (forget this sender) run after the turn is saved.
- Events the bot cannot read (stickers, images, files, audio, video) get a polite
  answer with 111, or go to the ticket while staff have the conversation.
- A shared location goes to the person's open ticket; shared before a ticket
  exists, it is kept for an hour and attached when one opens.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from helpline import replies
from helpline.channels.store import ChannelStore
from helpline.handoff import HandoffStore
from helpline.privacy import command_name, is_command
from helpline.safety import detect
from helpline.settings import Settings
from helpline.text import mask_id

logger = logging.getLogger(__name__)


@lru_cache(maxsize=1)
def _handoff_store() -> HandoffStore:
    return HandoffStore.from_url(Settings.from_env().handoff_db_url)


@lru_cache(maxsize=1)
def _channel_store() -> ChannelStore:
    return ChannelStore.from_url(Settings.from_env().handoff_db_url)


LOCATION_MEMO = "location"
LOCATION_MEMO_AGE = dt.timedelta(hours=1)
MEDIA_NAMES = {"sticker": "nhãn dán", "image": "hình ảnh", "file": "tệp", "audio": "tin nhắn thoại",
               "video": "video"}


def _inner_store(store: Any) -> Any:
    """Unwrap Rasa's FailSafe/Awaitable tracker-store wrappers."""
    while hasattr(store, "_tracker_store"):
        store = store._tracker_store
    return store


async def forget_sender(agent: Any, sender_id: str) -> None:
    """Delete every stored event of one sender from the Rasa tracker store."""
    store = _inner_store(agent.tracker_store)
    if hasattr(store, "session_scope") and hasattr(store, "SQLEvent"):
        def _delete() -> int:
            with store.session_scope() as session:
                deleted = session.query(store.SQLEvent).filter(store.SQLEvent.sender_id == sender_id).delete()
                session.commit()
                return int(deleted)

        count = await asyncio.to_thread(_delete)
    elif hasattr(store, "store") and isinstance(store.store, dict):
        count = 1 if store.store.pop(sender_id, None) is not None else 0
    else:
        await store.delete(sender_id) if hasattr(store, "delete") else None
        count = -1
    logger.info("forgot sender %s (%d tracker rows)", mask_id(sender_id), count)
    try:
        await asyncio.to_thread(_channel_store().delete_recipient, sender_id)
    except Exception:
        logger.exception("could not delete the channel data of %s", mask_id(sender_id))


async def _is_paused(agent: Any, sender_id: str) -> bool:
    try:
        tracker = await agent.tracker_store.retrieve(sender_id)
    except Exception:
        logger.exception("could not read the tracker of %s", mask_id(sender_id))
        return False
    return bool(tracker and tracker.is_paused())


async def _route_to_ticket(channel: str, sender_id: str, text: str) -> bool:
    def _append() -> bool:
        store = _handoff_store()
        ticket = store.open_ticket_for(channel, sender_id)
        if ticket is None:
            return False
        store.add_message(ticket.id, "user", text)
        return True

    try:
        return await asyncio.to_thread(_append)
    except Exception:
        logger.exception("could not add a message to the ticket of %s", mask_id(sender_id))
        return False


async def finish_turn(
    agent: Any, channel: str, sender_id: str, text: str, messages: list[dict[str, Any]], failed: bool = False
) -> list[dict[str, Any]]:
    """Post-process the bot's messages for one user message; never returns an empty list."""
    commands = [command_name(m) for m in messages if is_command(m)]
    out = [m for m in messages if not is_command(m)]
    if "forget_sender" in commands and agent is not None:
        try:
            await forget_sender(agent, sender_id)
        except Exception:
            logger.exception("could not delete the tracker of %s", mask_id(sender_id))
    if any(m.get("text") for m in out):
        return out
    if not failed and agent is not None and await _is_paused(agent, sender_id):
        await _route_to_ticket(channel, sender_id, text)
        return [*out, {"recipient_id": sender_id, "text": replies.WAITING_FOR_STAFF}]
    risk = detect(text)
    fallback = replies.EMERGENCY_REPLY if risk.is_emergency else replies.SERVICE_FALLBACK
    logger.warning("no bot reply for %s; sent the fallback", mask_id(sender_id))
    return [*out, {"recipient_id": sender_id, "text": fallback}]


def _reply(sender_id: str, text: str, buttons: list[dict[str, str]] | None = None) -> dict[str, Any]:
    message: dict[str, Any] = {"recipient_id": sender_id, "text": text}
    if buttons:
        message["buttons"] = buttons
    return message


async def media_turn(agent: Any, channel: str, sender_id: str, kind: str, url: str | None = None
                     ) -> list[dict[str, Any]]:
    """Answer an event the bot cannot read; staff get it on the ticket while the bot is paused."""
    if agent is not None and await _is_paused(agent, sender_id):
        note = f"[Người dùng gửi {MEDIA_NAMES.get(kind, 'tệp')}]" + (f" {url}" if url else "")
        if await _route_to_ticket(channel, sender_id, note):
            return [_reply(sender_id, replies.WAITING_FOR_STAFF)]
    return [_reply(sender_id, replies.NON_TEXT_REPLY)]


def _location_line(location: Mapping[str, Any]) -> str:
    return f"[Vị trí người dùng chia sẻ: {location['latitude']}, {location['longitude']}] {location.get('map_url', '')}"


async def _attach(channel: str, sender_id: str, location: Mapping[str, Any]) -> bool:
    def _do() -> bool:
        store = _handoff_store()
        ticket = store.open_ticket_for(channel, sender_id)
        if ticket is None or not store.set_location(ticket.id, location):
            return False
        store.add_message(ticket.id, "user", _location_line(location))
        return True

    try:
        return await asyncio.to_thread(_do)
    except Exception:
        logger.exception("could not attach a location to the ticket of %s", mask_id(sender_id))
        return False


async def location_turn(channel: str, sender_id: str, location: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A shared location: on the open ticket at once, or kept until a ticket opens (one hour)."""
    if await _attach(channel, sender_id, location):
        logger.info("attached a shared location to the ticket of %s", mask_id(sender_id))
        return [_reply(sender_id, replies.LOCATION_ATTACHED)]
    try:
        await asyncio.to_thread(_channel_store().remember, channel, sender_id, LOCATION_MEMO, dict(location))
    except Exception:
        logger.exception("could not keep the shared location of %s", mask_id(sender_id))
    button = {"title": replies.ASK_HUMAN_BUTTON, "payload": "/ask_human"}
    return [_reply(sender_id, replies.LOCATION_NO_TICKET, [button])]


async def attach_pending_location(channel: str, sender_id: str) -> None:
    """After a turn: if a ticket is open now and a location was shared shortly before, attach it."""
    try:
        store = _channel_store()
        location = await asyncio.to_thread(store.recall, channel, sender_id, LOCATION_MEMO, LOCATION_MEMO_AGE)
        if location and await _attach(channel, sender_id, location):
            await asyncio.to_thread(store.forget, channel, sender_id, LOCATION_MEMO)
            logger.info("attached an earlier shared location to the new ticket of %s", mask_id(sender_id))
    except Exception:
        logger.exception("could not check for a pending location of %s", mask_id(sender_id))
