"""What every channel does around one Rasa turn, whatever the platform.

- Never silence: if the bot produced no text (action server down, paused
  conversation, any failure), the user still gets a reply that contains 111.
- Paused conversations: the user's message goes to their handoff ticket.
- Privacy commands from actions (forget this sender) run after the turn is saved.
- Events the bot cannot read (stickers, images, files, audio, video) get a polite
  answer with 111, or go to the ticket while staff have the conversation.
- A message the platform hid because its sender is in a protected group (a child, a person with a
  disability or who cannot read) gets its own simple reply with 111 and 113, and is counted.
- A caption is the message text (a normal turn); the ticket line notes the media (``[ảnh] …``).
- A shared location goes to the person's open ticket; shared before a ticket
  exists, it is kept for an hour and attached when one opens.
- ``sender_id`` everywhere here is the conversation key (``telegram:123``, see
  :mod:`helpline.channels.keys`): the Rasa sender id and the key of tickets, outbox and memos.
- A message starting with ``/`` reaches Rasa as a payload only if the bot offered it as a
  button in this conversation (:mod:`helpline.channels.payloads`); otherwise it is text.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Awaitable, Callable, Mapping
from functools import lru_cache
from typing import Any

from helpline import replies
from helpline.channels.keys import channel_of
from helpline.channels.outbox import Outbox
from helpline.channels.payloads import OFFERED_AGE, OFFERED_MEMO, merge_offered, offered_in, screen
from helpline.channels.store import ChannelStore
from helpline.handoff import HandoffStore
from helpline.handoff.spool import TicketRequest, TicketSpool, open_or_spool
from helpline.privacy import command_name, is_command
from helpline.safety import Risk, detect
from helpline.settings import Settings
from helpline.text import mask_id

logger = logging.getLogger(__name__)


@lru_cache(maxsize=1)
def _handoff_store() -> HandoffStore:
    return HandoffStore.from_url(Settings.from_env().handoff_db_url)


@lru_cache(maxsize=1)
def _channel_store() -> ChannelStore:
    return ChannelStore.from_url(Settings.from_env().handoff_db_url)


@lru_cache(maxsize=1)
def shared_outbox() -> Outbox:
    """This process's outbox (one connection pool), for the turn code and the REST mailbox."""
    return Outbox.from_url(Settings.from_env().handoff_db_url)


@lru_cache(maxsize=1)
def _spool() -> TicketSpool:
    return TicketSpool.in_data_dir(Settings.from_env().data_dir)


# A caption is the person's message; the ticket shows what it came with.
MEDIA_TAGS = {"image": "[ảnh]", "video": "[video]", "file": "[tệp]", "audio": "[tin nhắn thoại]",
              "sticker": "[nhãn dán]", "link": "[liên kết]"}
PROTECTED_NOTE = ("[Zalo ẩn nội dung tin nhắn: người gửi thuộc nhóm được bảo vệ (trẻ em, người khuyết tật, "
                  "người không đọc được chữ)]")
PROTECTED_AUDIT = "protected_user channel={channel}"  # one audit_log row per event, no key: staff statistics


def media_note(media: str | None, text: str, url: str | None = None) -> str:
    """The ticket line for a text that came as a caption (``[ảnh] … <link>``), or the text itself."""
    if not media:
        return text
    return f"{MEDIA_TAGS.get(media, '[tệp]')} {text}" + (f"\n{url}" if url else "")


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
    """Delete every stored event of one conversation (its key) from the Rasa tracker store, and its channel data."""
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
    # Everything else kept under this conversation's key, on its own channel only: the dedupe journal,
    # button and location memos, and queued or delivered messages (this turn's own reply is queued afterwards).
    channel = channel_of(sender_id)
    if channel is None:
        logger.error("not a conversation key, channel data kept: %s", mask_id(sender_id))
        return
    try:
        await asyncio.to_thread(_channel_store().delete_recipient, sender_id)
        await asyncio.to_thread(shared_outbox().delete_recipient, channel, sender_id)
    except Exception:
        logger.exception("could not delete the channel data of %s", mask_id(sender_id))


