"""The handoff store, run against SQLite and a real PostgreSQL."""

from __future__ import annotations

import datetime as dt
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from helpline.errors import HandoffError
from helpline.handoff import PRIORITIES, HandoffStore, Ticket, higher_priority, priority_rank
from tests.conftest import T0, Clock, pg_driver


@pytest.fixture
def store(db_url: str, clock: Clock) -> HandoffStore:
    return HandoffStore.from_url(db_url, now=clock)


def _count(store: HandoffStore, table: str) -> int:
    with store._db.transaction("count rows", write=False) as q:
        row = q.one(f"SELECT COUNT(*) FROM {table}")
    assert row is not None
    return int(row[0])


# -- models -----------------------------------------------------------------------------------


def test_priority_order_is_immediate_urgent_concern_normal() -> None:
    assert sorted(["normal", "urgent", "concern", "immediate"], key=priority_rank) == list(PRIORITIES)
    assert PRIORITIES == ("immediate", "urgent", "concern", "normal")
    assert higher_priority("concern", "urgent") == "urgent"
    assert higher_priority("immediate", "normal") == "immediate"
    with pytest.raises(ValueError, match="unknown priority"):
        priority_rank("high")


# -- open / dedupe ------------------------------------------------------------------------------


def test_open_ticket_stores_everything(store: HandoffStore) -> None:
    ticket = store.open_ticket(
        "zalo",
        "8412345",
        "urgent",
        ["keyword:giam_giu", "asked_for_human"],
        [("user", "Cứu em với, em bị giữ ở Campuchia"), ("bot", "Gọi 111 hoặc 113 ngay")],
        location={"lat": 10.5, "lon": 104.1},
    )
    assert ticket.id > 0
    assert (ticket.channel, ticket.sender_id, ticket.status, ticket.priority) == ("zalo", "8412345", "open", "urgent")
    assert ticket.reasons == ("keyword:giam_giu", "asked_for_human")
    assert ticket.location == {"lat": 10.5, "lon": 104.1}
    assert ticket.created_at == T0 and ticket.created_at.tzinfo is not None
    assert ticket.resolved_at is None
    assert [(m.author, m.text) for m in ticket.messages] == [
        ("user", "Cứu em với, em bị giữ ở Campuchia"),
        ("bot", "Gọi 111 hoặc 113 ngay"),
    ]
    assert store.get(ticket.id) == ticket
    assert store.open_ticket_for("zalo", "8412345") == ticket
    assert store.open_ticket_for("messenger", "8412345") is None


def test_second_open_appends_and_raises_priority(store: HandoffStore, clock: Clock) -> None:
    first = store.open_ticket("zalo", "u1", "concern", ["worried"], [("user", "một")])
    clock.advance(minutes=5)
    second = store.open_ticket("zalo", "u1", "immediate", ["danger", "worried"], [("user", "hai")], {"lat": 1})
    assert second.id == first.id
    assert second.priority == "immediate"
    assert second.reasons == ("worried", "danger")
    assert second.location == {"lat": 1}
    assert second.created_at == T0 and second.updated_at == clock.now
    assert [m.text for m in second.messages] == ["một", "hai"]

    clock.advance(minutes=5)
    third = store.open_ticket("zalo", "u1", "normal", (), [("user", "ba")])
    assert third.id == first.id
    assert third.priority == "immediate", "a lower priority must never downgrade the ticket"
    assert third.location == {"lat": 1}, "no new location keeps the old one"
    assert [m.text for m in third.messages] == ["một", "hai", "ba"]
    assert len(store.list_tickets()) == 1

    other_channel = store.open_ticket("telegram", "u1", "normal")
    assert other_channel.id != first.id
    assert len(store.list_tickets()) == 2


