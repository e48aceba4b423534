"""What every channel does around one Rasa turn, whatever the platform.

- Never silence: if the bot produced no text (action server down, paused
  conversation, any failure), the user still gets a reply that contains 111.
- The waiting-ticket model (:mod:`helpline.handoff.waiting`): while the person's ticket waits for
  staff, the bot answers as usual, every reply carries 111, and the message and the replies go on
  the ticket; once a staff member holds the ticket, the message goes only to the ticket and the
  bot stays silent (except a short 113 line for danger now). A ticket opened in a turn gets the
  safety question; its answer (a button, a number or a few words) is handled here, never by Rasa.
- Paused conversations (tickets from before the waiting model): the message goes to the ticket.
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
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from helpline import replies
from helpline.channels.keys import channel_of
from helpline.channels.outbox import Outbox
from helpline.channels.payloads import OFFERED_AGE, OFFERED_MEMO, merge_offered, offered_in, screen
from helpline.channels.store import ChannelStore
from helpline.handoff import HandoffStore
from helpline.handoff.spool import TicketRequest, TicketSpool, open_or_spool
from helpline.handoff.waiting import (
    SAFETY_PAYLOADS,
    TICKET_COMMAND,
    OpenTicket,
    TurnRecord,
    ticket_text,
    typed_safety_answer,
    with_111,
)
from helpline.privacy import command_name, is_command
from helpline.safety import Risk, RiskLevel, detect
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


async def handed_to_staff(agent: Any, channel: str, sender_id: str) -> bool:
    """Whether the person has an open ticket (waiting or with staff), or a tracker paused by the old model."""
    if (await look_up(channel, sender_id)).ticket is not None:
        return True
    return agent is not None and await _is_paused(agent, sender_id)


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


@dataclass(frozen=True)
class Before:
    """The person's open ticket as read before the turn; ``known`` is False if the store could not be read."""

    ticket: OpenTicket | None = None
    known: bool = False


async def look_up(channel: str, sender_id: str) -> Before:
    try:
        return Before(await asyncio.to_thread(_handoff_store().open_ticket_state, channel, sender_id), True)
    except Exception:
        logger.exception("could not look up the ticket of %s", mask_id(sender_id))
        return Before()


BUTTON_TITLES_MEMO = "button_titles"


async def user_line(channel: str, sender_id: str, text: str) -> str:
    """What the ticket shows for a message: a button press as its title, never the raw payload."""
    if not text.strip().startswith("/"):
        return text
    try:
        titles = await asyncio.to_thread(_channel_store().recall, channel, sender_id, BUTTON_TITLES_MEMO, OFFERED_AGE)
    except Exception:
        logger.exception("could not read the button titles of %s", mask_id(sender_id))
        titles = None
    title = titles.get(text.strip()) if isinstance(titles, dict) else None
    return replies.BUTTON_PRESSED.format(title=title or "?")


async def _record(channel: str, sender_id: str, user: list[tuple[str, str]], bot: list[str],
                  question: str | None = None, force_bot: bool = False) -> TurnRecord | None:
    try:
        return await asyncio.to_thread(_handoff_store().record_turn, channel, sender_id, user, bot, question, force_bot)
    except Exception:
        logger.exception("could not record a turn on the ticket of %s", mask_id(sender_id))
        return None


async def before_turn(channel: str, sender_id: str, text: str, note: str) -> tuple[list[dict[str, Any]] | None, Before]:
    """Before the bot sees a message: handled here (a list of replies, maybe empty) or None (the bot's turn).

    Handled here: an answer to the safety question, and any message while a staff member holds the
    ticket (it goes to the ticket; the bot says nothing unless the message reads as danger now).
    """
    before = await look_up(channel, sender_id)
    ticket = before.ticket
    answer = SAFETY_PAYLOADS.get(text.strip())
    if answer is None and ticket is not None and ticket.safety_pending:
        answer = typed_safety_answer(text)
        if answer is None:
            try:
                await asyncio.to_thread(_handoff_store().lapse_safety, ticket.ticket_id)
            except Exception:
                logger.exception("could not lapse the safety question of %s", mask_id(sender_id))
    if answer is not None:
        return await _safety_answer(channel, sender_id, ticket, answer, text), before
    if ticket is None or ticket.waiting:
        return None, before
    line = await user_line(channel, sender_id, note)
    danger = detect(text).level is RiskLevel.IMMEDIATE
    said = [replies.DANGER_WITH_STAFF] if danger else []
    if await _record(channel, sender_id, [("user", line)], said, force_bot=danger) is None:
        # The ticket closed meanwhile (or the store failed): the bot takes the message after all.
        return None, Before(None, before.known)
    return [_reply(sender_id, t) for t in said], before