async def is_paused(agent: Any, sender_id: str) -> bool:
    """Whether the bot is paused for this conversation (staff have it); False if the tracker cannot be read."""
    return await _is_paused(agent, sender_id)


async def ticket_note(channel: str, sender_id: str, text: str) -> bool:
    """Add a line to the person's open ticket (a channel event staff should see); False if none is open."""
    return await _route_to_ticket(channel, sender_id, text)


async def _is_paused(agent: Any, sender_id: str) -> bool:
    try:
        tracker = await agent.tracker_store.retrieve(sender_id)
    except Exception:
        logger.exception("could not read the tracker of %s", mask_id(sender_id))
        return False
    return bool(tracker and tracker.is_paused())


async def _route_to_ticket(channel: str, sender_id: str, text: str) -> bool:
    """Put the person's text on their open ticket; False if they have none (or the store failed)."""
    try:
        return await asyncio.to_thread(_handoff_store().add_user_message, channel, sender_id, text) is not None
    except Exception:
        logger.exception("could not add a message to the ticket of %s", mask_id(sender_id))
        return False


async def run_turn(on_new_message: Callable[[Any], Awaitable[Any]], message: Any, channel: str, sender_id: str
                   ) -> bool:
    """Hand one message to the bot; False if it failed or took too long (the caller sends the fallback).

    Rasa waits up to five minutes for an action server that hangs; a person must not.
    """
    try:
        await asyncio.wait_for(on_new_message(message), timeout=_turn_timeout())
    except asyncio.TimeoutError:
        logger.error("%s: the bot took too long for %s; sending the fallback", channel, mask_id(sender_id))
        return False
    except Exception:
        logger.exception("%s: the bot failed on a message from %s", channel, mask_id(sender_id))
        return False
    return True


async def screen_payload(channel: str, sender_id: str, text: str) -> str:
    """The text to give Rasa: a ``/payload`` only if the bot offered it to this conversation, else plain text."""
    if not text.strip().startswith("/"):
        return text
    try:
        offered = await asyncio.to_thread(_channel_store().recall, channel, sender_id, OFFERED_MEMO, OFFERED_AGE)
    except Exception:
        logger.exception("could not read the offered buttons of %s; the payload is read as text", mask_id(sender_id))
        offered = None
    out, refused = screen(text, offered)
    if refused:
        logger.warning("%s: %s sent a payload the bot did not offer; read as text", channel, mask_id(sender_id))
    return out


async def remember_offered(channel: str, sender_id: str, messages: list[dict[str, Any]]) -> None:
    """Keep the button payloads sent to this conversation, so a tap on one is accepted."""
    new = offered_in(messages)
    if not new:
        return

    def _do() -> None:
        store = _channel_store()
        earlier = store.recall(channel, sender_id, OFFERED_MEMO, OFFERED_AGE)
        store.remember(channel, sender_id, OFFERED_MEMO, merge_offered(earlier, new))

    try:
        await asyncio.to_thread(_do)
    except Exception:  # the buttons still go out; a tap on one is then read as text
        logger.exception("could not remember the buttons offered to %s", mask_id(sender_id))


@lru_cache(maxsize=1)
def _turn_timeout() -> float:
    return max(1.0, Settings.from_env().turn_timeout_seconds)


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
        # While a ticket is open, staff see everything the person writes, paused or not (a session
        # that expired after an hour unpauses the bot; a ticket opened late may not be paused).
        if text:
            await _route_to_ticket(channel, sender_id, text)
        await remember_offered(channel, sender_id, out)
        return out
    if not failed and agent is not None and await _is_paused(agent, sender_id):
        await _route_to_ticket(channel, sender_id, text)
        return [*out, {"recipient_id": sender_id, "text": replies.WAITING_FOR_STAFF}]
    # The bot could not answer: action server, tracker or lock store down, or a bug.
    logger.warning("no bot reply for %s; sent the fallback", mask_id(sender_id))
    risk = detect(text)
    if risk.is_emergency:
        # What action_emergency would have done: the hotlines at once, a ticket, the bot paused.
        opened = await _fallback_ticket(agent, channel, sender_id, text, risk)
        after = f"{replies.STAFF_JOINING}\n\n{replies.DELETE_CHAT_TIP}" if opened else replies.STAFF_UNAVAILABLE
        return [*out, _reply(sender_id, replies.EMERGENCY_REPLY), _reply(sender_id, after)]
    if text and await _route_to_ticket(channel, sender_id, text):
        return [*out, _reply(sender_id, replies.WAITING_FOR_STAFF)]
    return [*out, _reply(sender_id, replies.SERVICE_FALLBACK)]


