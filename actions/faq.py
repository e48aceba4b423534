"""action_answer_faq: answer from the handbook (with alternatives when unsure), or ask which question was meant."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, FollowupAction
from rasa_sdk.executor import CollectingDispatcher

from actions.services import get_services
from helpline import replies
from helpline.offers import looks_like_offer

logger = logging.getLogger(__name__)
# Offered when the question is outside the handbook's scope.
STARTER_QUESTIONS = ("khai-niem-mua-ban-nguoi", "dau-hieu-viec-nhe-luong-cao", "bao-tin-tong-dai-111")


def _entity(tracker: Tracker, name: str) -> str | None:
    for ent in tracker.latest_message.get("entities") or []:
        if ent.get("entity") == name and ent.get("value"):
            return str(ent["value"])
    return None


class ActionAnswerFaq(Action):
    def name(self) -> str:
        return "action_answer_faq"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        text = tracker.latest_message.get("text") or ""
        if not tracker.active_loop_name and not _entity(tracker, "faq_id") and looks_like_offer(text):
            return [FollowupAction("action_offer_start")]  # a concrete offer: check it instead of a handbook answer
        try:
            retriever = get_services().retriever
            entry_id = _entity(tracker, "faq_id")
            if entry_id and (entry := retriever.entry(entry_id)):
                if _entity(tracker, "faq_part") == "more":
                    dispatcher.utter_message(text=replies.faq_more(entry))
                    return []
                text, buttons = replies.faq_answer(entry)
            else:
                result = await asyncio.to_thread(retriever.retrieve, text)
                if result.confident and result.best and (entry := retriever.entry(result.best.entry_id)):
                    text, buttons = replies.faq_answer_with_alternatives(entry, retriever.alternatives(result))
                elif (tracker.latest_message.get("intent") or {}).get("name") == "out_of_scope":
                    starters = [e for i in STARTER_QUESTIONS if (e := retriever.entry(i))]
                    text, buttons = replies.unsure(starters, intro=replies.OUT_OF_SCOPE)
                else:
                    text, buttons = replies.unsure(retriever.suggestions(result))
        except Exception:
            logger.exception("FAQ retrieval failed")
            text, buttons = replies.SERVICE_FALLBACK, []
        dispatcher.utter_message(text=text, buttons=[b.as_dict() for b in buttons])
        return []
