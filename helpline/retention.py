"""Retention: delete conversation data older than ``HELPLINE_RETENTION_DAYS`` (default 30).

``make purge`` (``python -m helpline.retention [--days N] [--dry-run]``) runs it by hand or
from cron; the handoff service also runs it every hour. What goes (see docs/privacy.md):

- Rasa tracker store (table ``events``): conversations idle for longer than the period are
  deleted whole; in an active conversation, the events of earlier sessions older than the
  period (the bot only reads the current session). A conversation whose person has an open
  ticket, or whose bot resume is pending, is kept whole.
- Tickets resolved longer ago, with transcripts, notes and work state (never open ones).
- Outbox messages sent or failed longer ago (pending ones are still being delivered).
- Channel rows: the dedupe journal, per-person memos and long button payloads.
- Expired staff sessions, and unreadable spooled ticket requests.
- Unanswered questions recorded for the handbook's editors (``kb_unanswered``, masked already).

Kept: the audit log (staff actions and ticket numbers, no user data) and channel tokens.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path

from helpline.channels.outbox import PURGE_WHERE as OUTBOX_PURGE_WHERE
from helpline.channels.outbox import SCHEMA as OUTBOX_SCHEMA
from helpline.channels.store import SCHEMA as CHANNEL_SCHEMA
from helpline.db import Database
from helpline.errors import HelplineError
from helpline.handoff.accounts import SESSIONS_PURGE_WHERE
from helpline.handoff.models import utc_now
from helpline.handoff.schema import SCHEMA as HANDOFF_SCHEMA
from helpline.handoff.spool import TicketSpool
from helpline.handoff.store import PURGE_WHERE
from helpline.settings import Settings

PROGRESS_EVERY = 500
Progress = Callable[[str], None]


@dataclass
class PurgeReport:
    tracker_events: int = 0
    tracker_conversations: int = 0
    tickets: int = 0
    outbox: int = 0
    inbound: int = 0
    memos: int = 0
    payloads: int = 0
    sessions: int = 0
    spool_files: int = 0
    unanswered: int = 0

    @property
    def total(self) -> int:
        return sum(getattr(self, f.name) for f in fields(self) if f.name != "tracker_conversations")

    def summary(self) -> str:
        return ", ".join(f"{f.name.replace('_', ' ')}: {getattr(self, f.name)}" for f in fields(self))


def _table_exists(db: Database, name: str) -> bool:
    with db.transaction("look for a table", write=False) as q:
        if db.dialect.is_sqlite:
            return q.one("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)) is not None
        return q.one("SELECT to_regclass(?)", (name,))[0] is not None  # type: ignore[index]


def tracker_database(settings: Settings) -> Database | None:
    """The Rasa tracker store, if there is one to purge (a missing SQLite file is not created)."""
    url = settings.tracker_url
    if url.startswith("sqlite:///") and not Path(url[len("sqlite:///"):]).is_file():
        return None
    return Database.from_url(url, wal=False)


class Retention:
    """One purge over the handoff database (tickets, outbox, channel rows, sessions) and the tracker store."""

    def __init__(self, handoff: Database, days: float, *, tracker: Database | None = None,
                 spool_dir: Path | None = None, session_idle: dt.timedelta = dt.timedelta(minutes=60),
                 now: Callable[[], dt.datetime] = utc_now, progress: Progress | None = None) -> None:
        if days <= 0:
            raise ValueError("the retention period must be positive")
        self.handoff = handoff
        self.tracker = tracker
        self.spool_dir = spool_dir
        self.days = days
        self.session_idle = session_idle
        self._now = now
        self._progress = progress or (lambda _line: None)

    @classmethod
    def from_settings(cls, settings: Settings, days: float | None = None, progress: Progress | None = None
                      ) -> Retention:
        handoff = Database.from_url(settings.handoff_db_url, schema=HANDOFF_SCHEMA + OUTBOX_SCHEMA + CHANNEL_SCHEMA)
        return cls(handoff, settings.retention_days if days is None else days, tracker=tracker_database(settings),
                   spool_dir=TicketSpool.in_data_dir(settings.data_dir).directory,
                   session_idle=dt.timedelta(minutes=settings.console_idle_minutes), progress=progress)

    @property
    def cutoff(self) -> dt.datetime:
        return self._now() - dt.timedelta(days=self.days)

    def run(self, dry_run: bool = False) -> PurgeReport:
        report = PurgeReport()
        verb = "would delete" if dry_run else "deleted"
        self._purge_handoff(report, dry_run)
        self._progress(f"handoff database: {verb} {report.tickets} tickets, {report.outbox} outbox messages, "
                       f"{report.inbound + report.memos + report.payloads} channel rows, {report.sessions} sessions")
        if self.tracker is not None:
            self._purge_tracker(report, dry_run)
            self._progress(f"tracker store: {verb} {report.tracker_events} events "
                           f"({report.tracker_conversations} conversations touched)")
        self._purge_spool(report, dry_run)
        return report

    # -- handoff database -----------------------------------------------------------------

    def _purge_handoff(self, report: PurgeReport, dry_run: bool) -> None:
        d = self.handoff.dialect
        cutoff = d.ts(self.cutoff)
        now = self._now()
        rules: list[tuple[str, str, str, tuple[object, ...]]] = [
            ("tickets", "handoff_tickets", PURGE_WHERE, (cutoff,)),
            ("outbox", "outbox", OUTBOX_PURGE_WHERE, (cutoff,)),
            ("inbound", "channel_inbound", "received_at < ?", (cutoff,)),
            ("memos", "channel_memo", "created_at < ?", (cutoff,)),
            ("payloads", "channel_payloads", "created_at < ?", (cutoff,)),
            ("sessions", "staff_sessions", SESSIONS_PURGE_WHERE, (d.ts(now), d.ts(now - self.session_idle))),
            ("unanswered", "kb_unanswered", "asked_at < ?", (cutoff,)),
        ]
        for field_name, table, where, params in rules:
            if not _table_exists(self.handoff, table):
                continue
            with self.handoff.transaction(f"purge {table}", write=not dry_run) as q:
                if dry_run:
                    row = q.one(f"SELECT COUNT(*) FROM {table} WHERE {where}", params)
                    count = int(row[0]) if row else 0
                else:
                    if table == "handoff_tickets":  # transcripts first (PostgreSQL and SQLite alike)
                        q.run(f"DELETE FROM handoff_messages WHERE ticket_id IN (SELECT id FROM {table} WHERE {where})",
                              params)
                    count = q.run(f"DELETE FROM {table} WHERE {where}", params)
            setattr(report, field_name, count)

    def _protected_senders(self) -> set[str]:
        """People whose conversation must stay whole: an open ticket, or a bot resume still to do."""
        if not _table_exists(self.handoff, "handoff_tickets"):
            return set()
        with self.handoff.transaction("list protected conversations", write=False) as q:
            rows = q.all("SELECT DISTINCT sender_id FROM handoff_tickets WHERE status = 'open' OR id IN "
                         "(SELECT ticket_id FROM handoff_ticket_state WHERE resume_pending = 1)")
        return {str(r[0]) for r in rows}

    # -- tracker store ---------------------------------------------------------------------

    def _purge_tracker(self, report: PurgeReport, dry_run: bool) -> None:
        db = self.tracker
        assert db is not None
        if not _table_exists(db, "events"):
            return
        cutoff = self.cutoff.timestamp()  # Rasa stores event times as Unix seconds
        keep = self._protected_senders()
        with db.transaction("find old conversations", write=False) as q:
            rows = q.all("SELECT sender_id, MAX(timestamp), MAX(CASE WHEN type_name = 'session_started' THEN id END) "
                         "FROM events GROUP BY sender_id HAVING MIN(timestamp) < ?", (cutoff,))
        started = time.monotonic()
        for n, (sender_id, last_at, last_session) in enumerate(rows, start=1):
            if sender_id in keep:
                continue
            if last_at is not None and float(last_at) < cutoff:
                where, params = "sender_id = ?", (sender_id,)  # idle for the whole period: all of it
            elif last_session is not None:
                where, params = "sender_id = ? AND id < ? AND timestamp < ?", (sender_id, last_session, cutoff)
            else:
                continue  # one long session still in use
            with db.transaction("purge tracker events", write=not dry_run) as q:
                if dry_run:
                    row = q.one(f"SELECT COUNT(*) FROM events WHERE {where}", params)
                    count = int(row[0]) if row else 0
                else:
                    count = q.run(f"DELETE FROM events WHERE {where}", params)
            report.tracker_events += count
            report.tracker_conversations += 1 if count else 0
            if n % PROGRESS_EVERY == 0:
                self._progress(f"tracker store: {n}/{len(rows)} conversations checked, "
                               f"{report.tracker_events} events so far ({time.monotonic() - started:.0f} s)")

    def _purge_spool(self, report: PurgeReport, dry_run: bool) -> None:
        if self.spool_dir is None or not self.spool_dir.is_dir():
            return
        cutoff = self.cutoff.timestamp()
        for path in self.spool_dir.glob("*.bad"):
            if path.stat().st_mtime < cutoff:
                report.spool_files += 1
                if not dry_run:
                    path.unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m helpline.retention",
                                     description="Delete conversation data older than the retention period.")
    parser.add_argument("--days", type=float, default=None,
                        help="retention period in days (default: HELPLINE_RETENTION_DAYS, 30)")
    parser.add_argument("--dry-run", action="store_true", help="count what would be deleted, delete nothing")
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
        retention = Retention.from_settings(settings, args.days, progress=lambda line: print(f"purge: {line}",
                                                                                             flush=True))
    except (HelplineError, ValueError) as exc:
        print(f"purge: {exc}", file=sys.stderr)
        return 2
    mode = "dry run, nothing is deleted" if args.dry_run else "deleting"
    print(f"purge: conversation data older than {retention.days:g} days (before "
          f"{retention.cutoff:%Y-%m-%d %H:%M} UTC), {mode}", flush=True)
    try:
        report = retention.run(dry_run=args.dry_run)
    except HelplineError as exc:
        print(f"purge: {exc}", file=sys.stderr)
        return 1
    print(f"purge: done ({report.summary()})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
