"""Tickets asked for during a database outage are spooled to disk and opened once the database is back."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import threading
import time
from pathlib import Path

import pytest

import actions.services as services_module
from actions.emergency import ActionEmergency
from helpline import replies
from helpline.handoff import HandoffStore
from helpline.handoff.spool import LATE_REASON, TicketRequest, TicketSpool, open_or_spool
from tests.conftest import Clock
from tests.unit.console_client import make_desk
from tests.unit.test_actions import run, tracker


@pytest.fixture
def spool(tmp_path: Path) -> TicketSpool:
    return TicketSpool.in_data_dir(tmp_path)


def down_store(tmp_path: Path) -> HandoffStore:
    """A store whose database server is not running (nothing listens on port 1)."""
    return HandoffStore.from_url("postgresql://postgres@127.0.0.1:1/handoff", timeout=1)


def test_open_or_spool_keeps_the_request_until_the_database_is_back(tmp_path: Path, spool: TicketSpool) -> None:
    request = TicketRequest("zalo", "z-user-1", "immediate", ("keyword:giam_giu",), (("user", "cứu em"),))
    assert open_or_spool(down_store(tmp_path), spool, request) is None
    [path] = spool.pending()
    assert oct(path.stat().st_mode & 0o777) == "0o600", "the request holds a message: owner only"

    assert spool.flush(down_store(tmp_path)) == [], "still down: nothing opened"
    assert spool.pending() == [path], "and nothing lost"

    store = HandoffStore.from_url(f"sqlite:///{tmp_path / 'handoff.db'}")
    [(_, ticket, again)] = spool.flush(store)
    assert again == request and spool.pending() == []
    full = store.get(ticket.id)
    assert full is not None and full.priority == "immediate" and LATE_REASON in full.reasons
    assert [m.author for m in full.messages] == ["user", "system"] and "mở muộn" in full.messages[-1].text
    assert spool.flush(store) == [], "opened once"


def test_a_claimed_file_is_opened_by_one_service_only(tmp_path: Path, spool: TicketSpool) -> None:
    for n in range(20):
        spool.put(TicketRequest("telegram", f"9000{n}", "urgent", (), (("user", f"tin {n}"),)))
    store = HandoffStore.from_url(f"sqlite:///{tmp_path / 'handoff.db'}")
    results: list[int] = []

    def flush() -> None:
        results.append(len(spool.flush(store)))

    threads = [threading.Thread(target=flush) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(results) == 20
    assert all(len(t.messages) == 2 for t in (store.get(i.id) for i in store.list_tickets()) if t)


def test_a_stale_claim_is_released(tmp_path: Path, spool: TicketSpool) -> None:
    path = spool.put(TicketRequest("zalo", "z-2", "urgent"))
    claimed = path.with_suffix(".claimed")
    os.replace(path, claimed)  # a service died holding it
    old = time.time() - 3600
    os.utime(claimed, (old, old))
    store = HandoffStore.from_url(f"sqlite:///{tmp_path / 'handoff.db'}")
    assert len(spool.flush(store)) == 1


class DownServices:
    def __init__(self, tmp_path: Path) -> None:
        self.handoff = down_store(tmp_path)
        self.spool = TicketSpool.in_data_dir(tmp_path)


def test_emergency_action_during_an_outage_answers_and_spools(monkeypatch: pytest.MonkeyPatch,
                                                              tmp_path: Path) -> None:
    services = DownServices(tmp_path)
    monkeypatch.setattr(services_module, "_services", services)
    texts, events = run(ActionEmergency(), tracker("cuu toi voi toi bi nhot", intent="emergency"))
    assert "113" in texts[0] and "111" in texts[0]
    assert replies.STAFF_UNAVAILABLE in texts, "honest: staff cannot be reached right now"
    assert events == [], "not paused: nobody would answer"
    [path] = services.spool.pending()
    request = TicketRequest.from_json(path.read_text())
    # The spooled transcript ends with the message and what the person was told.
    assert request.priority == "immediate" and request.messages[-2] == ("user", "cuu toi voi toi bi nhot")
    assert request.messages[-1] == ("bot", replies.EMERGENCY_REPLY)


class RecordingResumer:
    def __init__(self) -> None:
        self.resumed: list[str] = []

    async def resume(self, sender_id: str) -> None:
        self.resumed.append(sender_id)


def test_desk_worker_opens_spooled_tickets_waiting_and_tells_the_person(tmp_path: Path, clock: Clock) -> None:
    desk = make_desk(tmp_path, clock)
    resumer = RecordingResumer()
    desk.worker.resumer = resumer
    desk.worker.spool.put(TicketRequest("telegram", "90001", "immediate", ("help_call",), (("user", "cứu"),)))
    assert asyncio.run(desk.worker.flush_spool_once()) == 1
    [ticket] = desk.store.list_tickets()
    assert ticket.sender_id == "90001" and LATE_REASON in ticket.reasons
    [message] = desk.outbox.list()
    assert message.recipient_id == "90001" and message.message["text"] == replies.LATE_TICKET_OPENED
    # A late ticket waits like any other: nobody holds it and the bot is not paused.
    assert desk.store.open_ticket_state("telegram", "90001").waiting and resumer.resumed == []
    assert ("system", "ticket_opened_late") in [(e.who, e.action) for e in desk.store.audit_entries(limit=50)]
    assert asyncio.run(desk.worker.flush_spool_once()) == 0


def test_sqlite_locked_longer_than_the_timeout_spools_then_opens(tmp_path: Path) -> None:
    """SQLite held under an exclusive lock by another connection: the ticket waits on disk, then opens."""
    path = tmp_path / "handoff.db"
    store = HandoffStore.from_url(f"sqlite:///{path}", timeout=0.3)
    store.ping()
    spool = TicketSpool.in_data_dir(tmp_path)
    locker = sqlite3.connect(str(path), isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")
    try:
        request = TicketRequest("zalobot", "zb-1", "urgent", (), (("user", "giúp em"),))
        assert open_or_spool(store, spool, request) is None
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    [(_, ticket, _)] = spool.flush(store)
    assert store.get(ticket.id) is not None


def test_a_desk_job_that_never_returns_does_not_stop_the_spooled_tickets(
    tmp_path: Path, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    desk = make_desk(tmp_path, clock)
    desk.worker.resumer = RecordingResumer()
    monkeypatch.setattr("helpline.handoff.workers.JOB_TIMEOUT_SECONDS", 0.3)

    async def hangs() -> None:
        await asyncio.Event().wait()  # a database call that never returns

    desk.worker.escalate_once = hangs  # type: ignore[method-assign]

    async def two_rounds() -> None:
        await desk.worker.tick()
        desk.worker.spool.put(TicketRequest("zalo", "z-7", "immediate", ("help_call",), (("user", "cứu"),)))
        await desk.worker.tick()  # the spool is flushed first, then the hung job is abandoned again

    asyncio.run(asyncio.wait_for(two_rounds(), timeout=10))
    assert [t.sender_id for t in desk.store.list_tickets()] == ["z-7"]
