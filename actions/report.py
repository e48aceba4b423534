"""The anonymous report (issue 16): intro, form validation, filing, stopping, and additions by code.

Thin adapters: the report store is :mod:`helpline.handoff.reports`, the ticket is opened through
:func:`actions.handoff.open_ticket` (the one ticket path, spooled when the database is down),
the texts are :mod:`helpline.report_replies`. When the person says someone is in danger now it is the
emergency path (reply first, a waiting ticket for staff, the safety check); the bot is never paused.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.faq import ActionAnswerFaq
from actions.handoff import conversation_of, mark_ticket_turn, open_ticket
from actions.services import get_services
from helpline import replies
from helpline import report_replies as texts
from helpline.handoff.models import REPORT_REASON
from helpline.handoff.reports import IN_DANGER_REASON, MAX_FIELD, Report, ReportFields
from helpline.kb.question import is_question
from helpline.refcode import find_code
from helpline.text import fold

logger = logging.getLogger(__name__)
SKIPPED = "-"
FORM_SLOTS = ("report_what", "report_where", "report_when", "report_who", "report_danger", "report_contact")
ADD_SLOTS = ("report_code", "report_addition")
# Typed instead of tapping "Bỏ qua" (also what the button sends).
SKIP_WORDS = frozenset({"bo qua", "bq", "skip", "khong biet", "khong ro", "khong nho", "khong muon noi", "chiu",
                        "qua", "tiep", "cau tiep"})
YES_WORDS = ("co", "co a", "co day", "dang gap nguy hiem", "yes", "dung vay", "dung roi")
NO_WORDS = ("khong", "khong a", "khong co", "chua", "no")
NO_CONTACT_WORDS = frozenset({"khong", "khong a", "khong can", "khong can lien he", "an danh", "thoi khoi", "no"})
CHAT_CONTACT_WORDS = frozenset({"nhan lai qua day", "nhan lai", "nhan qua day", "co", "co a", "duoc", "ok", "yes"})
REPORT_PRIORITY = "concern"
DANGER_PRIORITY = "immediate"


def reset(slots: tuple[str, ...]) -> list[dict[str, Any]]:
    return [SlotSet(name, None) for name in slots]


def answer(value: Any) -> str | None:
    """A free-text answer, trimmed to what the store takes; "-" when the person skipped.

    None stays None: the intro clears the slots, and rasa-sdk validates every slot set since the
    last message, cleared ones included (taking those as skipped would file an empty report).
    """
    if value is None:
        return None
    text = " ".join(str(value).split())
    if not text or fold(text) in SKIP_WORDS:
        return SKIPPED
    return text[:MAX_FIELD]


def danger_value(value: Any) -> str | None:
    """"yes", "no" or "-" (not sure) from what the person typed or tapped."""
    if value in (None, "yes", "no", SKIPPED):
        return value
    folded = fold(str(value))
    if any(folded == w or folded.startswith(w + " ") for w in YES_WORDS):
        return "yes"
    if any(folded == w or folded.startswith(w + " ") for w in NO_WORDS):
        return "no"
    return SKIPPED


def contact_value(value: Any) -> str | None:
    """"chat" (write back here), "none", or the phone number / e-mail the person chose to give."""
    if value in (None, "chat", "none"):
        return value
    text = answer(value) or SKIPPED
    if text == SKIPPED or fold(text) in NO_CONTACT_WORDS:
        return "none"
    if fold(text) in CHAT_CONTACT_WORDS:
        return "chat"
    return text


def fields_from(tracker: Tracker) -> ReportFields:
    def get(name: str) -> str | None:
        value = tracker.get_slot(name)
        return None if value in (None, SKIPPED) else str(value)

    danger = get("report_danger")
    return ReportFields(what=get("report_what"), place=get("report_where"), happened_when=get("report_when"),
                        who=get("report_who"), in_danger=danger if danger in ("yes", "no") else None,
                        contact=get("report_contact"))


class ActionReportIntro(Action):
    def name(self) -> str:
        return "action_report_intro"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[dict[str, Any]]:
        dispatcher.utter_message(text=texts.intro(get_services().settings.retention_days))
        return reset(FORM_SLOTS)  # an earlier report left by an emergency must not pre-fill this one


class ValidateReportForm(FormValidationAction):
    def name(self) -> str:
        return "validate_report_form"

    async def required_slots(self, domain_slots: list[str], dispatcher: CollectingDispatcher, tracker: Tracker,
                             domain: dict[str, Any]) -> list[str]:
        # Someone in danger now: no more questions, the report goes straight to the emergency path.
        if tracker.slots.get("report_danger") == "yes":
            return [s for s in domain_slots if s != "report_contact"]
        return domain_slots

    async def validate_report_what(self, value: Any, *args: Any) -> dict[str, Any]:
        return {"report_what": answer(value)}

    async def validate_report_where(self, value: Any, *args: Any) -> dict[str, Any]:
        return {"report_where": answer(value)}

    async def validate_report_when(self, value: Any, *args: Any) -> dict[str, Any]:
        return {"report_when": answer(value)}

    async def validate_report_who(self, value: Any, *args: Any) -> dict[str, Any]:
        return {"report_who": answer(value)}

    async def validate_report_danger(self, value: Any, *args: Any) -> dict[str, Any]:
        return {"report_danger": danger_value(value)}

    async def validate_report_contact(self, value: Any, *args: Any) -> dict[str, Any]:
        return {"report_contact": contact_value(value)}


class ActionReportDigression(Action):
    """The classifier read a message in the form as an FAQ question.

    A real question ("?", "bao nhiêu", "là gì" ...) is answered, and the form asks its question
    again; anything else is the answer to the question asked (a place name like "xa ban lau,
    muong khuong" often looks like an FAQ topic to the classifier).
    """

    def name(self) -> str:
        return "action_report_digression"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[dict[str, Any]]:
        text = str(tracker.latest_message.get("text") or "")
        slot = tracker.get_slot("requested_slot")
        value = {"report_danger": danger_value, "report_contact": contact_value}.get(slot, answer)(text)
        # "Không có ai" asks nothing, though "không" and "ai" are question words elsewhere.
        plain_choice = (slot, value) in {("report_danger", "yes"), ("report_danger", "no"),
                                         ("report_contact", "chat"), ("report_contact", "none")}
        if slot in FORM_SLOTS and (plain_choice or not is_question(text)):
            return [SlotSet(slot, value)]
        return await ActionAnswerFaq().run(dispatcher, tracker, domain)


class ActionSubmitReport(Action):
    def name(self) -> str:
        return "action_submit_report"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[dict[str, Any]]:
        fields = fields_from(tracker)
        in_danger = fields.in_danger == "yes"
        said: list[str] = []
        if in_danger:
            # The emergency reply goes first: nothing below may delay or prevent it.
            dispatcher.utter_message(text=replies.EMERGENCY_REPLY)
            said.append(replies.EMERGENCY_REPLY)
        reasons = (REPORT_REASON, IN_DANGER_REASON) if in_danger else (REPORT_REASON,)
        ticket = await open_ticket(tracker, DANGER_PRIORITY if in_danger else REPORT_PRIORITY, reasons, said,
                                   notes=[fields.summary()])
        events = reset(FORM_SLOTS)
        if ticket is None:
            dispatcher.utter_message(text=replies.STAFF_UNAVAILABLE if in_danger else texts.NOT_SAVED)
            return events
        report = await self._file(ticket.id, fields)
        if in_danger:
            mark_ticket_turn(dispatcher, ticket.id)  # a waiting ticket: the channel layer asks the safety check
            if report is not None:
                dispatcher.utter_message(text=texts.code_line(report.code))
            if ticket.flood_suspect:
                dispatcher.utter_message(text=replies.TICKET_FLOOD_DELAYED)
                return events
            dispatcher.utter_message(text=f"{replies.STAFF_JOINING}\n\n{replies.DELETE_CHAT_TIP}")
            return events
        if report is None:
            dispatcher.utter_message(text=texts.NO_CODE)
        else:
            dispatcher.utter_message(text=texts.filed(report.code, fields.contact == "chat"))
        return events

    @staticmethod
    async def _file(ticket_id: int, fields: ReportFields) -> Report | None:
        try:
            return await asyncio.to_thread(get_services().handoff.add_report, ticket_id, fields)
        except Exception:
            # The ticket and its transcript (with every answer) exist: staff still see the report.
            logger.exception("could not store the report of ticket %d", ticket_id)
            return None


class ActionReportStop(Action):
    def name(self) -> str:
        return "action_report_stop"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[dict[str, Any]]:
        dispatcher.utter_message(text=texts.STOPPED)
        return reset(FORM_SLOTS)


class ValidateReportAddForm(FormValidationAction):
    """Checks the code belongs to this sender before anything is asked or stored."""

    def name(self) -> str:
        return "validate_report_add_form"

    async def validate_report_code(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                   domain: dict[str, Any]) -> dict[str, Any]:
        channel, key = conversation_of(tracker)
        code = str(value or "")
        try:
            report = await asyncio.to_thread(get_services().handoff.report_by_code, code, channel, key)
        except Exception:
            logger.exception("could not look up a report code")
            dispatcher.utter_message(text=replies.SERVICE_FALLBACK)
            return {"report_code": SKIPPED, "report_addition": SKIPPED}
        if report is None:
            dispatcher.utter_message(text=texts.UNKNOWN_CODE)
            return {"report_code": SKIPPED, "report_addition": SKIPPED}
        return {"report_code": report.code}

    async def validate_report_addition(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                       domain: dict[str, Any]) -> dict[str, Any]:
        if tracker.slots.get("report_code") == SKIPPED:
            return {"report_addition": SKIPPED}
        if value is None:
            return {"report_addition": None}
        text = " ".join(str(value or "").split())
        return {"report_addition": text[:MAX_FIELD] if text else None}


class ActionSubmitReportAdd(Action):
    def name(self) -> str:
        return "action_submit_report_add"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[dict[str, Any]]:
        code, addition = tracker.get_slot("report_code"), tracker.get_slot("report_addition")
        events = reset(ADD_SLOTS)
        if code in (None, SKIPPED) or addition in (None, SKIPPED):
            return events
        # The person's own words as they wrote them (with the code when it came in the same message).
        latest = str(tracker.latest_message.get("text") or "")
        line = latest if (found := find_code(latest)) and found[0] == code else str(addition)
        channel, key = conversation_of(tracker)
        try:
            report = await asyncio.to_thread(get_services().handoff.add_to_report, code, channel, key, line)
        except Exception:
            logger.exception("could not add to a report")
            dispatcher.utter_message(text=replies.SERVICE_FALLBACK)
            return events
        dispatcher.utter_message(text=texts.UNKNOWN_CODE if report is None else texts.added(report.code))
        return events
