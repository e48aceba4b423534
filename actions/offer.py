"""The offer check as a Rasa form: start, ask only for missing facts, validate answers, give the result.

Thin adapters over :mod:`helpline.offers`; every text comes from :mod:`helpline.offers.reply`.
"""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import ActiveLoop, EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from helpline.offers import FACTS, Band, analyse
from helpline.offers import reply as offer_reply
from helpline.text import fold, has_diacritics

TEXT_SLOT = "offer_text"
STOPPED_SLOT = "offer_stopped"
FACT_SLOTS = {fact: f"offer_{fact}" for fact in FACTS}
ALL_SLOTS = (TEXT_SLOT, *FACT_SLOTS.values())
# Said instead of an answer, these leave the form (if the classifier did not already say stop_offer).
_STOP = frozenset({"thoi", "dung", "dung lai", "huy", "stop", "thoat", "khong hoi nua", "thoi khong kiem tra nua",
                   "thoi khoi", "dung kiem tra", "thoi dung"})
_YES_NO = frozenset({"offer_contract", "offer_passport"})  # unaccented "dung" there means "đúng" (yes)
_MIN_OFFER_WORDS = 4


def _answers(tracker: Tracker) -> dict[str, str | None]:
    return {fact: tracker.get_slot(slot) for fact, slot in FACT_SLOTS.items()}


def _is_stop(text: str, slot: str | None) -> bool:
    folded = fold(text)
    if folded == "dung" and slot in _YES_NO and not has_diacritics(text):
        return False
    return folded in _STOP


def _offer_message(text: str) -> str | None:
    """The user's message as the offer to check, unless it is only a request to check one."""
    if text.startswith("/") or len(fold(text).split()) < _MIN_OFFER_WORDS:
        return None
    return text


class ActionOfferStart(Action):
    """Starts a fresh check: the message itself is the offer when it describes one."""

    def name(self) -> str:
        return "action_offer_start"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[EventType]:
        text = tracker.latest_message.get("text") or ""
        offer = _offer_message(text)
        if offer and analyse(offer).held_abroad:
            return [FollowupAction("action_emergency")]
        events: list[EventType] = [SlotSet(slot, None) for slot in ALL_SLOTS]
        events += [SlotSet(STOPPED_SLOT, None), SlotSet(TEXT_SLOT, offer)]
        if offer and analyse(offer).band is not Band.HIGH and analyse(offer).missing:
            dispatcher.utter_message(text=offer_reply.STARTED)
        return events


class ValidateOfferForm(FormValidationAction):
    """Asks only for the facts the offer did not give; "thôi"/"dừng" leaves; a high band needs no more."""

    def name(self) -> str:
        return "validate_offer_form"

    async def required_slots(self, domain_slots: list[str], dispatcher: CollectingDispatcher, tracker: Tracker,
                             domain: DomainDict) -> list[str]:
        if tracker.get_slot(STOPPED_SLOT):
            return []
        text = tracker.get_slot(TEXT_SLOT)
        if not text:
            return [TEXT_SLOT]
        analysis = analyse(text, _answers(tracker))
        if analysis.band is Band.HIGH:
            return []
        return [FACT_SLOTS[fact] for fact in analysis.missing]

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> list[EventType]:
        slot = tracker.get_slot("requested_slot")
        said = tracker.latest_message.get("text") or ""
        if slot in ALL_SLOTS and _is_stop(said, slot):
            return [SlotSet(slot, None), SlotSet(STOPPED_SLOT, True), SlotSet("requested_slot", None)]
        return await super().run(dispatcher, tracker, domain)

    def validate_offer_text(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                            domain: DomainDict) -> dict[str, Any]:
        if not isinstance(value, str) or not fold(value):
            dispatcher.utter_message(text=offer_reply.ASK_TEXT)
            return {TEXT_SLOT: None}
        if analyse(value).held_abroad:
            return {TEXT_SLOT: value, STOPPED_SLOT: True, "requested_slot": None}
        return {TEXT_SLOT: value}


class _AskOffer(Action):
    """One short question of the form (module-level classes: the action server's workers pickle them)."""

    slot = TEXT_SLOT

    def name(self) -> str:
        return f"action_ask_{self.slot}"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[EventType]:
        fact = self.slot.removeprefix("offer_")
        question = offer_reply.QUESTIONS["offer_text" if self.slot == TEXT_SLOT else fact]
        choices = offer_reply.STOP_CHOICE if self.slot == TEXT_SLOT else offer_reply.SKIP_CHOICES
        # Plain-text payloads: a tap sends the word itself, read like a typed answer.
        dispatcher.utter_message(text=question, buttons=[{"title": c, "payload": c.lower()} for c in choices])
        return []


class ActionAskOfferText(_AskOffer):
    slot = TEXT_SLOT


class ActionAskOfferCountry(_AskOffer):
    slot = "offer_country"


class ActionAskOfferContact(_AskOffer):
    slot = "offer_contact"


class ActionAskOfferTravel(_AskOffer):
    slot = "offer_travel"


class ActionAskOfferContract(_AskOffer):
    slot = "offer_contract"


class ActionAskOfferPassport(_AskOffer):
    slot = "offer_passport"


class ActionAskOfferCompany(_AskOffer):
    slot = "offer_company"


class ActionOfferResult(Action):
    """The band, each sign with why and what to check, how to check a company, family, 111."""

    def name(self) -> str:
        return "action_offer_result"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[EventType]:
        reset: list[EventType] = [SlotSet(slot, None) for slot in ALL_SLOTS] + [SlotSet(STOPPED_SLOT, None)]
        text = tracker.get_slot(TEXT_SLOT)
        if text and analyse(text).held_abroad:
            return [*reset, FollowupAction("action_emergency")]
        if tracker.get_slot(STOPPED_SLOT) or not text:
            dispatcher.utter_message(text=offer_reply.STOPPED)
            return reset
        for message in offer_reply.result_messages(analyse(text, _answers(tracker))):
            dispatcher.utter_message(text=message)
        return reset


class ActionOfferStopped(Action):
    """After "thôi"/"dừng" (intent stop_offer) mid-form."""

    def name(self) -> str:
        return "action_offer_stopped"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[EventType]:
        dispatcher.utter_message(text=offer_reply.STOPPED)
        return [ActiveLoop(None), *[SlotSet(slot, None) for slot in ALL_SLOTS], SlotSet(STOPPED_SLOT, None)]
