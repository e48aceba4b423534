"""action_emergency: the hotline at once, a ticket for staff, and the bot paused."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ConversationPaused
from rasa_sdk.executor import CollectingDispatcher

from actions.handoff import open_ticket
from helpline import replies
from helpline.safety import RiskLevel, detect


class ActionEmergency(Action):
    def name(self) -> str:
        return "action_emergency"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        # The reply goes first: nothing below may delay or prevent it.
        dispatcher.utter_message(text=replies.EMERGENCY_REPLY)
        risk = detect(tracker.latest_message.get("text") or "", intent="emergency")
        level = risk.level if risk.is_emergency else RiskLevel.URGENT
        reasons = risk.reasons or ("intent:emergency",)
        ticket = await open_ticket(tracker, level.value, reasons)
        if ticket is None:
            dispatcher.utter_message(text=replies.STAFF_UNAVAILABLE)
            return []
        if ticket.flood_suspect:
            # Opened during a flood of new tickets: recorded, but staff may see it late. Say so, keep the bot on.
            dispatcher.utter_message(text=replies.TICKET_FLOOD_DELAYED)
            return []
        dispatcher.utter_message(text=f"{replies.STAFF_JOINING}\n\n{replies.DELETE_CHAT_TIP}")
        return [ConversationPaused()]
