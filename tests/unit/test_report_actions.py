"""The report actions (actions/report.py) over the real handoff store (SQLite) and the real spool."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

import actions.services as services_module
from actions.privacy import ActionDeleteMyData
from actions.report import (
    ActionReportIntro,
    ActionSubmitReport,
    ActionSubmitReportAdd,
    ValidateReportAddForm,
    ValidateReportForm,
)
from helpline import replies
from helpline import report_replies as texts
from helpline.handoff import HandoffStore
from helpline.handoff.spool import TicketSpool
from helpline.settings import Settings

CODE = re.compile(r"BT-[A-Z2-9]{4}-[A-Z2-9]{4}")
ANSWERS = {"report_what": "Có người rủ chị tôi sang Lào làm quán karaoke", "report_where": "Điện Biên",
           "report_when": "-", "report_who": "một người đàn ông lạ", "report_danger": "no", "report_contact": "chat"}


class Services:
    def __init__(self, store: HandoffStore | None, tmp_path: Path) -> None:
        self._store = store
        self.settings = Settings(retention_days=21)
        self.spool = TicketSpool(tmp_path / "spool")

    @property
    def handoff(self) -> HandoffStore:
        if self._store is None:
            from helpline.errors import HandoffError

            raise HandoffError("database down")
        return self._store


def tracker(slots: dict[str, Any], text: str = "", sender: str = "rest:u1") -> Tracker:
    events = [{"event": "user", "text": "tôi muốn báo tin", "parse_data": {}},
              {"event": "bot", "text": "Câu 1/6. Chuyện gì đã xảy ra?"},
              {"event": "user", "text": text or "Không", "parse_data": {}}]
    latest = {"text": text or "Không", "intent": {"name": "deny", "confidence": 0.9}, "entities": []}
    return Tracker(sender, slots, latest, events, False, None, {"name": "report_form"}, "action_listen")


def run(action: Any, trk: Tracker) -> tuple[list[str], list[dict[str, Any]]]:
    dispatcher = CollectingDispatcher()
    events = asyncio.run(action.run(dispatcher, trk, {}))
    return [m.get("text") or "" for m in dispatcher.messages], events


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> HandoffStore:
    s = HandoffStore.from_url(f"sqlite:///{tmp_path / 'handoff.db'}", new_tickets="off")
    monkeypatch.setattr(services_module, "_services", Services(s, tmp_path))
    return s


def test_intro_says_what_is_stored_who_sees_it_and_for_how_long(store: HandoffStore) -> None:
    said, events = run(ActionReportIntro(), tracker({"report_what": "cũ"}))
    assert "21 ngày" in said[0] and "Chỉ nhân viên tổng đài 111" in said[0] and "bỏ qua" in said[0]
    assert {"event": "slot", "timestamp": None, "name": "report_what", "value": None} in events


def test_submit_files_a_quiet_report_with_a_code(store: HandoffStore) -> None:
    said, events = run(ActionSubmitReport(), tracker(ANSWERS))
    code = CODE.search(said[0]).group(0)  # type: ignore[union-attr]
    assert "nhắn lại cho bạn tại đây" in said[0] and "111" in said[0] and "113" in said[0]
    assert not any(e["event"] == "pause" for e in events)
    [ticket] = store.list_tickets()
    assert ticket.reasons == ("report_tip",) and ticket.priority == "concern"
    report = store.report_by_code(code, "rest", "rest:u1")
    assert report is not None and report.fields.happened_when is None and report.fields.place == "Điện Biên"
    # Staff see every answer in the transcript too (it survives a database outage in the spool).
    assert any("Ở đâu: Điện Biên" in m.text for m in store.get(ticket.id).messages)  # type: ignore[union-attr]


def test_in_danger_takes_the_emergency_path_first(store: HandoffStore) -> None:
    said, events = run(ActionSubmitReport(), tracker({**ANSWERS, "report_danger": "yes", "report_contact": None}))
    texts = [t for t in said if t]  # the ticket-turn marker (a JSON message) has no text
    assert texts[0] == replies.EMERGENCY_REPLY and CODE.search(texts[1]) and replies.STAFF_JOINING in texts[2]
    assert not any(e.get("event") == "pause" for e in events), "a waiting ticket (issue 14): never paused"
    [ticket] = store.list_tickets()
    assert ticket.priority == "immediate" and "report:in_danger" in ticket.reasons


def test_database_down_spools_the_report_and_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    services = Services(None, tmp_path)
    monkeypatch.setattr(services_module, "_services", services)
    said, _ = run(ActionSubmitReport(), tracker(ANSWERS))
    assert said == [texts.NOT_SAVED]
    [spooled] = services.spool.pending()
    body = spooled.read_text(encoding="utf-8")
    assert "report_tip" in body and "Điện Biên" in body  # nothing the person said is lost


def test_validation_maps_words_and_stops_asking_after_danger(store: HandoffStore) -> None:
    form = ValidateReportForm()
    d = CollectingDispatcher()
    t = tracker({})
    assert asyncio.run(form.validate_report_where("  bo qua ", d, t, {})) == {"report_where": "-"}
    # Slots the intro cleared are validated too: they stay empty (not "skipped").
    assert asyncio.run(form.validate_report_what(None, d, t, {})) == {"report_what": None}
    assert asyncio.run(form.validate_report_danger(None, d, t, {})) == {"report_danger": None}
    assert asyncio.run(form.validate_report_contact(None, d, t, {})) == {"report_contact": None}
    assert asyncio.run(form.validate_report_danger("Có ạ", d, t, {})) == {"report_danger": "yes"}
    assert asyncio.run(form.validate_report_danger("ko", d, t, {})) == {"report_danger": "no"}
    assert asyncio.run(form.validate_report_contact("Không cần liên hệ", d, t, {})) == {"report_contact": "none"}
    assert asyncio.run(form.validate_report_contact("Nhắn lại qua đây", d, t, {})) == {"report_contact": "chat"}
    assert asyncio.run(form.validate_report_contact("0912345678", d, t, {})) == {"report_contact": "0912345678"}
    slots = ["report_what", "report_danger", "report_contact"]
    assert asyncio.run(form.required_slots(slots, d, tracker({"report_danger": "yes"}), {})) == slots[:2]
    assert asyncio.run(form.required_slots(slots, d, tracker({"report_danger": "no"}), {})) == slots


def test_a_code_from_someone_else_gets_the_neutral_reply(store: HandoffStore) -> None:
    said, _ = run(ActionSubmitReport(), tracker(ANSWERS))
    code = CODE.search(said[0]).group(0)  # type: ignore[union-attr]
    form = ValidateReportAddForm()
    d = CollectingDispatcher()
    theirs = asyncio.run(form.validate_report_code(code, d, tracker({}, sender="rest:other"), {}))
    assert theirs == {"report_code": "-", "report_addition": "-"} and d.messages[0]["text"] == texts.UNKNOWN_CODE
    d2 = CollectingDispatcher()
    assert asyncio.run(form.validate_report_code(code, d2, tracker({}), {})) == {"report_code": code}
    added, _ = run(ActionSubmitReportAdd(), tracker({"report_code": code, "report_addition": "họ lại đến"},
                                                    text=f"{code} họ lại đến"))
    assert added == [texts.added(code)]
    assert store.get(store.report_by_code(code, "rest", "rest:u1").ticket_id).messages[-1].text == f"{code} họ lại đến"  # type: ignore[union-attr]


def test_delete_my_data_keeps_forwarded_reports_and_says_which(store: HandoffStore) -> None:
    import datetime as dt

    said, _ = run(ActionSubmitReport(), tracker(ANSWERS))
    code = CODE.search(said[0]).group(0)  # type: ignore[union-attr]
    report = store.report_by_code(code, "rest", "rest:u1")
    store.mark_forwarded(report.id, "lan", "Công an", dt.date(2026, 1, 5))  # type: ignore[union-attr]
    deleted, _ = run(ActionDeleteMyData(), tracker({}))
    assert deleted[0].startswith(replies.DATA_DELETED) and code in deleted[0]
    assert store.report_by_code(code, "rest", "rest:u1") is not None


def test_a_place_name_read_as_an_faq_question_is_the_answer(store: HandoffStore) -> None:
    from actions.report import ActionReportDigression

    place = tracker({"requested_slot": "report_where"}, text="xa ban lau, muong khuong, lao cai")
    said, events = run(ActionReportDigression(), place)
    assert said == [] and events == [{"event": "slot", "timestamp": None, "name": "report_where",
                                      "value": "xa ban lau, muong khuong, lao cai"}]
    danger = tracker({"requested_slot": "report_danger"}, text="không có ai")
    assert run(ActionReportDigression(), danger)[1][0]["value"] == "no"
    # A real question goes to the FAQ answer (no retriever here: its fallback, with 111).
    question = tracker({"requested_slot": "report_where"}, text="mua bán người bị phạt tù bao nhiêu năm?")
    said, events = run(ActionReportDigression(), question)
    assert events == [] and said and "111" in said[0]