async def _safety_answer(channel: str, sender_id: str, ticket: OpenTicket | None, answer: str, text: str
                         ) -> list[dict[str, Any]]:
    """Record the answer to the safety question (it raises the priority) and acknowledge it while the bot may speak."""
    if ticket is None:
        return [_reply(sender_id, replies.EMERGENCY_REPLY if answer == "unsafe" else replies.SAFETY_ACK_NO_TICKET)]
    ack = replies.SAFETY_ACK[answer] if ticket.waiting else None
    line = await user_line(channel, sender_id, text)
    try:
        priority = await asyncio.to_thread(_handoff_store().answer_safety, ticket.ticket_id, answer, line, ack)
        logger.info("ticket %d: safety answer %s, priority %s", ticket.ticket_id, answer, priority)
    except Exception:
        logger.exception("could not record the safety answer of %s", mask_id(sender_id))
        ack = ack or replies.WAITING_FOR_STAFF
    return [_reply(sender_id, ack)] if ack else []


def _safety_message(sender_id: str) -> dict[str, Any]:
    return _reply(sender_id, replies.SAFETY_QUESTION,
                  [{"title": title, "payload": payload} for title, payload in replies.SAFETY_OPTIONS])


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

    titles = {str(b["payload"]).strip(): str(b["title"]) for m in messages for b in m.get("buttons") or ()
              if isinstance(b, dict) and b.get("title") and isinstance(b.get("payload"), str)}

    def _do() -> None:
        store = _channel_store()
        earlier = store.recall(channel, sender_id, OFFERED_MEMO, OFFERED_AGE)
        kept = merge_offered(earlier, new)
        store.remember(channel, sender_id, OFFERED_MEMO, kept)
        # The titles, so a ticket shows which button was pressed (only those still offered are kept).
        known = store.recall(channel, sender_id, BUTTON_TITLES_MEMO, OFFERED_AGE)
        merged = {**(known if isinstance(known, dict) else {}), **titles}
        store.remember(channel, sender_id, BUTTON_TITLES_MEMO, {p: merged[p] for p in kept if p in merged})

    try:
        await asyncio.to_thread(_do)
    except Exception:  # the buttons still go out; a tap on one is then read as text
        logger.exception("could not remember the buttons offered to %s", mask_id(sender_id))


@lru_cache(maxsize=1)
def _turn_timeout() -> float:
    return max(1.0, Settings.from_env().turn_timeout_seconds)


