"""Retention purge (`make purge`): tracker events, tickets, outbox, channel rows and sessions, SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
from pathlib import Path
from typing import Any

import pytest

from helpline.channels.inbound import Inbound
from helpline.channels.outbox import Outbox
from helpline.channels.store import ChannelStore
from helpline.db import Database
from helpline.handoff import HandoffStore
from helpline.handoff.accounts import StaffAccounts
from helpline.retention import PurgeReport, Retention, main
from tests.conftest import Clock

DAY = 86400.0


def tracker_db(url: str) -> Database:
    """A table shaped like Rasa's SQL tracker store (``events``)."""
    db = Database.from_url(url, wal=False)
    ts = "REAL" if db.dialect.is_sqlite else "DOUBLE PRECISION"
    ident = db.dialect.id_column
    with db.transaction("create events") as q:
        q.run(f"CREATE TABLE events (id {ident}, sender_id VARCHAR(255) NOT NULL, type_name VARCHAR(255) NOT NULL, "
              f"timestamp {ts}, intent_name VARCHAR(255), action_name VARCHAR(255), data TEXT)")
    return db


def add_events(db: Database, sender: str, events: list[tuple[str, float]]) -> None:
    with db.transaction("add events") as q:
        for kind, at in events:
            q.run("INSERT INTO events (sender_id, type_name, timestamp, data) VALUES (?, ?, ?, ?)",
                  (sender, kind, at, json.dumps({"event": kind, "text": "0912345678"})))


def events_of(db: Database, sender: str) -> list[str]:
    with db.transaction("read events", write=False) as q:
        return [r[0] for r in q.all("SELECT type_name FROM events WHERE sender_id = ? ORDER BY id", (sender,))]


def fill(url: str, clock: Clock, tracker: Database) -> dict[str, Any]:
    """Data on both sides of a 30-day cutoff; returns handles for the checks."""
    now = clock.now
    store = HandoffStore.from_url(url, now=clock)
    outbox = Outbox.from_url(url, now=clock)
    channel = ChannelStore.from_url(url, now=clock)
    accounts = StaffAccounts(store.database, now=clock)
    user = accounts.add_user("lan", "mat-khau-dai-du-12", "agent")

    clock.now = now - dt.timedelta(days=60)
    old_open = store.open_ticket("zalo", "old-open", "urgent", ["x"], [("user", "cứu")])
    old_resolved = store.open_ticket("zalo", "old-resolved", "normal", [], [("user", "hỏi")])
    pending_resume = store.open_ticket("zalo", "pending-resume", "normal", [], [("user", "hỏi")])
    clock.now = now - dt.timedelta(days=40)
    store.resolve(old_resolved.id, "lan")
    store.close_ticket(pending_resume.id, "lan")
    store.mark_resume_failed(pending_resume.id, "Rasa unreachable")
    old_sent = outbox.enqueue("zalo", "old-resolved", {"text": "cũ"})
    outbox.mark_sent(old_sent)  # type: ignore[arg-type]
    old_pending = outbox.enqueue("zalo", "old-open", {"text": "đang gửi"})
    channel.claim_inbound(Inbound("zalo", "old-resolved", "m-old", "text", text="hi"))
    channel.remember("zalo", "old-resolved", "choices", ["a"])
    channel.payload_key("/ask_faq" + "x" * 80)
    accounts.create_session(user, dt.timedelta(hours=8))

    clock.now = now - dt.timedelta(days=10)
    recent = store.open_ticket("zalo", "recent", "normal", [], [("user", "hỏi")])
    store.resolve(recent.id, "lan")
    recent_sent = outbox.enqueue("zalo", "recent", {"text": "mới"})
    outbox.mark_sent(recent_sent)  # type: ignore[arg-type]
    channel.claim_inbound(Inbound("zalo", "recent", "m-new", "text", text="hi"))
    clock.now = now

    t = now.timestamp()
    add_events(tracker, "idle", [("session_started", t - 60 * DAY), ("user", t - 60 * DAY), ("bot", t - 59 * DAY)])
    add_events(tracker, "active", [("session_started", t - 45 * DAY), ("user", t - 45 * DAY),
                                   ("session_started", t - 1 * DAY), ("user", t - 1 * DAY)])
    add_events(tracker, "long-session", [("session_started", t - 40 * DAY), ("user", t - 40 * DAY),
                                         ("user", t - 1 * DAY)])
    add_events(tracker, "old-open", [("session_started", t - 60 * DAY), ("pause", t - 60 * DAY)])
    add_events(tracker, "pending-resume", [("session_started", t - 60 * DAY), ("pause", t - 60 * DAY)])
    add_events(tracker, "recent", [("session_started", t - 5 * DAY), ("user", t - 5 * DAY)])
    return {"store": store, "outbox": outbox, "channel": channel, "old_open": old_open.id,
            "old_resolved": old_resolved.id, "pending_resume": pending_resume.id, "recent": recent.id,
            "old_pending": old_pending, "old_sent": old_sent, "recent_sent": recent_sent}


