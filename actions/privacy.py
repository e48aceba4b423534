"""action_delete_my_data: forget the person after they confirmed."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import Restarted
from rasa_sdk.executor import CollectingDispatcher

from actions.handoff import conversation_of
from actions.services import get_services
from helpline import replies, report_replies
from helpline.privacy import FORGET_COMMAND

logger = logging.getLogger(__name__)


class ActionDeleteMyData(Action):
    def name(self) -> str:
        return "action_delete_my_data"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        try:
            store = get_services().handoff
            # The sender id is the conversation key (``telegram:123``): only this person's tickets, on
            # this channel, go; a key that names no channel matches no channel's tickets either.
            channel, key = conversation_of(tracker)
            # Reports already forwarded to the police stay (the reply says which).
            kept = await asyncio.to_thread(store.forwarded_reports_of, channel, key)
            await asyncio.to_thread(store.delete_sender, channel, key)
        except Exception:
            logger.exception("could not delete handoff data")
            dispatcher.utter_message(text=replies.SERVICE_FALLBACK)
            return []
        text = replies.DATA_DELETED
        if kept:
            text += "\n" + report_replies.kept_after_delete([r.code for r in kept])
        dispatcher.utter_message(text=text)
        # The channel deletes the tracker itself once this turn is saved.
        dispatcher.utter_message(json_message=FORGET_COMMAND)
        return [Restarted()]
