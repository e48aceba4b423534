"""The handoff ticket store: tickets, transcripts and the staff audit log.

Framework-free and shared by the action server (which opens tickets) and the
handoff service (which lists and resolves them). SQLite by default, PostgreSQL
for deployments with several processes; see :mod:`helpline.handoff.db`.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from helpline.db import Database, Query, UniqueConflict, from_db_ts
from helpline.errors import HandoffError
from helpline.handoff.desk import DeskMixin
from helpline.handoff.feedback import FeedbackMixin
from helpline.handoff.models import (
    AUTHORS,
    FLOOD_REASON,
    PRIORITIES,
    AuditEntry,
    Ticket,
    TicketMessage,
    higher_priority,
    priority_rank,
    utc_now,
)
from helpline.handoff.reports import ReportMixin
from helpline.handoff.schema import SCHEMA
from helpline.handoff.waiting import WaitingMixin
from helpline.ratelimit import Rate

LIST_STATUSES: tuple[str, ...] = ("open", "resolved", "all")
_RANK_SQL = "CASE priority " + " ".join(f"WHEN '{p}' THEN {i}" for i, p in enumerate(PRIORITIES)) + " END"
_ORDER_BY = {
    "open": f"{_RANK_SQL}, created_at, id",
    "resolved": "resolved_at DESC, id DESC",
    # The open queue first, then the most recently resolved.
    "all": f"CASE WHEN status = 'open' THEN {_RANK_SQL} ELSE 9 END, "
    "CASE WHEN status = 'open' THEN created_at END, resolved_at DESC, id",
}
_TICKET_COLS = (
    "id, channel, sender_id, status, priority, reasons, location, "
    "created_at, updated_at, resolved_at, resolved_by"
)
# Resolved before the cutoff (the one parameter). A ticket whose bot resume is still pending
# stays: the retry needs its channel and sender.
PURGE_WHERE = ("status = 'resolved' AND resolved_at < ? AND id NOT IN "
               "(SELECT ticket_id FROM handoff_ticket_state WHERE resume_pending = 1)")
REPEAT_WINDOW = dt.timedelta(minutes=3)
NOT_FORWARDED = "id NOT IN (SELECT ticket_id FROM handoff_reports WHERE forwarded_at IS NOT NULL)"
# New tickets in the whole store per window before the next ones are marked flood-suspect
# (HELPLINE_RATE_LIMIT_NEW_TICKETS); shared by every process, since it is counted in the database.
DEFAULT_NEW_TICKETS = Rate(60, 60.0)
# Transcript lines with their stored mask (LEFT JOIN: lines from before masks were kept have none).
MESSAGE_COLS = "m.ticket_id, m.author, m.text, m.created_at, k.masked"
MESSAGE_FROM = "handoff_messages m LEFT JOIN handoff_message_masks k ON k.message_id = m.id"


def message_row(r: Sequence[Any]) -> TicketMessage:
    return TicketMessage(int(r[0]), r[1], r[2], from_db_ts(r[3]), r[4])


def _require_text(value: str, name: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{name} must be a non-empty string")
    return value


def _check_author(author: str) -> str:
    if author not in AUTHORS:
        raise ValueError(f"unknown author {author!r}; expected one of {', '.join(AUTHORS)}")
    return author


class HandoffStore(DeskMixin, FeedbackMixin, WaitingMixin, ReportMixin):
    """Handoff tickets, their transcripts and the staff audit log.

    Build one with :meth:`from_url`. The schema is created on first use. A
    store may be shared between threads: each call uses its own connection.
    """

    def __init__(self, database: Database, now: Callable[[], dt.datetime] = utc_now,
                 new_tickets: Rate | None = DEFAULT_NEW_TICKETS) -> None:
        self._db = database
        self._d = database.dialect
        self._now = now
        self.new_tickets = new_tickets

    @classmethod
    def from_url(
        cls, url: str, *, now: Callable[[], dt.datetime] = utc_now, timeout: float = 10.0,
        new_tickets: str | None = None,
    ) -> HandoffStore:
        """Create a store from ``sqlite:///path/to/handoff.db`` or ``postgresql://...``.

        ``sqlite:///rel.db`` is relative to the working directory and
        ``sqlite:////abs/path.db`` absolute; the folder is created when needed.
        ``postgres://`` and ``postgresql+<driver>://`` are accepted too (psycopg v3).

        Args:
            url: The database URL.
            now: Clock returning aware UTC datetimes (tests pass a fake one).
            timeout: Seconds to wait for a locked SQLite file or a PostgreSQL connection.
            new_tickets: Global limit of new tickets, ``"<count>/<seconds>"`` or ``"off"``; by
                default ``HELPLINE_RATE_LIMIT_NEW_TICKETS`` (see :class:`helpline.settings.Settings`).

        Returns:
            A store; nothing is opened until the first call.

        Raises:
            HandoffError: If the URL is not supported or psycopg is missing.
            ConfigError: If the limit is malformed.
        """
        if new_tickets is None:
            from helpline.settings import Settings

            new_tickets = Settings.from_env().rate_limit_new_tickets
        limit = Rate.parse(new_tickets, "HELPLINE_RATE_LIMIT_NEW_TICKETS")
        return cls(Database.from_url(url, timeout=timeout, schema=SCHEMA), now=now, new_tickets=limit)

    @property
    def kind(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return self._db.kind

    @property
    def description(self) -> str:
        """Database kind and location, without credentials (safe to print)."""
        return self._db.description

    # -- internals ----------------------------------------------------------------

    def _ticket(self, row: tuple[Any, ...], messages: tuple[TicketMessage, ...] = (),
                last: TicketMessage | None = None) -> Ticket:
        return Ticket(
            id=int(row[0]), channel=row[1], sender_id=row[2], status=row[3], priority=row[4],
            reasons=tuple(json.loads(row[5])), location=json.loads(row[6]) if row[6] else None,
            created_at=from_db_ts(row[7]), updated_at=from_db_ts(row[8]),
            resolved_at=from_db_ts(row[9]) if row[9] is not None else None, resolved_by=row[10],
            messages=messages,
            last_message=last if last is not None else (messages[-1] if messages else None),
        )

    def _load(self, q: Query, ticket_id: int) -> Ticket | None:
        row = q.one(f"SELECT {_TICKET_COLS} FROM handoff_tickets WHERE id = ?", (ticket_id,))
        if row is None:
            return None
        rows = q.all(f"SELECT {MESSAGE_COLS} FROM {MESSAGE_FROM} WHERE m.ticket_id = ? ORDER BY m.id", (ticket_id,))
        return self._ticket(row, tuple(message_row(r) for r in rows))

    # -- public API -------------------------------------------------------------

    def ping(self) -> None:
        """Check that the database is reachable (creating the schema if needed).

        Raises:
            HandoffError: If it is not.
        """
        with self._db.transaction("reach the database", write=False) as q:
            q.one("SELECT 1")

    def open_ticket(
        self,
        channel: str,
        sender_id: str,
        priority: str,
        reasons: Sequence[str] = (),
        last_messages: Sequence[tuple[str, str]] = (),
        location: Mapping[str, Any] | None = None,
    ) -> Ticket:
        """Open a ticket for a person, or add to the one already open for them.

        An existing open ticket gets the new messages and reasons appended, its
        priority raised if the new one is more urgent, and a newer location.

        This is the one place tickets are created, so the global limit lives here: beyond
        ``new_tickets`` new tickets in its window (all senders, all processes), a new ticket is
        still recorded, with the reason ``flood_suspect``, but staff are not alerted about it and
        it is listed after the others (a burst from many sender ids cannot bury real cases).
        The caller still gives the person the emergency reply (111/113) whatever happens here.

        Args:
            channel: Channel name, e.g. ``"zalo"``.
            sender_id: The person's id on that channel.
            priority: ``immediate``, ``urgent``, ``concern`` or ``normal``.
            reasons: Why the ticket was opened (detector codes, "asked for a person").
            last_messages: Recent ``(author, text)`` pairs for the transcript.
            location: A shared location, if any (JSON-serialisable mapping).

        Returns:
            The open ticket with its full transcript.

        Raises:
            ValueError: On an unknown priority or author, or an empty id.
            HandoffError: If the database fails.
        """
        priority_rank(priority)
        _require_text(channel, "channel")
        _require_text(sender_id, "sender_id")
        messages = [(_check_author(a), str(t)) for a, t in last_messages]
        reasons = [str(r) for r in reasons]
        try:
            loc = json.dumps(dict(location), ensure_ascii=False) if location is not None else None
        except (TypeError, ValueError) as exc:
            raise ValueError(f"location must be a JSON-serialisable mapping ({exc})") from None
        for _ in range(3):
            try:
                return self._open_once(channel, sender_id, priority, reasons, messages, loc)
            except UniqueConflict:
                continue  # another thread opened it first; retrying appends to theirs
        raise HandoffError("handoff store: could not open a ticket after repeated conflicts")

    def _open_once(self, channel: str, sender_id: str, priority: str, reasons: list[str],
                   messages: list[tuple[str, str]], loc: str | None) -> Ticket:
        lock = "" if self._d.is_sqlite else " FOR UPDATE"
        with self._db.transaction("open a ticket") as q:
            now = self._d.ts(self._now())
            row = q.one(
                "SELECT id, priority, reasons FROM handoff_tickets "
                f"WHERE channel = ? AND sender_id = ? AND status = 'open'{lock}",
                (channel, sender_id),
            )
            if row is None:
                flood = self._over_new_ticket_limit(q)
                unique = list(dict.fromkeys([*reasons, *([FLOOD_REASON] if flood else [])]))
                ticket_id = q.insert(
                    "INSERT INTO handoff_tickets (channel, sender_id, status, priority, reasons, location, "
                    "created_at, updated_at) VALUES (?, ?, 'open', ?, ?, ?, ?, ?)",
                    (channel, sender_id, priority, json.dumps(unique, ensure_ascii=False), loc, now, now))
                if flood:
                    # Counted as notified: the staff alert is not sent (the queue still shows it).
                    q.run("INSERT INTO handoff_ticket_state (ticket_id, notified_at) VALUES (?, ?)", (ticket_id, now))
                    self._audit_q(q, "system", FLOOD_REASON, ticket_id, now)
            else:
                ticket_id = int(row[0])
                merged = list(dict.fromkeys([*json.loads(row[2]), *reasons]))
                q.run(
                    "UPDATE handoff_tickets SET priority = ?, reasons = ?, "
                    "location = COALESCE(?, location), updated_at = ? WHERE id = ?",
                    (higher_priority(row[1], priority), json.dumps(merged, ensure_ascii=False), loc, now,
                     ticket_id),
                )
            for author, text in messages:
                self._insert_message(q, ticket_id, author, text, now)
            ticket = self._load(q, ticket_id)
        assert ticket is not None
        return ticket

    def _over_new_ticket_limit(self, q: Query) -> bool:
        """Whether the global limit of new tickets is reached (counted over the store, so over all processes)."""
        rate = self.new_tickets
        if rate is None:
            return False
        since = self._d.ts(self._now() - dt.timedelta(seconds=rate.seconds))
        row = q.one("SELECT COUNT(*) FROM handoff_tickets WHERE created_at >= ?", (since,))
        return int(row[0] if row else 0) >= rate.count

    def add_message(self, ticket_id: int, author: str, text: str) -> TicketMessage:
        """Append a line to a ticket's transcript (also allowed after resolution).

        Raises:
            ValueError: On an unknown author.
            HandoffError: If the ticket does not exist or the database fails.
        """
        _check_author(author)
        with self._db.transaction("add a message") as q:
            now = self._now()
            stamp = self._d.ts(now)
            if not q.run("UPDATE handoff_tickets SET updated_at = ? WHERE id = ?", (stamp, ticket_id)):
                raise HandoffError(f"ticket {ticket_id} does not exist")
            masked = self._insert_message(q, ticket_id, author, str(text), stamp)
        return TicketMessage(int(ticket_id), author, str(text), now, masked)

    def get(self, ticket_id: int) -> Ticket | None:
        """The ticket with its full transcript, or None if there is none."""
        with self._db.transaction("read a ticket", write=False) as q:
            return self._load(q, ticket_id)

    def add_user_message(self, channel: str, sender_id: str, text: str,
                         repeat_window: dt.timedelta = REPEAT_WINDOW) -> int | None:
        """Append what the person wrote to their open ticket; the ticket id, or None if none is open.

        A text identical to the ticket's last line, written by them less than ``repeat_window``
        ago, is the same message seen twice (a platform redelivery, a replay after a crash, or
        the line the ticket was just opened with) and is not added again.
        """
        find = "SELECT id FROM handoff_tickets WHERE channel = ? AND sender_id = ? AND status = 'open'"
        # Called for every message the bot answers, and nearly always nobody has a ticket: look first
        # without SQLite's write lock.
        with self._db.transaction("look for an open ticket", write=False) as q:
            if q.one(find, (channel, sender_id)) is None:
                return None
        with self._db.transaction("add a message to an open ticket") as q:
            row = q.one(find, (channel, sender_id))
            if row is None:
                return None
            ticket_id = int(row[0])
            now = self._now()
            if self._repeats_last_line(q, ticket_id, text, now, repeat_window):
                return ticket_id
            stamp = self._d.ts(now)
            q.run("UPDATE handoff_tickets SET updated_at = ? WHERE id = ?", (stamp, ticket_id))
            self._insert_message(q, ticket_id, "user", text, stamp)
            return ticket_id

    @staticmethod
    def _repeats_last_line(q: Query, ticket_id: int, text: str, now: dt.datetime,
                           window: dt.timedelta = REPEAT_WINDOW) -> bool:
        """The ticket's last line is this text from the person, written less than ``window`` ago."""
        last = q.one("SELECT author, text, created_at FROM handoff_messages WHERE ticket_id = ? "
                     "ORDER BY id DESC LIMIT 1", (ticket_id,))
        return last is not None and last[0] == "user" and last[1] == text and now - from_db_ts(last[2]) < window

    def open_ticket_for(self, channel: str, sender_id: str) -> Ticket | None:
        """The person's open ticket with its transcript, or None."""
        with self._db.transaction("find an open ticket", write=False) as q:
            row = q.one(
                "SELECT id FROM handoff_tickets WHERE channel = ? AND sender_id = ? AND status = 'open'",
                (channel, sender_id),
            )
            return self._load(q, int(row[0])) if row else None

    def list_tickets(self, status: str = "open", limit: int = 100) -> list[Ticket]:
        """Tickets with their last message (not the full transcript).

        Open tickets come most urgent first, then longest waiting first.
        Resolved tickets come most recently resolved first; ``"all"`` lists the
        open queue before the resolved ones.

        Args:
            status: ``"open"``, ``"resolved"`` or ``"all"``.
            limit: Maximum number of tickets (positive).

        Raises:
            ValueError: On an unknown status or a non-positive limit.
            HandoffError: If the database fails.
        """
        if status not in LIST_STATUSES:
            raise ValueError(f"unknown status {status!r}; expected one of {', '.join(LIST_STATUSES)}")
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ValueError("limit must be a positive integer")
        where = "" if status == "all" else "WHERE status = ?"
        params: tuple[Any, ...] = () if status == "all" else (status,)
        with self._db.transaction("list tickets", write=False) as q:
            rows = q.all(f"SELECT {_TICKET_COLS} FROM handoff_tickets {where} ORDER BY {_ORDER_BY[status]} "
                         "LIMIT ?", (*params, limit))
            last: dict[int, TicketMessage] = {}
            if rows:
                ids = [int(r[0]) for r in rows]
                marks = ", ".join("?" for _ in ids)
                for r in q.all(f"SELECT {MESSAGE_COLS} FROM {MESSAGE_FROM} WHERE m.id IN "
                               f"(SELECT MAX(id) FROM handoff_messages WHERE ticket_id IN ({marks}) "
                               "GROUP BY ticket_id)", ids):
                    last[int(r[0])] = message_row(r)
        return [self._ticket(r, last=last.get(int(r[0]))) for r in rows]

    def resolve(self, ticket_id: int, by: str) -> Ticket:
        """Close a ticket (idempotent) and record who did it in the audit log.

        Raises:
            ValueError: If ``by`` is empty.
            HandoffError: If the ticket does not exist or the database fails.
        """
        _require_text(by, "by")
        with self._db.transaction("resolve a ticket") as q:
            now = self._d.ts(self._now())
            if q.run("UPDATE handoff_tickets SET status = 'resolved', resolved_at = ?, resolved_by = ?, "
                     "updated_at = ? WHERE id = ? AND status = 'open'", (now, by, now, ticket_id)):
                q.run("INSERT INTO audit_log (who, action, ticket_id, at) VALUES (?, 'resolve', ?, ?)",
                      (by, ticket_id, now))
            ticket = self._load(q, ticket_id)
            if ticket is None:
                raise HandoffError(f"ticket {ticket_id} does not exist")
            return ticket

    def _delete_where(self, what: str, where: str, params: Sequence[Any]) -> int:
        with self._db.transaction(what) as q:
            q.run(
                "DELETE FROM handoff_messages WHERE ticket_id IN "
                f"(SELECT id FROM handoff_tickets WHERE {where})",
                params,
            )
            return q.run(f"DELETE FROM handoff_tickets WHERE {where}", params)

    def delete_sender(self, channel: str | None, sender_id: str) -> int:
        """Erase a person's tickets and transcripts (on every channel if ``channel`` is None).

        Audit entries keep only ticket ids, so they stay. A ticket with a report already forwarded
        to the police stays too (:mod:`helpline.handoff.reports`; the retention period still applies).

        Returns:
            The number of tickets deleted.
        """
        _require_text(sender_id, "sender_id")
        what = "delete a sender's tickets"
        if channel is None:
            return self._delete_where(what, f"sender_id = ? AND {NOT_FORWARDED}", (sender_id,))
        return self._delete_where(what, f"sender_id = ? AND channel = ? AND {NOT_FORWARDED}", (sender_id, channel))

    def purge_resolved(self, older_than: dt.timedelta) -> int:
        """Delete tickets resolved more than ``older_than`` ago, with their transcripts.

        Returns:
            The number of tickets deleted.
        """
        if older_than < dt.timedelta(0):
            raise ValueError("older_than must not be negative")
        cutoff = self._d.ts(self._now() - older_than)
        return self._delete_where("purge resolved tickets", PURGE_WHERE, (cutoff,))

    def audit(self, actor: str, action: str, ticket_id: int | None = None) -> None:
        """Record that ``actor`` did ``action`` (never put message text or tokens here)."""
        _require_text(actor, "actor")
        _require_text(action, "action")
        with self._db.transaction("write the audit log") as q:
            q.run("INSERT INTO audit_log (who, action, ticket_id, at) VALUES (?, ?, ?, ?)",
                  (actor, action, ticket_id, self._d.ts(self._now())))

    def audit_entries(self, ticket_id: int | None = None, limit: int = 100) -> list[AuditEntry]:
        """The newest audit entries, optionally only those about one ticket."""
        where, params = ("WHERE ticket_id = ?", (ticket_id,)) if ticket_id is not None else ("", ())
        with self._db.transaction("read the audit log", write=False) as q:
            rows = q.all(
                f"SELECT who, action, ticket_id, at FROM audit_log {where} ORDER BY id DESC LIMIT ?",
                (*params, limit),
            )
        return [
            AuditEntry(r[0], r[1], int(r[2]) if r[2] is not None else None, from_db_ts(r[3])) for r in rows
        ]

    def set_location(self, ticket_id: int, location: Mapping[str, Any]) -> bool:
        """Attach a location the person shared to their open ticket (the newest one wins).

        Returns:
            False if the ticket is not open (nothing changed).

        Raises:
            ValueError: If the location is not a JSON-serialisable mapping.
            HandoffError: If the database fails.
        """
        try:
            loc = json.dumps(dict(location), ensure_ascii=False)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"location must be a JSON-serialisable mapping ({exc})") from None
        with self._db.transaction("attach a location") as q:
            return bool(q.run("UPDATE handoff_tickets SET location = ?, updated_at = ? "
                              "WHERE id = ? AND status = 'open'", (loc, self._d.ts(self._now()), ticket_id)))