def test_purge_deletes_exactly_what_is_older_than_the_period(db_url: str, clock: Clock, tmp_path: Path) -> None:
    tracker = tracker_db(db_url)
    data = fill(db_url, clock, tracker)
    lines: list[str] = []
    spool = tmp_path / "spool"
    spool.mkdir()
    (spool / "old.bad").write_text("{}")
    os.utime(spool / "old.bad", (clock.now.timestamp() - 40 * DAY,) * 2)
    retention = Retention(data["store"].database, 30, tracker=tracker, spool_dir=spool, now=clock,
                          progress=lines.append)

    preview = retention.run(dry_run=True)
    assert events_of(tracker, "idle"), "a dry run deletes nothing"
    assert data["store"].get(data["old_resolved"]) is not None

    report = retention.run()
    assert report == preview, "the dry run counts exactly what the purge deletes"
    assert report == PurgeReport(tracker_events=5, tracker_conversations=2, tickets=1, outbox=1, inbound=1, memos=1,
                                 payloads=1, sessions=1, spool_files=1)
    assert any("tracker store" in line for line in lines) and any("handoff database" in line for line in lines)

    store, outbox = data["store"], data["outbox"]
    assert store.get(data["old_resolved"]) is None
    assert store.get(data["old_open"]) is not None, "open tickets stay"
    assert store.get(data["pending_resume"]) is not None, "a pending bot resume keeps its ticket"
    assert store.get(data["recent"]) is not None
    assert outbox.get(data["old_sent"]) is None
    assert outbox.get(data["old_pending"]) is not None, "messages still being delivered stay"
    assert outbox.get(data["recent_sent"]) is not None
    assert data["channel"].recall("zalo", "old-resolved", "choices", dt.timedelta(days=365)) is None

    assert events_of(tracker, "idle") == [], "an idle conversation goes whole"
    assert events_of(tracker, "active") == ["session_started", "user"], "only the earlier session of an active one"
    assert len(events_of(tracker, "long-session")) == 3, "the session in use stays"
    assert events_of(tracker, "old-open") == ["session_started", "pause"], "an open ticket keeps its conversation"
    assert len(events_of(tracker, "pending-resume")) == 2
    assert len(events_of(tracker, "recent")) == 2
    assert not (spool / "old.bad").exists()

    assert retention.run() == PurgeReport(), "a second run finds nothing"


def test_desk_worker_purges_hourly_and_audits(tmp_path: Path, clock: Clock) -> None:
    from tests.unit.console_client import make_desk

    desk = make_desk(tmp_path, clock)
    tracker = tracker_db(f"sqlite:///{tmp_path / 'tracker.db'}")  # the default tracker file in the data dir
    t = clock.now.timestamp()
    add_events(tracker, "idle", [("session_started", t - 60 * DAY), ("user", t - 60 * DAY)])
    channel = ChannelStore.from_url(f"sqlite:///{tmp_path / 'handoff.db'}", now=clock)
    clock.now -= dt.timedelta(days=40)
    channel.remember("zalo", "someone", "location", {"latitude": 1})
    clock.now += dt.timedelta(days=40)
    assert asyncio.run(desk.worker.purge_once()) == 0
    assert events_of(tracker, "idle") == []
    assert channel.recall("zalo", "someone", "location", dt.timedelta(days=365)) is None


def test_make_purge_command_dry_run_and_run(tmp_path: Path, clock: Clock, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'handoff.db'}"
    monkeypatch.setenv("HELPLINE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("HELPLINE_CONFIG", str(tmp_path / "none.yml"))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("HELPLINE_TRACKER_DB_URL", raising=False)
    tracker = tracker_db(f"sqlite:///{tmp_path / 'tracker.db'}")
    fill(url, clock, tracker)  # July 2025: all of it is far older than 30 days by now

    assert main(["--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "dry run, nothing is deleted" in out and "would delete" in out and "purge: done" in out
    assert events_of(tracker, "idle")

    assert main(["--days", "30"]) == 0
    out = capsys.readouterr().out
    assert "deleted" in out and "tracker events: " in out
    assert events_of(tracker, "idle") == []
    assert main(["--days", "0"]) == 2, "a non-positive period is refused"