async def finish_turn(
    agent: Any, channel: str, sender_id: str, text: str, messages: list[dict[str, Any]], failed: bool = False,
    before: Before | None = None,
) -> list[dict[str, Any]]:
    """Post-process the bot's messages for one user message.

    ``before`` is the person's ticket as read before the turn (:func:`before_turn`; read here if
    not given). Returns an empty list only when a staff member took the ticket during the turn:
    the bot's reply is then dropped (the person's message is on the ticket for them).
    """
    if before is None:
        before = await look_up(channel, sender_id)
    commands = [command_name(m) for m in messages if is_command(m)]
    out: list[dict[str, Any]] = []
    recorded: int | None = None  # the bot messages before an action's ticket command are on the ticket
    for message in messages:
        if command_name(message) == TICKET_COMMAND:
            recorded = len(out)
        elif not is_command(message):
            out.append(message)
    if "forget_sender" in commands and agent is not None:
        try:
            await forget_sender(agent, sender_id)
        except Exception:
            logger.exception("could not delete the tracker of %s", mask_id(sender_id))
    if any(m.get("text") for m in out):
        if recorded is not None or before.ticket is not None:
            out = with_111(out, replies.WAITING_111_LINE)
            # After an action's ticket command the message is on the ticket, but not the media it came with.
            noted = recorded is not None and not text.startswith(tuple(f"{t} " for t in MEDIA_TAGS.values()))
            user = [] if noted else [("user", await user_line(channel, sender_id, text))]
            bot = [ticket_text(str(m.get("text") or ""), m.get("buttons") or ()) for m in out[recorded or 0:]]
            question = replies.SAFETY_QUESTION if recorded is not None else None
            record = await _record(channel, sender_id, [u for u in user if u[1]], bot, question,
                                   force_bot=recorded is not None)
            if record is not None and record.with_staff:
                logger.info("a staff member took the ticket of %s during the turn; the bot's reply is dropped",
                            mask_id(sender_id))
                return []
            if record is not None and record.safety_asked:
                out.append(_safety_message(sender_id))
        elif not before.known and text:
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
        # What action_emergency would have done: the hotlines at once and a waiting ticket.
        opened = await _fallback_ticket(channel, sender_id, text, risk)
        after = f"{replies.STAFF_JOINING}\n\n{replies.DELETE_CHAT_TIP}" if opened else replies.STAFF_UNAVAILABLE
        return [*out, _reply(sender_id, replies.EMERGENCY_REPLY), _reply(sender_id, after)]
    if text and await _route_to_ticket(channel, sender_id, text):
        return [*out, _reply(sender_id, replies.WAITING_FOR_STAFF)]
    return [*out, _reply(sender_id, replies.SERVICE_FALLBACK)]


async def _fallback_ticket(channel: str, sender_id: str, text: str, risk: Risk) -> bool:
    """Open a ticket for a message that looks like danger when the bot failed; spooled if the database is down."""
    after = f"{replies.STAFF_JOINING}\n\n{replies.DELETE_CHAT_TIP}"
    request = TicketRequest(channel, sender_id, risk.level.value, (*risk.reasons, "bot_unavailable"),
                            (("user", text), ("bot", replies.EMERGENCY_REPLY), ("bot", after)))
    try:
        ticket = await asyncio.to_thread(open_or_spool, _handoff_store(), _spool(), request)
    except Exception:
        logger.exception("could not open or spool a ticket for %s", mask_id(sender_id))
        return False
    if ticket is None:
        return False
    logger.warning("ticket %d opened by the channel for %s: the bot could not answer", ticket.id,
                   mask_id(sender_id))
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
    """Answer an event the bot cannot read; on an open ticket, staff see that it came (and the reply)."""
    note = f"[Người dùng gửi {MEDIA_NAMES.get(kind, 'tệp')}]" + (f" {url}" if url else "")
    before = await look_up(channel, sender_id)
    if before.ticket is not None:
        with_staff = not before.ticket.waiting
        record = await _record(channel, sender_id, [("user", note)], [] if with_staff else [replies.NON_TEXT_REPLY])
        if record is not None:
            return [] if record.with_staff else [_reply(sender_id, replies.NON_TEXT_REPLY)]
    if agent is not None and await _is_paused(agent, sender_id):
        if await _route_to_ticket(channel, sender_id, note):
            return [_reply(sender_id, replies.WAITING_FOR_STAFF)]
    return [_reply(sender_id, replies.NON_TEXT_REPLY)]


async def protected_turn(channel: str, sender_id: str) -> list[dict[str, Any]]:
    """The platform hid a protected-group person's message: their own simple reply, a note for staff, a count."""
    logger.warning("%s: message from %s hidden by the platform (protected group); sent the protected reply",
                   channel, mask_id(sender_id))
    try:
        await asyncio.to_thread(_handoff_store().audit, "channel", PROTECTED_AUDIT.format(channel=channel))
    except Exception:
        logger.exception("could not count a protected-group message from %s", mask_id(sender_id))
    # On an open ticket, staff see the note and the reply the person got.
    await _record(channel, sender_id, [("user", PROTECTED_NOTE)], [replies.PROTECTED_USER_REPLY], force_bot=True)
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
        store.add_message(ticket.id, "bot", replies.LOCATION_ATTACHED)
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
