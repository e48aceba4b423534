"""What every channel does around one Rasa turn, whatever the platform.

- Never silence: if the bot produced no text (action server down, paused
  conversation, any failure), the user still gets a reply that contains 111.
- Paused conversations: the user's message goes to their handoff ticket.
- Privacy commands from actions (forget this sender) run after the turn is saved.
"""

from __future__ import annotations

import asyncio
import logging
from functools import lru_cache
from typing import Any

from helpline import replies
from helpline.handoff import HandoffStore
from helpline.privacy import command_name, is_command
from helpline.safety import detect
from helpline.settings import Settings
from helpline.text import mask_id

logger = logging.getLogger(__name__)


@lru_cache(maxsize=1)
def _handoff_store() -> HandoffStore:
    return HandoffStore.from_url(Settings.from_env().handoff_db_url)


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