def test_invalid_arguments_are_rejected(store: HandoffStore) -> None:
    with pytest.raises(ValueError, match="priority"):
        store.open_ticket("zalo", "u1", "high")
    with pytest.raises(ValueError, match="author"):
        store.open_ticket("zalo", "u1", "normal", (), [("admin", "hi")])
    with pytest.raises(ValueError, match="sender_id"):
        store.open_ticket("zalo", " ", "normal")
    with pytest.raises(ValueError, match="status"):
        store.list_tickets(status="closed")
    with pytest.raises(ValueError, match="limit"):
        store.list_tickets(limit=0)
    assert store.list_tickets(status="all") == []


# -- listing ------------------------------------------------------------------------------------


def test_open_queue_is_most_urgent_then_longest_waiting(store: HandoffStore, clock: Clock) -> None:
    opened: dict[str, int] = {}
    for name, priority in [
        ("normal-old", "normal"),
        ("urgent-old", "urgent"),
        ("concern", "concern"),
        ("immediate", "immediate"),
        ("urgent-new", "urgent"),
    ]:
        opened[name] = store.open_ticket("zalo", name, priority).id
        clock.advance(minutes=1)
    # Raising a ticket's priority moves it up without changing its waiting time.
    store.open_ticket("zalo", "normal-old", "urgent")

    order = [t.sender_id for t in store.list_tickets()]
    assert order == ["immediate", "normal-old", "urgent-old", "urgent-new", "concern"]
    assert [t.sender_id for t in store.list_tickets(limit=2)] == ["immediate", "normal-old"]


def test_listing_carries_only_the_last_message(store: HandoffStore) -> None:
    a = store.open_ticket("zalo", "a", "urgent", (), [("user", "first"), ("bot", "reply")])
    store.add_message(a.id, "user", "latest from a")
    store.open_ticket("zalo", "b", "normal")
    listed = {t.sender_id: t for t in store.list_tickets()}
    assert listed["a"].messages == ()
    assert listed["a"].last_message is not None
    assert (listed["a"].last_message.author, listed["a"].last_message.text) == ("user", "latest from a")
    assert listed["b"].last_message is None


def test_status_filters(store: HandoffStore, clock: Clock) -> None:
    done_early = store.open_ticket("zalo", "done-early", "immediate").id
    done_late = store.open_ticket("zalo", "done-late", "normal").id
    waiting = store.open_ticket("zalo", "waiting", "normal").id
    clock.advance(minutes=1)
    store.resolve(done_early, by="staff")
    clock.advance(minutes=1)
    store.resolve(done_late, by="staff")
    assert [t.id for t in store.list_tickets("open")] == [waiting]
    assert [t.id for t in store.list_tickets("resolved")] == [done_late, done_early]
    assert [t.id for t in store.list_tickets("all")] == [waiting, done_late, done_early]


# -- messages and resolution --------------------------------------------------------------------


def test_add_message(store: HandoffStore, clock: Clock) -> None:
    ticket = store.open_ticket("messenger", "p1", "concern", (), [("user", "xin chào")])
    clock.advance(seconds=30)
    message = store.add_message(ticket.id, "staff", "Chào em, chị ở đường dây 111")
    assert (message.ticket_id, message.author, message.created_at) == (ticket.id, "staff", clock.now)
    loaded = store.get(ticket.id)
    assert loaded is not None
    assert [(m.author, m.text) for m in loaded.messages] == [
        ("user", "xin chào"),
        ("staff", "Chào em, chị ở đường dây 111"),
    ]
    assert loaded.updated_at == clock.now
    with pytest.raises(HandoffError, match="does not exist"):
        store.add_message(ticket.id + 1000, "user", "lost?")
    with pytest.raises(ValueError, match="author"):
        store.add_message(ticket.id, "robot", "x")
    assert store.get(ticket.id + 1000) is None


