"""action_emergency: the hotline at once (with a family's practical steps when urgent) and a waiting ticket.

The bot is not paused: it keeps answering until a staff member claims the ticket
(:mod:`helpline.handoff.waiting`); the channel layer then asks the safety question.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.handoff import mark_ticket_turn, open_ticket
from actions.services import get_services
from helpline import replies
from helpline.safety import RiskLevel, detect

logger = logging.getLogger(__name__)


async def _urgent_steps(text: str, reasons: tuple[str, ...]) -> str | None:
    """The handbook's practical steps for a third-party report (a missing relative, a ransom demand)."""
    try:
        services = get_services()
        candidates = services.urgent_steps.candidates(reasons)  # a ransom demand: "don't pay first"
        entry = await asyncio.to_thread(services.retriever.best_among, text, candidates)
    except Exception:
        logger.exception("could not find the practical steps for an urgent report")
        return None
    return replies.urgent_steps(entry) if entry else None


class ActionEmergency(Action):
    def name(self) -> str:
        return "action_emergency"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        # The reply goes first: nothing below may delay or prevent it.
        dispatcher.utter_message(text=replies.EMERGENCY_REPLY)
        said = [replies.EMERGENCY_REPLY]
        text = tracker.latest_message.get("text") or ""
        risk = detect(text, intent="emergency")
        level = risk.level if risk.is_emergency else RiskLevel.URGENT
        if risk.level is RiskLevel.URGENT and (steps := await _urgent_steps(text, risk.reasons)):
            dispatcher.utter_message(text=steps)
            said.append(steps)
        reasons = risk.reasons or ("intent:emergency",)
        ticket = await open_ticket(tracker, level.value, reasons, said)
        if ticket is None:
            dispatcher.utter_message(text=replies.STAFF_UNAVAILABLE)
            return []
        mark_ticket_turn(dispatcher, ticket.id)
        if ticket.flood_suspect:
            # Opened during a flood of new tickets: recorded, but staff may see it late. Say so.
            dispatcher.utter_message(text=replies.TICKET_FLOOD_DELAYED)
            return []
        dispatcher.utter_message(text=f"{replies.STAFF_JOINING}\n\n{replies.DELETE_CHAT_TIP}")
        return []
