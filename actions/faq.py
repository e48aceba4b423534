"""action_answer_faq: answer from the handbook (with alternatives when unsure), or ask which question was meant."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, FollowupAction
from rasa_sdk.executor import CollectingDispatcher

from actions.services import current_call, get_services
from helpline import replies
from helpline.kb.ranking import Outcome
from helpline.offers import looks_like_offer

logger = logging.getLogger(__name__)
# Offered when the question is outside the handbook's scope.
STARTER_QUESTIONS = ("khai-niem-mua-ban-nguoi", "dau-hieu-viec-nhe-luong-cao", "bao-tin-tong-dai-111")


def _entity(tracker: Tracker, name: str) -> str | None:
    for ent in tracker.latest_message.get("entities") or []:
        if ent.get("entity") == name and ent.get("value"):
            return str(ent["value"])
    return None


def _previous_turn(tracker: Tracker) -> tuple[str, str, list[str]]:
    """The user text before the latest message, the bot's reply text to it and that reply's entry buttons."""
    events = list(tracker.events or [])
    users = [i for i, e in enumerate(events) if e.get("event") == "user"]
    if len(users) < 2:
        return "", "", []
    start, end = users[-2], users[-1]
    text = str(events[start].get("text") or "")
    if text.startswith("/"):
        return "", "", []  # a button press: no question text to learn from
    bot_text, offered = "", []
    for e in events[start + 1:end]:
        if e.get("event") == "bot":
            bot_text += str(e.get("text") or "")
            for b in (e.get("data") or {}).get("buttons") or []:
                payload = str(b.get("payload") or "")
                if '"faq_id"' in payload and "faq_part" not in payload:
                    offered.append(payload.split('"faq_id": "', 1)[-1].split('"', 1)[0])
    return text, bot_text, offered


def _learn(tracker: Tracker, outcome: str, text: str = "", candidates: tuple[str, ...] = (),
           entry_id: str | None = None, topic: str | None = None) -> None:
    """Record the reply's outcome (and an unanswered question) for the editors; never fails the reply."""
    call = current_call.get()
    channel = (call.channel if call else "") or tracker.get_latest_input_channel() or "?"
    try:
        log = get_services().learning
        if outcome in ("ask", "unknown") and text.strip():
            log.record(channel, outcome, text, candidates)
        elif outcome == "chosen" and entry_id:
            previous, bot_text, offered = _previous_turn(tracker)
            if previous and bot_text.startswith((replies.UNSURE_INTRO, replies.OUT_OF_SCOPE[:40])):
                log.chose(previous, entry_id)
            elif previous and replies.ALSO_ASK_INTRO in bot_text and entry_id in offered:
                # The person pressed another question than the one answered: the answer missed.
                outcome = "rejected"
                log.record(channel, "rejected", previous, tuple(offered), chosen=entry_id)
        log.outcome(channel, outcome, entry_id, topic)
    except Exception:
        logger.exception("could not record the handbook outcome")


class ActionAnswerFaq(Action):
    def name(self) -> str:
        return "action_answer_faq"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        asked = tracker.latest_message.get("text") or ""
        if not tracker.active_loop_name and not _entity(tracker, "faq_id") and looks_like_offer(asked):
            return [FollowupAction("action_offer_start")]  # a concrete offer: check it instead of a handbook answer
        learned: dict[str, Any] = {}
        try:
            retriever = get_services().retriever
            entry_id = _entity(tracker, "faq_id")
            if entry_id and (entry := retriever.entry(entry_id)):
                if _entity(tracker, "faq_part") == "more":
                    dispatcher.utter_message(text=replies.faq_more(entry))
                    return []
                text, buttons = replies.faq_answer(entry)
                learned = dict(outcome="chosen", entry_id=entry.id, topic=entry.topic)
            else:
                result = await asyncio.to_thread(retriever.retrieve, asked)
                if result.confident and result.best and (entry := retriever.entry(result.best.entry_id)):
                    alternatives = retriever.alternatives(result)
                    text, buttons = replies.faq_answer_with_alternatives(entry, alternatives)
                    kind = "answer_alt" if result.outcome is Outcome.ANSWER_WITH_ALTERNATIVES else "answer"
                    learned = dict(outcome=kind, entry_id=entry.id, topic=entry.topic)
                elif (tracker.latest_message.get("intent") or {}).get("name") == "out_of_scope":
                    starters = [e for i in STARTER_QUESTIONS if (e := retriever.entry(i))]
                    text, buttons = replies.unsure(starters, intro=replies.OUT_OF_SCOPE)
                    learned = dict(outcome="unknown", text=asked)
                else:
                    suggestions = retriever.suggestions(result)
                    text, buttons = replies.unsure(suggestions)
                    learned = dict(outcome="ask" if suggestions else "unknown", text=asked,
                                   candidates=tuple(e.id for e in suggestions[:3]))
        except Exception:
            logger.exception("FAQ retrieval failed")
            text, buttons = replies.SERVICE_FALLBACK, []
        dispatcher.utter_message(text=text, buttons=[b.as_dict() for b in buttons])
        if learned:
            await asyncio.to_thread(_learn, tracker, **learned)
        return []


class ActionFaqRejected(Action):
    """ "không phải" right after an answer: say sorry, and record the question as unanswered."""

    def name(self) -> str:
        return "action_faq_rejected"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        dispatcher.utter_message(text=replies.ANSWER_REJECTED)
        await asyncio.to_thread(_record_rejection, tracker)
        return []


def _record_rejection(tracker: Tracker) -> None:
    call = current_call.get()
    channel = (call.channel if call else "") or tracker.get_latest_input_channel() or "?"
    try:
        previous, bot_text, offered = _previous_turn(tracker)
        if not previous or bot_text.startswith((replies.UNSURE_INTRO, replies.OUT_OF_SCOPE[:40])):
            return  # no answer was given: the question is recorded already, as asked back
        services = get_services()
        answered = next((e for e in services.retriever.entries.values()
                         if e.answer.strip() and bot_text.startswith(e.answer.strip())), None)
        candidates = tuple(dict.fromkeys(([answered.id] if answered else []) + offered))
        services.learning.record(channel, "rejected", previous, candidates)
        services.learning.outcome(channel, "rejected", answered.id if answered else None,
                                  answered.topic if answered else None)
    except Exception:
        logger.exception("could not record the rejected answer")