def test_resolve(store: HandoffStore, clock: Clock) -> None:
    ticket = store.open_ticket("zalo", "r1", "urgent", (), [("user", "help")])
    clock.advance(minutes=10)
    resolved = store.resolve(ticket.id, by="lan")
    assert (resolved.status, resolved.resolved_by, resolved.resolved_at) == ("resolved", "lan", clock.now)
    assert resolved.waiting_seconds() == 600
    assert store.open_ticket_for("zalo", "r1") is None
    assert store.list_tickets() == []

    clock.advance(minutes=1)
    again = store.resolve(ticket.id, by="minh")
    assert (again.resolved_by, again.resolved_at) == ("lan", resolved.resolved_at), "resolve is idempotent"
    assert [(e.who, e.action, e.ticket_id) for e in store.audit_entries()] == [("lan", "resolve", ticket.id)]

    # The person can be handed off again later: a new ticket, not the old one.
    new = store.open_ticket("zalo", "r1", "normal", (), [("user", "again")])
    assert new.id != ticket.id and [m.text for m in new.messages] == ["again"]
    with pytest.raises(HandoffError, match="does not exist"):
        store.resolve(new.id + 1000, by="lan")


# -- deletion -----------------------------------------------------------------------------------


def test_delete_sender(store: HandoffStore) -> None:
    old = store.open_ticket("zalo", "victim", "urgent", (), [("user", "so dt 0912345678")])
    store.resolve(old.id, by="staff")
    current = store.open_ticket("zalo", "victim", "normal", (), [("user", "again")])
    on_telegram = store.open_ticket("telegram", "victim", "normal", (), [("user", "tg")])
    bystander = store.open_ticket("zalo", "someone-else", "normal", (), [("user", "keep me")])
    store.audit("staff", "view_ticket", current.id)

    assert store.delete_sender("zalo", "victim") == 2
    assert store.get(old.id) is None and store.get(current.id) is None
    assert store.get(on_telegram.id) is not None
    assert _count(store, "handoff_messages") == 2, "messages go with their tickets"

    assert store.delete_sender(None, "victim") == 1
    assert store.get(on_telegram.id) is None
    assert store.delete_sender(None, "victim") == 0
    kept = store.get(bystander.id)
    assert kept is not None and [m.text for m in kept.messages] == ["keep me"]
    assert _count(store, "handoff_messages") == 1
    assert len(store.audit_entries()) == 2, "the audit log (resolve + view) holds no personal data and stays"
    # Ids are never reused, so an old staff link cannot open someone else's ticket.
    newest = store.open_ticket("zalo", "newest", "normal").id
    assert store.delete_sender("zalo", "newest") == 1
    assert store.open_ticket("zalo", "next", "normal").id > newest


def test_purge_resolved(store: HandoffStore, clock: Clock) -> None:
    stale_open = store.open_ticket("zalo", "still-waiting", "normal", (), [("user", "hello?")])
    early = store.open_ticket("zalo", "early", "normal", (), [("user", "a")])
    late = store.open_ticket("zalo", "late", "normal", (), [("user", "b")])
    store.resolve(early.id, by="staff")
    clock.advance(days=10)
    store.resolve(late.id, by="staff")
    clock.advance(days=25)  # early: resolved 35 days ago; late: 25 days ago

    assert store.purge_resolved(dt.timedelta(days=30)) == 1
    assert store.get(early.id) is None
    assert store.get(late.id) is not None
    assert store.get(stale_open.id) is not None, "open tickets are never purged"
    assert _count(store, "handoff_messages") == 2
    assert store.purge_resolved(dt.timedelta(days=30)) == 0
    assert store.purge_resolved(dt.timedelta(0)) == 1
    with pytest.raises(ValueError):
        store.purge_resolved(dt.timedelta(days=-1))


# -- audit --------------------------------------------------------------------------------------


def test_audit_rows(store: HandoffStore, clock: Clock) -> None:
    store.audit("staff", "list_tickets status=open")
    clock.advance(seconds=1)
    store.audit("staff", "view_ticket", 42)
    entries = store.audit_entries()
    assert [(e.who, e.action, e.ticket_id, e.at) for e in entries] == [
        ("staff", "view_ticket", 42, clock.now),
        ("staff", "list_tickets status=open", None, T0),
    ]
    assert [e.action for e in store.audit_entries(ticket_id=42)] == ["view_ticket"]
    assert _count(store, "audit_log") == 2
    with pytest.raises(ValueError):
        store.audit("", "x")


