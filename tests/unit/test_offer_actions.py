"""The offer actions over the core: FAQ routing, which questions the form asks, stop words, the result."""

from __future__ import annotations

import asyncio
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.faq import ActionAnswerFaq
from actions.offer import ActionAskOfferTravel, ActionOfferResult, ActionOfferStart, ValidateOfferForm
from helpline.offers import BAND_TEXT, Band
from helpline.offers import reply as offer_reply

FACEBOOK = ("Có người trên Facebook mời em sang Campuchia làm chăm sóc khách hàng lương 30 triệu, bao vé máy bay, "
            "có nên đi không?")


def tracker(text: str, slots: dict[str, Any] | None = None, intent: str = "ask_faq",
            loop: str | None = None) -> Tracker:
    latest = {"text": text, "intent": {"name": intent, "confidence": 0.9}, "entities": []}
    events = [{"event": "user", "text": text, "parse_data": latest}]
    return Tracker("rest:u1", slots or {}, latest, events, False, None, {"name": loop} if loop else {},
                   "action_listen")


def test_an_offer_on_the_faq_path_goes_to_the_check() -> None:
    events = asyncio.run(ActionAnswerFaq().run(CollectingDispatcher(), tracker(FACEBOOK), {}))
    assert events == [{"event": "followup", "timestamp": None, "name": "action_offer_start"}]


def test_start_keeps_the_offer_and_says_nothing_when_the_result_is_clear() -> None:
    dispatcher = CollectingDispatcher()
    events = asyncio.run(ActionOfferStart().run(dispatcher, tracker(FACEBOOK, intent="check_offer"), {}))
    assert {"event": "slot", "timestamp": None, "name": "offer_text", "value": FACEBOOK} in events
    assert dispatcher.messages == []


def test_start_from_the_menu_button_leaves_the_offer_to_be_asked() -> None:
    events = asyncio.run(ActionOfferStart().run(CollectingDispatcher(), tracker("/check_offer"), {}))
    assert {"event": "slot", "timestamp": None, "name": "offer_text", "value": None} in events


def test_held_abroad_at_the_start_is_the_emergency() -> None:
    events = asyncio.run(ActionOfferStart().run(
        CollectingDispatcher(), tracker("em đang ở Campuchia, họ giữ hộ chiếu không cho về, cứu em"), {}))
    assert events == [{"event": "followup", "timestamp": None, "name": "action_emergency"}]


def required(slots: dict[str, Any]) -> list[str]:
    form = ValidateOfferForm()
    return asyncio.run(form.required_slots([], CollectingDispatcher(), tracker("x", slots, loop="offer_form"), {}))


def test_the_form_asks_only_for_missing_facts() -> None:
    assert required({}) == ["offer_text"]
    assert required({"offer_text": FACEBOOK}) == []  # already "nhiều dấu hiệu": no questions
    asked = required({"offer_text": "có người mời em đi làm ở Nhật"})
    assert "offer_country" not in asked and asked[0] == "offer_contact"
    assert required({"offer_text": "có người mời em đi làm ở Nhật", "offer_passport": "họ giữ hộ chiếu"}) == []


def test_stop_words_end_the_form_but_unaccented_dung_answers_a_yes_no_question() -> None:
    form = ValidateOfferForm()
    stop = asyncio.run(form.run(CollectingDispatcher(), tracker("dừng lại", {"requested_slot": "offer_contact",
                                                                           "offer_text": "có người mời"}), {}))
    assert {"event": "slot", "timestamp": None, "name": "offer_stopped", "value": True} in stop
    yes = asyncio.run(form.run(CollectingDispatcher(), tracker("dung", {"requested_slot": "offer_contract",
                                                                        "offer_text": "có người mời"}), {}))
    assert {"event": "slot", "timestamp": None, "name": "offer_stopped", "value": True} not in yes


def test_the_result_uses_the_answers_and_resets_the_slots() -> None:
    dispatcher = CollectingDispatcher()
    slots = {"offer_text": "có người mời em đi làm ở Nhật", "offer_travel": "họ trả hết",
             "offer_contract": "chưa có"}
    events = asyncio.run(ActionOfferResult().run(dispatcher, tracker("x", slots), {}))
    text = "\n".join(m["text"] for m in dispatcher.messages)
    assert BAND_TEXT[Band.CHECK] in text or BAND_TEXT[Band.HIGH] in text
    assert "111" in text
    assert {"event": "slot", "timestamp": None, "name": "offer_text", "value": None} in events


def test_a_stopped_check_says_so() -> None:
    dispatcher = CollectingDispatcher()
    asyncio.run(ActionOfferResult().run(dispatcher, tracker("x", {"offer_stopped": True, "offer_text": "a b c d"}),
                                        {}))
    assert [m["text"] for m in dispatcher.messages] == [offer_reply.STOPPED]


def test_each_question_offers_skip_and_stop_as_buttons() -> None:
    dispatcher = CollectingDispatcher()
    asyncio.run(ActionAskOfferTravel().run(dispatcher, tracker("x"), {}))
    [message] = dispatcher.messages
    assert message["text"] == offer_reply.QUESTIONS["travel"]
    assert [b["payload"] for b in message["buttons"]] == ["bỏ qua", "thôi"]
