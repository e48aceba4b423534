"""action_handoff: open a waiting ticket for hotline staff (the bot keeps answering until staff claim it)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.services import get_services
from helpline import replies
from helpline.channels.keys import channel_of
from helpline.errors import HandoffError
from helpline.handoff import Ticket
from helpline.handoff.spool import TicketRequest
from helpline.handoff.waiting import TICKET_COMMAND, ticket_text
from helpline.text import mask_id

logger = logging.getLogger(__name__)
TRANSCRIPT_TURNS = 10


def recent_messages(tracker: Tracker, limit: int = TRANSCRIPT_TURNS) -> list[tuple[str, str]]:
    """The last user and bot texts of the conversation, oldest first; a button press shows its title."""
    out: list[tuple[str, str]] = []
    titles: dict[str, str] = {}
    for event in tracker.events:
        kind = event.get("event")
        text = str(event.get("text") or "")
        buttons = (event.get("data") or {}).get("buttons") or () if kind == "bot" else ()
        for button in buttons:
            if isinstance(button, dict) and button.get("payload") and button.get("title"):
                titles[str(button["payload"]).strip()] = str(button["title"])
        if kind == "user" and text.strip() in titles:
            out.append(("user", replies.BUTTON_PRESSED.format(title=titles[text.strip()])))
        elif kind in ("user", "bot") and text:
            out.append(("user" if kind == "user" else "bot", ticket_text(text, buttons)))
    return out[-limit:]


def mark_ticket_turn(dispatcher: CollectingDispatcher, ticket_id: int) -> None:
    """Tell the channel layer this turn is on the ticket up to here (it records the rest, asks the safety check)."""
    dispatcher.utter_message(json_message={"helpline_command": TICKET_COMMAND, "ticket": ticket_id})


def conversation_of(tracker: Tracker) -> tuple[str, str]:
    """The ticket's channel and key: both from the tracker's sender id, the conversation key.

    The channel is never taken from ``input_channel`` (any caller can write that); a sender id
    that is not a key (not made by our connectors, e.g. ``rasa shell``) stays as it is, so it
    cannot coincide with any channel's person.
    """
    key = tracker.sender_id
    channel = channel_of(key)
    if channel is None:
        logger.warning("conversation %s has no channel key; its ticket is kept apart", mask_id(key))
        return "unknown", key
    return channel, key


async def open_ticket(tracker: Tracker, priority: str, reasons: Sequence[str],
                      said: Sequence[str] = (), notes: Sequence[str] = ()) -> Ticket | None:
    """Open (or join) the person's ticket; None if the store is unavailable.

    ``said`` are the bot's replies of this turn (not yet in the tracker): staff see what the
    person was told; ``notes`` are system lines for staff (a report's answers). During a database
    outage the request is spooled to disk and the handoff service opens it as soon as the database
    is back (:mod:`helpline.handoff.spool`): the ticket is late, not lost.
    """
    channel, key = conversation_of(tracker)
    told = [("bot", text) for text in said] + [("system", text) for text in notes]
    history = recent_messages(tracker) + told

    def _open() -> Ticket:
        store = get_services().handoff
        # A ticket already open has the earlier transcript: add only what is new.
        messages = history
        if store.open_ticket_for(channel, key) is not None:
            messages = [m for m in recent_messages(tracker)[-1:] if m[0] == "user"] + told
        return store.open_ticket(channel, key, priority, tuple(reasons), messages)

    try:
        return await asyncio.to_thread(_open)
    except HandoffError as exc:
        logger.error("could not open a handoff ticket: %s; spooling it", exc)
        request = TicketRequest(channel, key, priority, tuple(reasons), tuple(history))
        try:
            await asyncio.to_thread(get_services().spool.put, request)
        except OSError:
            logger.exception("could not spool a handoff ticket")
        return None
    except Exception:
        logger.exception("could not open a handoff ticket")
        return None


class ActionHandoff(Action):
    def name(self) -> str:
        return "action_handoff"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        ticket = await open_ticket(tracker, "normal", ("ask_human",))
        if ticket is None:
            dispatcher.utter_message(text=replies.STAFF_UNAVAILABLE)
            return []
        mark_ticket_turn(dispatcher, ticket.id)
        if ticket.flood_suspect:  # see action_emergency
            dispatcher.utter_message(text=replies.TICKET_FLOOD_DELAYED)
            return []
        dispatcher.utter_message(text=replies.HANDOFF_REQUESTED)
        return []