async def _pause(agent: Any, sender_id: str) -> None:
    """Pause the bot for this person, as action_emergency does (best effort: the tracker store may be down)."""
    from rasa.shared.core.events import ConversationPaused

    try:
        tracker = await agent.tracker_store.get_or_create_tracker(sender_id)
        tracker.update(ConversationPaused())
        await agent.tracker_store.save(tracker)
    except Exception:
        logger.exception("could not pause the conversation of %s", mask_id(sender_id))


async def _fallback_ticket(agent: Any, channel: str, sender_id: str, text: str, risk: Risk) -> bool:
    """Open a ticket for a message that looks like danger when the bot failed; spooled if the database is down."""
    request = TicketRequest(channel, sender_id, risk.level.value, (*risk.reasons, "bot_unavailable"),
                            (("user", text),))
    try:
        ticket = await asyncio.to_thread(open_or_spool, _handoff_store(), _spool(), request)
    except Exception:
        logger.exception("could not open or spool a ticket for %s", mask_id(sender_id))
        return False
    if ticket is None:
        return False
    logger.warning("ticket %d opened by the channel for %s: the bot could not answer", ticket.id,
                   mask_id(sender_id))
    if agent is not None:
        await _pause(agent, sender_id)
    return True


async def limited_turn(channel: str, sender_id: str, text: str, notify: bool = True) -> list[dict[str, Any]]:
    """A message over its sender's rate limit: it skips the bot, but is never dropped silently.

    On an open ticket it goes to staff; otherwise the person is told to slow down, with 113 and
    111. ``notify=False`` (push channels, already told within the last minute) sends nothing.
    """
    logger.warning("%s: %s is over the message rate limit", channel, mask_id(sender_id))
    on_ticket = bool(text) and await _route_to_ticket(channel, sender_id, text)
    if not notify:
        return []
    return [_reply(sender_id, replies.WAITING_FOR_STAFF if on_ticket else replies.RATE_LIMITED)]


def _reply(sender_id: str, text: str, buttons: list[dict[str, str]] | None = None) -> dict[str, Any]:
    message: dict[str, Any] = {"recipient_id": sender_id, "text": text}
    if buttons:
        message["buttons"] = buttons
    return message


async def media_turn(agent: Any, channel: str, sender_id: str, kind: str, url: str | None = None
                     ) -> list[dict[str, Any]]:
    """Answer an event the bot cannot read; staff get it on the ticket while the bot is paused."""
    note = f"[Người dùng gửi {MEDIA_NAMES.get(kind, 'tệp')}]" + (f" {url}" if url else "")
    if agent is not None and await _is_paused(agent, sender_id):
        if await _route_to_ticket(channel, sender_id, note):
            return [_reply(sender_id, replies.WAITING_FOR_STAFF)]
    elif kind == "audio":  # a voice message may say what they could not type: staff see it came
        await _route_to_ticket(channel, sender_id, note)
    return [_reply(sender_id, replies.NON_TEXT_REPLY)]


async def protected_turn(channel: str, sender_id: str) -> list[dict[str, Any]]:
    """The platform hid a protected-group person's message: their own simple reply, a note for staff, a count."""
    logger.warning("%s: message from %s hidden by the platform (protected group); sent the protected reply",
                   channel, mask_id(sender_id))
    try:
        await asyncio.to_thread(_handoff_store().audit, "channel", PROTECTED_AUDIT.format(channel=channel))
    except Exception:
        logger.exception("could not count a protected-group message from %s", mask_id(sender_id))
    await _route_to_ticket(channel, sender_id, PROTECTED_NOTE)
    return [_reply(sender_id, replies.PROTECTED_USER_REPLY)]


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
    out = [_reply(sender_id, replies.LOCATION_NO_TICKET, [button])]
    await remember_offered(channel, sender_id, out)
    return out


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
