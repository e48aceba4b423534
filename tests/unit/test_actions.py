"""The rasa-sdk actions over the core, with the real handoff store and a failing retriever."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

import actions.services as services_module
from actions.emergency import ActionEmergency
from actions.faq import ActionAnswerFaq
from actions.handoff import ActionHandoff
from helpline import replies
from helpline.handoff import HandoffStore
from helpline.kb.entries import UrgentSteps, load_entries
from helpline.settings import Settings


def tracker(text: str, sender: str = "rest:u1", intent: str = "ask_faq") -> Tracker:
    events: list[dict[str, Any]] = [
        {"event": "user", "text": "xin chào", "parse_data": {}},
        {"event": "bot", "text": "Chào bạn!"},
        {"event": "user", "text": text, "parse_data": {}, "input_channel": "rest"},
    ]
    latest = {"text": text, "intent": {"name": intent, "confidence": 0.9}, "entities": []}
    return Tracker(sender, {}, latest, events, False, None, None, "action_listen")


class BrokenRetriever:
    def retrieve(self, text: str) -> Any:
        raise RuntimeError("index unavailable")

    def entry(self, entry_id: str) -> None:
        return None


class FakeServices:
    def __init__(self, store: HandoffStore | None) -> None:
        self._store = store
        self.retriever = BrokenRetriever()

    @property
    def handoff(self) -> HandoffStore:
        if self._store is None:
            raise RuntimeError("database down")
        return self._store


@pytest.fixture
def store(tmp_path: Path) -> HandoffStore:
    return HandoffStore.from_url(f"sqlite:///{tmp_path / 'handoff.db'}")


def run(action: Any, trk: Tracker) -> tuple[list[str], list[dict[str, Any]]]:
    dispatcher = CollectingDispatcher()
    events = asyncio.run(action.run(dispatcher, trk, {}))
    return [m.get("text") or "" for m in dispatcher.messages if not m.get("custom")], events


def run_messages(action: Any, trk: Tracker) -> list[dict[str, Any]]:
    dispatcher = CollectingDispatcher()
    asyncio.run(action.run(dispatcher, trk, {}))
    return dispatcher.messages


def test_retrieval_failure_still_answers_with_111(monkeypatch: pytest.MonkeyPatch, store: HandoffStore) -> None:
    monkeypatch.setattr(services_module, "_services", FakeServices(store))
    texts, events = run(ActionAnswerFaq(), tracker("luật mới là gì"))
    assert len(texts) == 1 and "111" in texts[0]
    assert events == []


def test_emergency_opens_a_waiting_ticket_and_does_not_pause(monkeypatch: pytest.MonkeyPatch,
                                                             store: HandoffStore) -> None:
    monkeypatch.setattr(services_module, "_services", FakeServices(store))
    texts, events = run(ActionEmergency(), tracker("cuu toi voi toi bi nhot", intent="emergency"))
    assert "113" in texts[0] and "111" in texts[0]
    # The bot keeps answering until a staff member claims the ticket.
    assert events == []
    [ticket] = store.list_tickets()
    assert ticket.priority == "immediate" and ticket.channel == "rest"
    assert any("nhot" in r for r in ticket.reasons)
    full = store.get(ticket.id)
    assert full is not None
    # Staff see the message and what the person was told, in order.
    assert [(m.author, m.text) for m in full.messages][-2:] == [
        ("user", "cuu toi voi toi bi nhot"), ("bot", replies.EMERGENCY_REPLY)]

    # A second alert from the same person joins the ticket without repeating the transcript.
    run(ActionEmergency(), tracker("ho dang den", intent="emergency"))
    [again] = store.list_tickets()
    assert again.id == ticket.id
    full = store.get(ticket.id)
    assert full is not None and [m.text for m in full.messages].count("xin chào") == 1
    assert store.ticket_state(ticket.id).assigned_to is None, "waiting: nobody holds it"


def test_the_ticket_command_follows_what_is_on_the_ticket(monkeypatch: pytest.MonkeyPatch,
                                                          store: HandoffStore) -> None:
    """The channel layer records what comes after the command; what comes before is on the ticket."""
    monkeypatch.setattr(services_module, "_services", FakeServices(store))
    messages = run_messages(ActionEmergency(), tracker("cuu toi voi toi bi nhot", intent="emergency"))
    [index] = [i for i, m in enumerate(messages) if m.get("custom")]
    [ticket] = store.list_tickets()
    assert messages[index]["custom"] == {"helpline_command": "ticket_turn", "ticket": ticket.id}
    full = store.get(ticket.id)
    assert full is not None
    assert [m.text for m in full.messages if m.author == "bot"][-index:] == [m["text"] for m in messages[:index]]
    assert messages[index + 1]["text"].startswith(replies.STAFF_JOINING)


def test_a_button_press_shows_its_title_on_the_ticket(monkeypatch: pytest.MonkeyPatch, store: HandoffStore) -> None:
    monkeypatch.setattr(services_module, "_services", FakeServices(store))
    payload = '/ask_faq{"faq_id": "tong-dai-111"}'
    events: list[dict[str, Any]] = [
        {"event": "bot", "text": "Có phải bạn muốn hỏi:", "data": {"buttons": [
            {"title": "Tổng đài 111 là gì?", "payload": payload}]}},
        {"event": "user", "text": payload, "parse_data": {}},
        {"event": "user", "text": "cuu toi", "parse_data": {}},
    ]
    latest = {"text": "cuu toi", "intent": {"name": "emergency", "confidence": 1.0}, "entities": []}
    run(ActionEmergency(), Tracker("rest:u2", {}, latest, events, False, None, None, "action_listen"))
    full = store.get(store.list_tickets()[0].id)
    assert full is not None
    lines = [m.text for m in full.messages]
    assert replies.BUTTON_PRESSED.format(title="Tổng đài 111 là gì?") in lines
    assert payload not in lines


def test_emergency_without_a_store_still_replies_and_does_not_pause(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(services_module, "_services", FakeServices(None))
    texts, events = run(ActionEmergency(), tracker("cuu toi", intent="emergency"))
    assert "113" in texts[0]
    assert any("gọi thẳng 111" in t for t in texts)
    assert events == []


def test_ask_human_opens_a_normal_ticket(monkeypatch: pytest.MonkeyPatch, store: HandoffStore) -> None:
    monkeypatch.setattr(services_module, "_services", FakeServices(store))
    texts, events = run(ActionHandoff(), tracker("cho tôi gặp nhân viên", intent="ask_human"))
    assert "111" in texts[0] and events == []
    assert store.list_tickets()[0].priority == "normal"


class StepsRetriever(BrokenRetriever):
    """Picks the first allowed entry, as the real ranking would pick the best (tested in test_retrieval)."""

    def __init__(self) -> None:
        self.entries = {e.id: e for e in load_entries(Settings.from_env().kb_dir)}
        self.asked: list[tuple[str, tuple[str, ...]]] = []

    def best_among(self, text: str, entry_ids: tuple[str, ...]) -> Any:
        self.asked.append((text, entry_ids))
        return self.entries[entry_ids[0]]


def test_an_urgent_report_gets_the_familys_steps_in_the_same_turn(monkeypatch: pytest.MonkeyPatch,
                                                                  store: HandoffStore) -> None:
    services = FakeServices(store)
    services.retriever = StepsRetriever()  # type: ignore[assignment]
    services.urgent_steps = UrgentSteps(("bao-tin-tre-em-mat-tich",))  # type: ignore[attr-defined]
    monkeypatch.setattr(services_module, "_services", services)
    report = "con toi 14 tuoi di theo nguoi quen tren mang, 3 ngay nay khong lien lac duoc"
    texts, events = run(ActionEmergency(), tracker(report, intent="emergency"))
    assert texts[0] == replies.EMERGENCY_REPLY
    steps = texts[1]
    assert steps.startswith(replies.URGENT_STEPS_INTRO) and "Căn cứ:" in steps and "113" in steps
    assert services.retriever.asked == [(report, ("bao-tin-tre-em-mat-tich",))]
    [ticket] = store.list_tickets()
    assert ticket.priority == "urgent"
    full = store.get(ticket.id)
    assert full is not None and [m.text for m in full.messages][-2:] == [replies.EMERGENCY_REPLY, steps]
    assert events == []


def test_an_immediate_danger_gets_no_steps_to_read(monkeypatch: pytest.MonkeyPatch, store: HandoffStore) -> None:
    services = FakeServices(store)
    services.retriever = StepsRetriever()  # type: ignore[assignment]
    services.urgent_steps = UrgentSteps(("bao-tin-tre-em-mat-tich",))  # type: ignore[attr-defined]
    monkeypatch.setattr(services_module, "_services", services)
    texts, _ = run(ActionEmergency(), tracker("cuu toi voi toi bi nhot", intent="emergency"))
    assert not any(t.startswith(replies.URGENT_STEPS_INTRO) for t in texts)
    assert services.retriever.asked == []


def test_a_ransom_demand_gets_only_the_steps_that_say_not_to_pay() -> None:
    steps = services_module.load_urgent_steps(services_module.Settings.from_env().kb_dir.parent / "urgent_steps.yml")
    ransom = steps.candidates(("ransom:tien chuoc", "present"))
    assert ransom and set(ransom) < set(steps)
    assert steps.candidates(("missing_child:chau toi+di theo",)) == steps.entries