# -- concurrency --------------------------------------------------------------------------------


def _run_threads(count: int, work: Callable[[int], Any]) -> list[BaseException]:
    barrier = threading.Barrier(count)
    errors: list[BaseException] = []

    def run(n: int) -> None:
        try:
            barrier.wait()
            work(n)
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return errors


def test_concurrent_opens_for_different_senders_lose_nothing(store: HandoffStore) -> None:
    threads, per_thread = 8, 12

    def work(n: int) -> None:
        for i in range(per_thread):
            store.open_ticket("zalo", f"s{n}-{i}", PRIORITIES[i % 4], (), [("user", f"m{n}-{i}"), ("bot", "ok")])

    assert _run_threads(threads, work) == []
    tickets = store.list_tickets(limit=500)
    assert len(tickets) == threads * per_thread
    assert len({t.id for t in tickets}) == threads * per_thread
    assert {t.sender_id for t in tickets} == {f"s{n}-{i}" for n in range(threads) for i in range(per_thread)}
    assert _count(store, "handoff_messages") == 2 * threads * per_thread


def test_concurrent_opens_for_one_sender_make_one_ticket(store: HandoffStore) -> None:
    threads = 8

    def work(n: int) -> None:
        store.open_ticket("zalo", "same", PRIORITIES[n % 4], [f"r{n}"], [("user", f"m{n}")])

    assert _run_threads(threads, work) == []
    tickets = store.list_tickets()
    assert len(tickets) == 1
    ticket: Ticket | None = store.get(tickets[0].id)
    assert ticket is not None
    assert ticket.priority == "immediate"
    assert sorted(m.text for m in ticket.messages) == sorted(f"m{n}" for n in range(threads))
    assert sorted(ticket.reasons) == sorted(f"r{n}" for n in range(threads))


# -- setup and errors ---------------------------------------------------------------------------


def test_schema_creation_is_idempotent_and_data_persists(db_url: str, store: HandoffStore) -> None:
    ticket = store.open_ticket("zalo", "p", "normal", (), [("user", "x")])
    second = HandoffStore.from_url(db_url)
    second.ping()
    assert second.get(ticket.id) == ticket


def test_sqlite_creates_the_folder_and_uses_wal(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "handoff.db"
    store = HandoffStore.from_url(f"sqlite:///{path}")
    assert store.kind == "sqlite"
    store.ping()
    assert path.is_file()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"handoff_tickets", "handoff_messages", "audit_log"} <= tables


@pytest.mark.parametrize(
    "url", ["mysql://db/x", "sqlite:///:memory:", "sqlite://relative.db", "handoff.db", "sqlite:///"]
)
def test_unsupported_urls_are_refused(url: str) -> None:
    with pytest.raises(HandoffError, match="URL"):
        HandoffStore.from_url(url)


def test_postgres_description_hides_credentials() -> None:
    pg_driver()
    store = HandoffStore.from_url("postgresql+psycopg://helpline:s3cr3t@db.example:6543/handoff")
    assert store.kind == "postgresql"
    assert store.description == "postgresql (db.example:6543/handoff)"


def test_unreachable_databases_raise_handoff_error(tmp_path: Path) -> None:
    with pytest.raises(HandoffError, match=r"sqlite\) could not"):
        HandoffStore.from_url(f"sqlite:///{tmp_path}").ping()  # a folder, not a file
    pg_driver()
    store = HandoffStore.from_url("postgresql://u:s3cr3t@127.0.0.1:1/none", timeout=1)
    with pytest.raises(HandoffError, match=r"postgresql\) could not") as caught:
        store.open_ticket("zalo", "u", "urgent")
    assert "s3cr3t" not in str(caught.value)
