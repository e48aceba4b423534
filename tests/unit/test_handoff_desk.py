"""Staff-desk store methods (claim, notes, replies, escalation, resume, stats), on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

import pytest

from helpline.errors import HandoffError
from helpline.handoff import HandoffStore
from helpline.handoff import store as store_module
from helpline.handoff.desk import MAX_STAFF_TEXT, TICKET_FIELDS, DeskConflict
from tests.conftest import T0, Clock


@pytest.fixture
def store(db_url: str, clock: Clock) -> HandoffStore:
    return HandoffStore.from_url(db_url, now=clock)


def _open(store: HandoffStore, sender: str, priority: str = "urgent", channel: str = "zalo") -> int:
    return store.open_ticket(channel, sender, priority, ["r"], [("user", f"tin nhắn của {sender}")]).id


def _actions(store: HandoffStore, ticket_id: int) -> list[tuple[str, str]]:
    return [(e.who, e.action) for e in reversed(store.audit_entries(ticket_id))]


def test_ticket_columns_match_the_store() -> None:
    assert TICKET_FIELDS == tuple(c.strip() for c in store_module._TICKET_COLS.split(","))


def test_queue_orders_by_risk_then_waiting_and_filters(store: HandoffStore, clock: Clock) -> None:
    normal = _open(store, "a", "normal")
    clock.advance(minutes=1)
    urgent_old = _open(store, "b", "urgent", "telegram")
    clock.advance(minutes=1)
    immediate = _open(store, "c", "immediate")
    clock.advance(minutes=1)
    urgent_new = _open(store, "d", "urgent")
    done = _open(store, "e", "immediate")
    store.close_ticket(done, "lan")
    assert [i.ticket.id for i in store.queue()] == [immediate, urgent_old, urgent_new, normal]
    assert [i.ticket.id for i in store.queue("all")][-1] == done
    assert [i.ticket.id for i in store.queue(priority="urgent")] == [urgent_old, urgent_new]
    assert [i.ticket.id for i in store.queue(channel="telegram")] == [urgent_old]
    store.claim(urgent_new, "minh")
    store.mark_escalated(normal)
    assert [i.ticket.id for i in store.queue(assigned_to="minh")] == [urgent_new]
    assert urgent_new not in [i.ticket.id for i in store.queue(unassigned=True)]
    assert [i.ticket.id for i in store.queue(escalated=True)] == [normal]
    # An agent sees open tickets plus the closed ones they handled.
    assert done not in [i.ticket.id for i in store.queue("all", involving="minh")]
    assert done in [i.ticket.id for i in store.queue("all", involving="lan")]
    item = store.queue(assigned_to="minh")[0]
    assert item.state.assigned_to == "minh" and item.ticket.last_message is not None
    assert store.channels() == ["telegram", "zalo"]
    with pytest.raises(ValueError):
        store.queue("closed")


def test_staff_reply_is_stored_assigns_and_stops_escalation(store: HandoffStore, clock: Clock) -> None:
    tid = _open(store, "u1")
    clock.advance(minutes=2)
    message = store.add_staff_reply(tid, "minh", "  Chào bạn, mình ở tổng đài 111.  ")
    assert (message.author, message.text) == ("staff", "Chào bạn, mình ở tổng đài 111.")
    state = store.ticket_state(tid)
    assert state.first_staff_reply_at == T0 + dt.timedelta(minutes=2)
    assert state.assigned_to == "minh"
    clock.advance(minutes=1)
    store.add_staff_reply(tid, "lan", "Tin thứ hai")
    state = store.ticket_state(tid)
    assert state.first_staff_reply_at == T0 + dt.timedelta(minutes=2), "the first reply time never moves"
    assert state.assigned_to == "minh", "a later reply does not take the ticket"
    assert [m.author for m in store.get(tid).messages] == ["user", "staff", "staff"]  # type: ignore[union-attr]
    assert ("minh", "staff_reply") in _actions(store, tid)
    clock.advance(hours=1)
    assert store.escalation_due(dt.timedelta(minutes=5)) == []
    for bad in ("", "   ", "x" * (MAX_STAFF_TEXT + 1)):
        with pytest.raises(ValueError):
            store.add_staff_reply(tid, "minh", bad)
    store.close_ticket(tid, "minh")
    with pytest.raises(DeskConflict):
        store.add_staff_reply(tid, "minh", "quá muộn")
    with pytest.raises(HandoffError):
        store.add_staff_reply(999999, "minh", "không có ca")


def test_claim_transfer_and_notes(store: HandoffStore) -> None:
    tid = _open(store, "u1")
    assert store.ticket_state(tid).assigned_to is None
    store.claim(tid, "minh")
    with pytest.raises(DeskConflict, match="held by minh"):
        store.claim(tid, "hoa")
    assert store.claim(tid, "lan", force=True).assigned_to == "lan"
    assert store.transfer(tid, "hoa", by="lan").assigned_to == "hoa"
    note = store.add_note(tid, "hoa", "Đã gọi cho công an tỉnh")
    assert [(n.author, n.text) for n in store.notes(tid)] == [("hoa", "Đã gọi cho công an tỉnh")]
    assert note.id > 0
    actions = _actions(store, tid)
    assert ("minh", "claim") in actions and ("lan", "transfer to=hoa") in actions and ("hoa", "add_note") in actions
    assert all("công an" not in a for _, a in actions), "note texts never go into the audit log"
    with pytest.raises(ValueError):
        store.add_note(tid, "hoa", " ")
    store.close_ticket(tid, "hoa")
    with pytest.raises(DeskConflict):
        store.claim(tid, "minh")
    with pytest.raises(DeskConflict):
        store.transfer(tid, "minh", by="lan")


def test_close_marks_resume_pending_with_retry_backoff(store: HandoffStore, clock: Clock) -> None:
    tid = _open(store, "u1")
    ticket, closed = store.close_ticket(tid, "minh")
    assert closed and ticket.status == "resolved" and ticket.resolved_by == "minh"
    assert store.close_ticket(tid, "lan")[1] is False, "closing twice is a no-op"
    state = store.ticket_state(tid)
    assert state.resume_pending and state.resume_attempts == 0
    assert store.due_resumes() == [], "the console's own resume has a head start"
    clock.advance(seconds=31)
    [due] = store.due_resumes()
    assert due.id == tid and due.sender_id == "u1"
    assert store.due_resumes() == [], "a claimed resume is leased"
    assert store.mark_resume_failed(tid, "Rasa unreachable (ConnectError)") == 1
    assert [s.ticket_id for s in store.resume_failures()] == [tid]
    clock.advance(seconds=4)
    assert store.due_resumes() == []
    clock.advance(seconds=2)
    assert [t.id for t in store.due_resumes()] == [tid]
    assert store.mark_resume_failed(tid, "Rasa answered HTTP 500") == 2
    clock.advance(seconds=9)
    assert store.due_resumes() == [], "the second retry waits longer"
    store.mark_resumed(tid)
    state = store.ticket_state(tid)
    assert not state.resume_pending and state.resumed_at is not None and state.resume_error is None
    assert store.resume_failures() == []
    clock.advance(hours=1)
    assert store.due_resumes() == []
    actions = [a for _, a in _actions(store, tid)]
    assert actions == ["resolve", "resume_failed", "resume_failed", "resume_bot"]


def test_purge_keeps_tickets_whose_resume_is_pending(store: HandoffStore, clock: Clock) -> None:
    pending = _open(store, "u1")
    done = _open(store, "u2")
    store.close_ticket(pending, "minh")
    store.close_ticket(done, "minh")
    store.add_note(done, "minh", "ghi chú")
    store.mark_resumed(done)
    clock.advance(days=31)
    assert store.purge_resolved(dt.timedelta(days=30)) == 1
    assert store.get(done) is None and store.notes(done) == []
    assert store.get(pending) is not None, "the retry still needs its channel and sender"


def test_escalation_happens_once_and_not_after_a_staff_reply(store: HandoffStore, clock: Clock) -> None:
    waiting = _open(store, "u1", "immediate")
    answered = _open(store, "u2")
    store.add_staff_reply(answered, "minh", "Chào bạn")
    clock.advance(minutes=4)
    assert store.escalation_due(dt.timedelta(minutes=5)) == []
    clock.advance(minutes=2)
    assert [t.id for t in store.escalation_due(dt.timedelta(minutes=5))] == [waiting]
    assert store.mark_escalated(waiting, "Gọi thẳng 111") is True
    assert store.mark_escalated(waiting, "Gọi thẳng 111") is False
    assert store.escalation_due(dt.timedelta(minutes=5)) == []
    assert store.ticket_state(waiting).escalated
    assert [m.text for m in store.get(waiting).messages][-1] == "Gọi thẳng 111"  # type: ignore[union-attr]
    assert ("system", "escalate") in _actions(store, waiting)


def test_unnotified_tickets(store: HandoffStore) -> None:
    a = _open(store, "u1")
    b = _open(store, "u2")
    assert [t.id for t in store.unnotified()] == [a, b]
    store.mark_notified(a)
    assert [t.id for t in store.unnotified()] == [b]


def test_change_marker_moves_on_every_change(store: HandoffStore, clock: Clock) -> None:
    empty = store.change_marker()
    tid = _open(store, "u1")
    first = store.change_marker()
    assert first != empty
    assert store.change_marker() == first
    clock.advance(seconds=1)
    store.add_message(tid, "user", "thêm")
    second = store.change_marker()
    assert second != first
    assert store.changed_since(first[1]) == [tid]
    other = _open(store, "u2")
    clock.advance(seconds=1)
    store.claim(other, "minh")
    # "At or after": the ticket changed at the marker's instant is repeated, never missed.
    assert store.changed_since(second[1]) == [tid, other]
    assert store.changed_since(store.change_marker()[1]) == [other]
    store.delete_sender(None, "u2")
    assert store.change_marker()[0] == 1


def test_stats(store: HandoffStore, clock: Clock) -> None:
    a = _open(store, "u1", "immediate", "zalo")
    clock.advance(minutes=1)
    store.add_staff_reply(a, "minh", "Chào")  # first reply after 60 s
    b = _open(store, "u2", "normal", "telegram")
    clock.advance(minutes=3)
    store.add_staff_reply(b, "minh", "Chào")  # after 180 s
    clock.advance(days=1)
    c = _open(store, "u3", "urgent", "zalo")
    store.mark_escalated(c)
    store.close_ticket(b, "minh")
    stats = store.stats(window_days=7)
    assert stats.open_by_priority == {"immediate": 1, "urgent": 1, "concern": 0, "normal": 0}
    assert stats.open_total == 2 and stats.escalated_open == 1 and stats.unassigned_open == 1
    assert stats.avg_first_reply_seconds == pytest.approx(120)
    assert stats.replied == 2 and stats.resume_pending == 1
    assert stats.per_channel == {"telegram": 1, "zalo": 2}
    assert len(stats.per_day) == 7
    assert stats.per_day[-1] == (T0.date() + dt.timedelta(days=1), {"zalo": 1})
    assert stats.per_day[-2] == (T0.date(), {"zalo": 1, "telegram": 1})
    clock.advance(days=30)
    assert store.stats(window_days=7).avg_first_reply_seconds is None


def test_deleting_a_person_removes_their_desk_rows(store: HandoffStore) -> None:
    tid = _open(store, "u1")
    store.add_note(tid, "minh", "ghi chú")
    store.claim(tid, "minh")
    assert store.delete_sender("zalo", "u1") == 1
    assert store.notes(tid) == []
    assert store.ticket_state(tid).assigned_to is None
