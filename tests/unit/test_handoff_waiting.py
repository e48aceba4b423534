"""The waiting-ticket model in the store: waiting -> with staff -> resolved, turn recording, the safety check.

On SQLite and PostgreSQL (real databases). The connector side is tested in
tests/rasa_env/test_waiting_turns.py, the whole flow in tests/e2e/test_waiting_flow.py.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from helpline import replies
from helpline.handoff import HandoffStore
from helpline.handoff.models import REPORT_REASON
from helpline.handoff.waiting import typed_safety_answer, with_111
from tests.conftest import Clock


@pytest.fixture
def store(db_url: str, clock: Clock) -> HandoffStore:
    return HandoffStore.from_url(db_url, now=clock)


def _lines(store: HandoffStore, ticket_id: int) -> list[tuple[str, str]]:
    ticket = store.get(ticket_id)
    assert ticket is not None
    return [(m.author, m.text) for m in ticket.messages]


def test_waiting_then_with_staff_then_resolved(store: HandoffStore) -> None:
    assert store.open_ticket_state("telegram", "p1") is None
    ticket = store.open_ticket("telegram", "p1", "urgent", ["r"], [("user", "con tôi mất tích"), ("bot", "Gọi 113")])
    state = store.open_ticket_state("telegram", "p1")
    assert state is not None and state.waiting and state.ticket_id == ticket.id and state.safety is None

    # Waiting: the bot's turn goes on the ticket, in order.
    record = store.record_turn("telegram", "p1", [("user", "báo công an ở đâu?")], ["Bạn đến công an xã. Gọi 111."])
    assert record is not None and not record.with_staff
    assert _lines(store, ticket.id)[-2:] == [("user", "báo công an ở đâu?"), ("bot", "Bạn đến công an xã. Gọi 111.")]

    # Claimed: the person's message still goes on the ticket; the bot's reply is dropped.
    store.claim(ticket.id, "lan")
    state = store.open_ticket_state("telegram", "p1")
    assert state is not None and not state.waiting and state.assigned_to == "lan"
    record = store.record_turn("telegram", "p1", [("user", "còn ai không?")], ["một câu trả lời của bot"])
    assert record is not None and record.with_staff
    assert _lines(store, ticket.id)[-1] == ("user", "còn ai không?")
    assert "một câu trả lời của bot" not in [t for _, t in _lines(store, ticket.id)]
    # ... unless it must be said whatever happens (an emergency reply).
    forced = store.record_turn("telegram", "p1", [], ["Gọi 113"], force_bot=True)
    assert forced is not None and _lines(store, ticket.id)[-1] == ("bot", "Gọi 113")

    # Resolved: no open ticket, nothing recorded, the bot has the conversation again.
    store.close_ticket(ticket.id, "lan", "real_emergency")
    assert store.open_ticket_state("telegram", "p1") is None
    assert store.record_turn("telegram", "p1", [("user", "cảm ơn")], ["Không có gì"]) is None


def test_a_staff_reply_or_a_transfer_also_takes_a_waiting_ticket(store: HandoffStore) -> None:
    a = store.open_ticket("zalo", "a", "normal", [], [("user", "gặp nhân viên")]).id
    b = store.open_ticket("zalo", "b", "normal", [], [("user", "gặp nhân viên")]).id
    store.add_staff_reply(a, "lan", "Chào bạn")
    store.transfer(b, "hoa", "giamsat")
    assert store.open_ticket_state("zalo", "a").assigned_to == "lan"  # type: ignore[union-attr]
    assert store.open_ticket_state("zalo", "b").assigned_to == "hoa"  # type: ignore[union-attr]


def test_the_claim_and_a_bot_turn_never_both_win(db_url: str, clock: Clock) -> None:
    """The race: a bot turn being recorded while staff claim. Either the turn is before the claim, or dropped."""
    store = HandoffStore.from_url(db_url, now=clock)
    outcomes: list[bool] = []
    for i in range(12):
        ticket = store.open_ticket("telegram", f"race{i}", "urgent", [], [("user", "cứu")])
        barrier = threading.Barrier(2)

        def claim(tid: int = ticket.id, barrier: threading.Barrier = barrier) -> None:
            barrier.wait()
            store.claim(tid, "lan")

        thread = threading.Thread(target=claim)
        thread.start()
        barrier.wait()
        record = store.record_turn("telegram", f"race{i}", [("user", "hỏi")], [f"trả lời {i}"])
        thread.join()
        assert record is not None
        lines = [t for _, t in _lines(store, ticket.id)]
        # The reply is on the ticket exactly when it was not dropped.
        assert (f"trả lời {i}" in lines) is (not record.with_staff)
        assert "hỏi" in lines
        audit = [e.action for e in reversed(store.audit_entries(ticket.id))]
        assert "claim" in audit
        outcomes.append(record.with_staff)
    assert outcomes  # each outcome is consistent whichever side won


def test_the_safety_question_is_asked_once_and_its_answer_raises_the_priority(store: HandoffStore) -> None:
    ticket = store.open_ticket("telegram", "s1", "normal", ["ask_human"], [("user", "gặp nhân viên")])
    first = store.record_turn("telegram", "s1", [], [replies.HANDOFF_REQUESTED], replies.SAFETY_QUESTION)
    again = store.record_turn("telegram", "s1", [], ["khác"], replies.SAFETY_QUESTION)
    assert first is not None and first.safety_asked and again is not None and not again.safety_asked
    assert [t for _, t in _lines(store, ticket.id)].count(replies.SAFETY_QUESTION) == 1
    assert store.open_ticket_state("telegram", "s1").safety_pending  # type: ignore[union-attr]

    priority = store.answer_safety(ticket.id, "unsafe", "[bấm nút] Không an toàn", replies.SAFETY_ACK["unsafe"])
    assert priority == "immediate"
    got = store.get(ticket.id)
    assert got is not None and got.priority == "immediate" and "safety_check:unsafe" in got.reasons
    assert _lines(store, ticket.id)[-2:] == [("user", "[bấm nút] Không an toàn"), ("bot", replies.SAFETY_ACK["unsafe"])]
    answer, at = store.safety_check(ticket.id)  # type: ignore[misc]
    assert answer == "unsafe" and at is not None
    assert any(e.action.startswith("safety_answer answer=unsafe") for e in store.audit_entries(ticket.id))


def test_safe_never_lowers_and_unsure_raises_to_urgent(store: HandoffStore) -> None:
    urgent = store.open_ticket("zalo", "u", "urgent", [], [("user", "x")]).id
    normal = store.open_ticket("zalo", "n", "normal", [], [("user", "x")]).id
    assert store.answer_safety(urgent, "safe", "An toàn") == "urgent"
    assert store.answer_safety(normal, "unsure", "3") == "urgent"
    with pytest.raises(ValueError):
        store.answer_safety(normal, "maybe", "?")


def test_a_question_left_unanswered_lapses(store: HandoffStore) -> None:
    ticket = store.open_ticket("zalo", "l", "urgent", [], [("user", "x")])
    store.record_turn("zalo", "l", [], [], replies.SAFETY_QUESTION)
    assert store.lapse_safety(ticket.id)
    assert store.open_ticket_state("zalo", "l").safety == "no_answer"  # type: ignore[union-attr]
    assert not store.lapse_safety(ticket.id)


def test_the_safety_table_is_deleted_with_the_ticket(store: HandoffStore, clock: Clock) -> None:
    import datetime as dt

    ticket = store.open_ticket("zalo", "d", "urgent", [], [("user", "x")])
    store.answer_safety(ticket.id, "safe", "1")
    store.close_ticket(ticket.id, "lan", "real_emergency")
    store.mark_resumed(ticket.id)
    clock.advance(days=40)
    assert store.purge_resolved(dt.timedelta(days=30)) == 1
    assert store.safety_check(ticket.id) is None


def test_a_database_made_before_the_waiting_model_gains_the_table(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    old = sqlite3.connect(path)
    old.execute("CREATE TABLE handoff_tickets (id INTEGER PRIMARY KEY AUTOINCREMENT, channel TEXT NOT NULL, "
                "sender_id TEXT NOT NULL, status TEXT NOT NULL CHECK (status IN ('open', 'resolved')), "
                "priority TEXT NOT NULL, reasons TEXT NOT NULL, location TEXT, created_at TEXT NOT NULL, "
                "updated_at TEXT NOT NULL, resolved_at TEXT, resolved_by TEXT)")
    old.execute("INSERT INTO handoff_tickets (channel, sender_id, status, priority, reasons, created_at, updated_at) "
                "VALUES ('zalo', 'old', 'open', 'urgent', '[]', '2026-01-01T00:00:00+00:00', "
                "'2026-01-01T00:00:00+00:00')")
    old.commit()
    old.close()
    store = HandoffStore.from_url(f"sqlite:///{path}")
    state = store.open_ticket_state("zalo", "old")
    assert state is not None and state.waiting and state.safety is None


@pytest.mark.parametrize(("text", "answer"), [
    ("1", "safe"), ("An toàn", "safe"), ("em an toàn ạ", "safe"), ("co", "safe"),
    ("2", "unsafe"), ("Không an toàn", "unsafe"), ("ko an toan", "unsafe"), ("không", "unsafe"),
    ("3", "unsure"), ("Không chắc", "unsure"), ("k chac", "unsure"), ("không biết nữa", "unsure"),
    ("mua bán người bị phạt bao nhiêu năm", None), ("an toàn lao động là gì vậy bạn ơi", None), ("", None),
])
def test_typed_answers_to_the_safety_question(text: str, answer: str | None) -> None:
    assert typed_safety_answer(text) == answer


def test_every_reply_carries_111() -> None:
    plain = [{"text": "Chào bạn!"}, {"text": "Bạn cần gì?", "buttons": [{"title": "A", "payload": "/a"}]}]
    out = with_111(plain, replies.WAITING_111_LINE)
    assert out[0] == plain[0] and out[1]["text"].endswith(replies.WAITING_111_LINE) and out[1]["buttons"]
    has = [{"text": "Gọi 111 nhé"}]
    assert with_111(has, replies.WAITING_111_LINE) == has
    assert with_111([{"text": "số 1111"}], "x")[0]["text"].endswith("x"), "1111 is not 111"


def test_claiming_a_quiet_report_leaves_the_conversation_with_the_bot(store: HandoffStore) -> None:
    """Staff claim a report to forward it; the person keeps the bot until a staff member writes to them."""
    ticket = store.open_ticket("rest", "r1", "normal", [REPORT_REASON], [("system", "Báo tin: ...")])
    store.claim(ticket.id, "lan")
    state = store.open_ticket_state("rest", "r1")
    assert state is not None and state.waiting
    record = store.record_turn("rest", "r1", [("user", "cho em hỏi thêm")], ["Trả lời của bot. Gọi 111."])
    assert record is not None and not record.with_staff
    store.add_staff_reply(ticket.id, "lan", "Chào bạn, mình đã nhận tin.")
    state = store.open_ticket_state("rest", "r1")
    assert state is not None and not state.waiting
    # A report joined by an emergency is an ordinary ticket: a claim takes it.
    urgent = store.open_ticket("rest", "r2", "urgent", [REPORT_REASON, "report:in_danger"], [("user", "có")])
    store.claim(urgent.id, "lan")
    assert not store.open_ticket_state("rest", "r2").waiting  # type: ignore[union-attr]


def test_a_message_already_on_the_ticket_is_not_recorded_twice(store: HandoffStore) -> None:
    """A redelivery, or a line the action put on the ticket itself (a report addition), is kept once."""
    ticket = store.open_ticket("zalo", "d1", "urgent", ["r"], [("user", "cứu em")])
    store.record_turn("zalo", "d1", [("user", "em ở Bavet")], ["Gọi 113."])
    store.record_turn("zalo", "d1", [("user", "em ở Bavet")], [])  # the last line is the bot's: a new message
    store.record_turn("zalo", "d1", [("user", "em ở Bavet")], [])  # the same message again: kept once
    assert [t for a, t in _lines(store, ticket.id) if a == "user"] == ["cứu em", "em ở Bavet", "em ở Bavet"]
