"""Staff-desk operations on tickets: claim and transfer, notes, staff replies, escalation, bot resume, stats.

:class:`DeskMixin` is a base class of :class:`helpline.handoff.store.HandoffStore`, so these are
store methods sharing its database, clock and audit log. The work state of a ticket lives in its
own table (``handoff_ticket_state``), created lazily per ticket.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from helpline.db import Database, Dialect, Query, from_db_ts
from helpline.errors import HandoffError
from helpline.handoff.feedback import check_label
from helpline.handoff.models import (
    FLOOD_REASON,
    PRIORITIES,
    QUIET_REPORT_REASONS,
    DeskConflict,
    DeskStats,
    Note,
    QueueItem,
    Ticket,
    TicketMessage,
    TicketState,
    mask_for_staff,
)

if TYPE_CHECKING:
    from helpline.handoff.store import HandoffStore

MAX_STAFF_TEXT = 2000
# A queue listing reads this much of each last message (previews show far less).
LISTING_TEXT_CHARS = 500
RESUME_LEASE_SECONDS = 30
MAX_RESUME_BACKOFF_SECONDS = 300
# Same columns and order as the store's _TICKET_COLS (a unit test keeps them in step).
TICKET_FIELDS = ("id", "channel", "sender_id", "status", "priority", "reasons", "location",
                 "created_at", "updated_at", "resolved_at", "resolved_by")
STATE_FIELDS = ("assigned_to", "assigned_at", "first_staff_reply_at", "escalated_at", "notified_at",
                "resume_pending", "resume_attempts", "resume_error", "resumed_at")
_T = ", ".join(f"t.{c}" for c in TICKET_FIELDS)
_S = ", ".join(f"s.{c}" for c in STATE_FIELDS)
_JOIN = "handoff_tickets t LEFT JOIN handoff_ticket_state s ON s.ticket_id = t.id"
_RANK = "CASE t.priority " + " ".join(f"WHEN '{p}' THEN {i}" for i, p in enumerate(PRIORITIES)) + " END"
# Flood-suspect tickets (see HandoffStore.open_ticket) after the others: a burst cannot bury a real case.
# One parameter, FLOOD_PATTERN (a literal % would clash with psycopg's placeholders).
_FLOOD = "CASE WHEN t.reasons LIKE ? THEN 1 ELSE 0 END"
FLOOD_PATTERN = f'%"{FLOOD_REASON}"%'
_QUEUE_ORDER = (f"CASE WHEN t.status = 'open' THEN 0 ELSE 1 END, CASE WHEN t.status = 'open' THEN {_FLOOD} END, "
                f"CASE WHEN t.status = 'open' THEN {_RANK} END, "
                "CASE WHEN t.status = 'open' THEN t.created_at END, t.resolved_at DESC, t.id")
_ENSURE_STATE = "INSERT INTO handoff_ticket_state (ticket_id) VALUES (?) ON CONFLICT (ticket_id) DO NOTHING"


def _ts(value: Any) -> dt.datetime | None:
    return from_db_ts(value) if value is not None else None


def _state(ticket_id: int, row: tuple[Any, ...]) -> TicketState:
    return TicketState(ticket_id, row[0], _ts(row[1]), _ts(row[2]), _ts(row[3]), _ts(row[4]),
                       bool(row[5]), int(row[6] or 0), row[7], _ts(row[8]))


def _staff_text(text: str, what: str) -> str:
    text = str(text).strip()
    if not text:
        raise ValueError(f"{what} must not be empty")
    if len(text) > MAX_STAFF_TEXT:
        raise ValueError(f"{what} is longer than {MAX_STAFF_TEXT} characters")
    return text



def last_messages(q: Query, ticket_ids: list[int]) -> dict[int, TicketMessage]:
    """The last message of each ticket, for a listing: only the stored mask and the first characters."""
    if not ticket_ids:
        return {}
    marks = ", ".join("?" for _ in ticket_ids)
    rows = q.all("SELECT m.ticket_id, m.author, SUBSTR(m.text, 1, ?), m.created_at, k.masked "
                 "FROM handoff_messages m LEFT JOIN handoff_message_masks k ON k.message_id = m.id "
                 "WHERE m.id IN (SELECT MAX(id) FROM handoff_messages "
                 f"WHERE ticket_id IN ({marks}) GROUP BY ticket_id)", [LISTING_TEXT_CHARS, *ticket_ids])
    return {int(r[0]): TicketMessage(int(r[0]), r[1], r[2], from_db_ts(r[3]), r[4]) for r in rows}

class DeskMixin:
    """Ticket work for the staff console. Needs the store's ``_db``, ``_d``, ``_now`` and helpers."""

    _db: Database
    _d: Dialect
    _now: Callable[[], dt.datetime]

    @property
    def database(self) -> Database:
        """The database this store uses (staff accounts share it)."""
        return self._db

    @property
    def clock(self) -> Callable[[], dt.datetime]:
        """The store's clock (tests pass a settable one; staff accounts share it)."""
        return self._now

    def _store(self) -> HandoffStore:
        return self  # type: ignore[return-value]

    def _row_ticket(self, row: tuple[Any, ...], last: TicketMessage | None = None) -> Ticket:
        return self._store()._ticket(row[: len(TICKET_FIELDS)], last=last)

    def _open_row(self, q: Query, ticket_id: int) -> tuple[Any, ...]:
        lock = "" if self._d.is_sqlite else " FOR UPDATE"
        row = q.one(f"SELECT status FROM handoff_tickets WHERE id = ?{lock}", (ticket_id,))
        if row is None:
            raise HandoffError(f"ticket {ticket_id} does not exist")
        return row

    def _touch(self, q: Query, ticket_id: int, stamp: Any) -> None:
        q.run("UPDATE handoff_tickets SET updated_at = ? WHERE id = ?", (stamp, ticket_id))

    def _audit_q(self, q: Query, who: str, action: str, ticket_id: int | None, stamp: Any) -> None:
        q.run("INSERT INTO audit_log (who, action, ticket_id, at) VALUES (?, ?, ?, ?)", (who, action, ticket_id, stamp))

    def _insert_message(self, q: Query, ticket_id: int, author: str, text: str, stamp: Any) -> str:
        """Store a transcript line with its masked form, masked here once; returns the masked text."""
        message_id = q.insert("INSERT INTO handoff_messages (ticket_id, author, text, created_at) VALUES (?, ?, ?, ?)",
                              (ticket_id, author, text, stamp))
        masked = mask_for_staff(text)
        q.run("INSERT INTO handoff_message_masks (message_id, masked) VALUES (?, ?)", (message_id, masked))
        return masked

    # -- reading ----------------------------------------------------------------------------

    def ticket_state(self, ticket_id: int) -> TicketState:
        """The work state of a ticket (all empty if nobody has touched it yet)."""
        with self._db.transaction("read a ticket's state", write=False) as q:
            row = q.one(f"SELECT {', '.join(STATE_FIELDS)} FROM handoff_ticket_state WHERE ticket_id = ?",
                        (ticket_id,))
        return _state(ticket_id, row) if row else TicketState(ticket_id)

    def _queue_where(self, status: str, priority: str | None, channel: str | None, assigned_to: str | None,
                     unassigned: bool, escalated: bool | None, involving: str | None) -> tuple[str, list[Any]]:
        where: list[str] = []
        params: list[Any] = []
        if status in ("open", "resolved"):
            where.append("t.status = ?")
            params.append(status)
        elif status != "all":
            raise ValueError(f"unknown status {status!r}")
        for column, value in (("t.priority", priority), ("t.channel", channel), ("s.assigned_to", assigned_to)):
            if value:
                where.append(f"{column} = ?")
                params.append(value)
        if unassigned:
            where.append("s.assigned_to IS NULL")
        if escalated is not None:
            where.append("s.escalated_at IS NOT NULL" if escalated else "s.escalated_at IS NULL")
        if involving:
            where.append("(t.status = 'open' OR s.assigned_to = ? OR t.resolved_by = ?)")
            params.extend([involving, involving])
        return (f"WHERE {' AND '.join(where)} " if where else ""), params

    def queue_count(self, status: str = "open", *, priority: str | None = None, channel: str | None = None,
                    assigned_to: str | None = None, unassigned: bool = False, escalated: bool | None = None,
                    involving: str | None = None) -> int:
        """How many tickets :meth:`queue` would list without a limit (same filters)."""
        clause, params = self._queue_where(status, priority, channel, assigned_to, unassigned, escalated, involving)
        with self._db.transaction("count the queue", write=False) as q:
            row = q.one(f"SELECT COUNT(*) FROM {_JOIN} {clause}", params)
        return int(row[0]) if row else 0

    def queue(self, status: str = "open", *, priority: str | None = None, channel: str | None = None,
              assigned_to: str | None = None, unassigned: bool = False, escalated: bool | None = None,
              involving: str | None = None, limit: int = 200, offset: int = 0) -> list[QueueItem]:
        """Tickets with their work state and last message: open ones by risk, then longest waiting.

        Args:
            status: ``open``, ``resolved`` or ``all``.
            priority, channel: Keep only this priority / channel.
            assigned_to: Keep only tickets held by this staff member.
            unassigned: Keep only tickets nobody holds.
            escalated: Keep only escalated (True) or not escalated (False) tickets.
            involving: Keep open tickets, and closed ones this staff member held or resolved.
            limit: Maximum number of tickets (a page); ``offset``: how many to skip.
        """
        clause, params = self._queue_where(status, priority, channel, assigned_to, unassigned, escalated, involving)
        with self._db.transaction("list the queue", write=False) as q:
            rows = q.all(f"SELECT {_T}, {_S} FROM {_JOIN} {clause}ORDER BY {_QUEUE_ORDER} LIMIT ? OFFSET ?",
                         (*params, FLOOD_PATTERN, int(limit), max(0, int(offset))))
            last = last_messages(q, [int(r[0]) for r in rows])
        n = len(TICKET_FIELDS)
        return [QueueItem(self._row_ticket(r, last.get(int(r[0]))), _state(int(r[0]), r[n:])) for r in rows]

    def notes(self, ticket_id: int) -> list[Note]:
        with self._db.transaction("read notes", write=False) as q:
            rows = q.all("SELECT id, ticket_id, author, text, created_at FROM handoff_notes WHERE ticket_id = ? "
                         "ORDER BY id", (ticket_id,))
        return [Note(int(r[0]), int(r[1]), r[2], r[3], from_db_ts(r[4])) for r in rows]

    def channels(self) -> list[str]:
        """The channels that have tickets (for the queue filter)."""
        with self._db.transaction("list channels", write=False) as q:
            return [r[0] for r in q.all("SELECT DISTINCT channel FROM handoff_tickets ORDER BY channel")]

    def change_marker(self) -> tuple[int, str, int]:
        """Cheap fingerprint of the tickets: changes whenever a ticket or message is added, changed or deleted."""
        with self._db.transaction("check for changes", write=False) as q:
            row = q.one("SELECT COUNT(*), MAX(updated_at) FROM handoff_tickets") or (0, None)
            msg = q.one("SELECT MAX(id) FROM handoff_messages") or (None,)
        stamp = from_db_ts(row[1]).isoformat() if row[1] is not None else ""
        return int(row[0]), stamp, int(msg[0] or 0)

    def changed_since(self, stamp: str) -> list[int]:
        """Ids of tickets updated at or after an ISO timestamp from :meth:`change_marker`."""
        if not stamp:
            return []
        since = self._d.ts(dt.datetime.fromisoformat(stamp))
        with self._db.transaction("list changed tickets", write=False) as q:
            return [int(r[0]) for r in q.all("SELECT id FROM handoff_tickets WHERE updated_at >= ?", (since,))]

    # -- staff actions ------------------------------------------------------------------------

    def add_staff_reply(self, ticket_id: int, by: str, text: str) -> TicketMessage:
        """Record a staff reply on an open ticket; the first one stops escalation. Audited.

        Raises:
            DeskConflict: If the ticket is closed.
            ValueError: If the text is empty or too long.
        """
        text = _staff_text(text, "reply")
        with self._db.transaction("add a staff reply") as q:
            if self._open_row(q, ticket_id)[0] != "open":
                raise DeskConflict(f"ticket {ticket_id} is closed")
            now = self._now()
            stamp = self._d.ts(now)
            masked = self._insert_message(q, ticket_id, "staff", text, stamp)
            q.run(_ENSURE_STATE, (ticket_id,))
            q.run("UPDATE handoff_ticket_state SET first_staff_reply_at = COALESCE(first_staff_reply_at, ?), "
                  "assigned_at = CASE WHEN assigned_to IS NULL THEN ? ELSE assigned_at END, "
                  "assigned_to = COALESCE(assigned_to, ?) WHERE ticket_id = ?", (stamp, stamp, by, ticket_id))
            self._touch(q, ticket_id, stamp)
            self._audit_q(q, by, "staff_reply", ticket_id, stamp)
        return TicketMessage(ticket_id, "staff", text, now, masked)

    def claim(self, ticket_id: int, by: str, *, force: bool = False) -> TicketState:
        """Take an open ticket. Someone else's ticket needs ``force`` (supervisors). Audited."""
        with self._db.transaction("claim a ticket") as q:
            if self._open_row(q, ticket_id)[0] != "open":
                raise DeskConflict(f"ticket {ticket_id} is closed")
            q.run(_ENSURE_STATE, (ticket_id,))
            holder = q.one("SELECT assigned_to FROM handoff_ticket_state WHERE ticket_id = ?", (ticket_id,))
            if holder and holder[0] and holder[0] != by and not force:
                raise DeskConflict(f"ticket {ticket_id} is held by {holder[0]}")
            stamp = self._d.ts(self._now())
            q.run("UPDATE handoff_ticket_state SET assigned_to = ?, assigned_at = ? WHERE ticket_id = ?",
                  (by, stamp, ticket_id))
            self._touch(q, ticket_id, stamp)
            self._audit_q(q, by, "claim", ticket_id, stamp)
        return self.ticket_state(ticket_id)

    def transfer(self, ticket_id: int, to: str, by: str) -> TicketState:
        """Hand an open ticket to another staff member (the caller checks the account exists). Audited."""
        if not to or not to.strip():
            raise ValueError("transfer needs a staff member")
        with self._db.transaction("transfer a ticket") as q:
            if self._open_row(q, ticket_id)[0] != "open":
                raise DeskConflict(f"ticket {ticket_id} is closed")
            q.run(_ENSURE_STATE, (ticket_id,))
            stamp = self._d.ts(self._now())
            q.run("UPDATE handoff_ticket_state SET assigned_to = ?, assigned_at = ? WHERE ticket_id = ?",
                  (to, stamp, ticket_id))
            self._touch(q, ticket_id, stamp)
            self._audit_q(q, by, f"transfer to={to}", ticket_id, stamp)
        return self.ticket_state(ticket_id)

    def add_note(self, ticket_id: int, by: str, text: str) -> Note:
        """An internal note (never sent to the user). Audited without its text."""
        text = _staff_text(text, "note")
        with self._db.transaction("add a note") as q:
            self._open_row(q, ticket_id)
            now = self._now()
            stamp = self._d.ts(now)
            note_id = q.insert("INSERT INTO handoff_notes (ticket_id, author, text, created_at) VALUES (?, ?, ?, ?)",
                               (ticket_id, by, text, stamp))
            self._touch(q, ticket_id, stamp)
            self._audit_q(q, by, "add_note", ticket_id, stamp)
        return Note(note_id, ticket_id, by, text, now)

    def close_ticket(self, ticket_id: int, by: str, label: str | None = None,
                     note: str | None = None) -> tuple[Ticket, bool]:
        """Resolve a ticket and, in the same transaction, mark the bot's resume as pending. Audited.

        ``label`` (one of :data:`helpline.handoff.models.LABELS`) and ``note`` are the staff
        member's feedback on the bot's safety call, stored with the ticket when this call closes it.

        Returns:
            The ticket and whether this call closed it (False if it was already closed).

        Raises:
            ValueError: Unknown label or a note too long (nothing is changed).
        """
        if label is not None:
            label, note = check_label(label, note)
        with self._db.transaction("resolve a ticket") as q:
            now = self._now()
            stamp = self._d.ts(now)
            closed = q.run("UPDATE handoff_tickets SET status = 'resolved', resolved_at = ?, resolved_by = ?, "
                           "updated_at = ? WHERE id = ? AND status = 'open'", (stamp, by, stamp, ticket_id))
            if closed:
                q.run(_ENSURE_STATE, (ticket_id,))
                # The caller resumes at once; the lease keeps the background retry off it meanwhile.
                lease = self._d.ts(now + dt.timedelta(seconds=RESUME_LEASE_SECONDS))
                q.run("UPDATE handoff_ticket_state SET resume_pending = 1, resume_attempts = 0, resume_error = NULL, "
                      "resume_next_at = ? WHERE ticket_id = ?", (lease, ticket_id))
                self._audit_q(q, by, "resolve", ticket_id, stamp)
                if label is not None:
                    self._store()._write_label(q, ticket_id, by, label, note, stamp)
            ticket = self._store()._load(q, ticket_id)
        if ticket is None:
            raise HandoffError(f"ticket {ticket_id} does not exist")
        return ticket, bool(closed)

    # -- background work ----------------------------------------------------------------------

    def due_resumes(self, limit: int = 20, lease_seconds: float = 60) -> list[Ticket]:
        """Closed tickets whose bot resume is due; leased so a parallel worker skips them."""
        now = self._now()
        with self._db.transaction("claim pending resumes") as q:
            rows = q.all(f"SELECT {_T} FROM {_JOIN} WHERE t.status = 'resolved' AND s.resume_pending = 1 "
                         "AND (s.resume_next_at IS NULL OR s.resume_next_at <= ?) ORDER BY t.id LIMIT ?",
                         (self._d.ts(now), limit))
            lease = self._d.ts(now + dt.timedelta(seconds=lease_seconds))
            for row in rows:
                q.run("UPDATE handoff_ticket_state SET resume_next_at = ? WHERE ticket_id = ?", (lease, row[0]))
        return [self._row_ticket(r) for r in rows]

    def mark_resumed(self, ticket_id: int) -> None:
        with self._db.transaction("record a resume") as q:
            stamp = self._d.ts(self._now())
            q.run("UPDATE handoff_ticket_state SET resume_pending = 0, resume_error = NULL, resume_next_at = NULL, "
                  "resumed_at = ? WHERE ticket_id = ?", (stamp, ticket_id))
            self._touch(q, ticket_id, stamp)
            self._audit_q(q, "system", "resume_bot", ticket_id, stamp)

    def mark_resume_failed(self, ticket_id: int, error: str) -> int:
        """Record a failed resume and schedule the next try with backoff; returns the attempts so far."""
        with self._db.transaction("record a failed resume") as q:
            row = q.one("SELECT resume_attempts FROM handoff_ticket_state WHERE ticket_id = ?", (ticket_id,))
            attempts = int(row[0] or 0) + 1 if row else 1
            now = self._now()
            delay = min(MAX_RESUME_BACKOFF_SECONDS, 5 * 2 ** (attempts - 1))
            q.run("UPDATE handoff_ticket_state SET resume_attempts = ?, resume_error = ?, resume_next_at = ? "
                  "WHERE ticket_id = ?",
                  (attempts, error[:300], self._d.ts(now + dt.timedelta(seconds=delay)), ticket_id))
            self._touch(q, ticket_id, self._d.ts(now))
            self._audit_q(q, "system", "resume_failed", ticket_id, self._d.ts(now))
        return attempts

    def resume_failures(self) -> list[TicketState]:
        """Closed tickets whose bot resume has failed at least once and is still pending."""
        with self._db.transaction("list failed resumes", write=False) as q:
            rows = q.all(f"SELECT ticket_id, {', '.join(STATE_FIELDS)} FROM handoff_ticket_state "
                         "WHERE resume_pending = 1 AND resume_attempts > 0 ORDER BY ticket_id")
        return [_state(int(r[0]), r[1:]) for r in rows]

    def escalation_due(self, after: dt.timedelta, limit: int = 50) -> list[Ticket]:
        """Open tickets older than ``after`` with no staff reply that are not escalated yet.

        Flood-suspect tickets are left out: escalating pages staff, which a flood must not do. So are
        report tickets nothing else joined: the bot never paused for them, nobody waits in the chat.
        """
        cutoff = self._d.ts(self._now() - after)
        with self._db.transaction("find tickets to escalate", write=False) as q:
            rows = q.all(f"SELECT {_T} FROM {_JOIN} WHERE t.status = 'open' AND t.created_at <= ? "
                         "AND s.first_staff_reply_at IS NULL AND s.escalated_at IS NULL AND t.reasons <> ? "
                         f"AND {_FLOOD} = 0 ORDER BY t.id LIMIT ?",
                         (cutoff, QUIET_REPORT_REASONS, FLOOD_PATTERN, limit))
        return [self._row_ticket(r) for r in rows]

    def mark_escalated(self, ticket_id: int, transcript_line: str | None = None) -> bool:
        """Escalate once (True only for the call that did it); the reminder sent goes in the transcript."""
        with self._db.transaction("escalate a ticket") as q:
            q.run(_ENSURE_STATE, (ticket_id,))
            stamp = self._d.ts(self._now())
            done = q.run("UPDATE handoff_ticket_state SET escalated_at = ? WHERE ticket_id = ? "
                         "AND escalated_at IS NULL AND first_staff_reply_at IS NULL", (stamp, ticket_id))
            if done:
                if transcript_line:
                    self._insert_message(q, ticket_id, "bot", transcript_line, stamp)
                self._touch(q, ticket_id, stamp)
                self._audit_q(q, "system", "escalate", ticket_id, stamp)
        return bool(done)

    def unnotified(self, limit: int = 20) -> list[Ticket]:
        """Open tickets staff have not been told about outside the console yet."""
        with self._db.transaction("find new tickets", write=False) as q:
            rows = q.all(f"SELECT {_T} FROM {_JOIN} WHERE t.status = 'open' AND s.notified_at IS NULL "
                         "ORDER BY t.id LIMIT ?", (limit,))
        return [self._row_ticket(r) for r in rows]

    def mark_notified(self, ticket_id: int) -> None:
        with self._db.transaction("record a notification") as q:
            q.run(_ENSURE_STATE, (ticket_id,))
            q.run("UPDATE handoff_ticket_state SET notified_at = ? WHERE ticket_id = ?",
                  (self._d.ts(self._now()), ticket_id))

    # -- supervisor numbers -------------------------------------------------------------------

    def stats(self, window_days: int = 14, tz: dt.tzinfo = dt.timezone.utc) -> DeskStats:
        """Open tickets now; first-reply time, channels and days over the last ``window_days`` (local days)."""
        now = self._now()
        since = self._d.ts(now - dt.timedelta(days=window_days))
        with self._db.transaction("compute desk statistics", write=False) as q:
            open_rows = q.all(f"SELECT t.priority, s.escalated_at, s.assigned_to FROM {_JOIN} WHERE t.status = 'open'")
            rows = q.all(f"SELECT t.channel, t.created_at, s.first_staff_reply_at FROM {_JOIN} WHERE t.created_at >= ?",
                         (since,))
            pending = q.one("SELECT COUNT(*) FROM handoff_ticket_state WHERE resume_pending = 1") or (0,)
        by_priority = {p: 0 for p in PRIORITIES}
        for r in open_rows:
            by_priority[r[0]] += 1
        waits = [(from_db_ts(r[2]) - from_db_ts(r[1])).total_seconds() for r in rows if r[2] is not None]
        per_channel: dict[str, int] = {}
        days: dict[dt.date, dict[str, int]] = {}
        today = now.astimezone(tz).date()
        for offset in range(window_days - 1, -1, -1):
            days[today - dt.timedelta(days=offset)] = {}
        for r in rows:
            per_channel[r[0]] = per_channel.get(r[0], 0) + 1
            day = from_db_ts(r[1]).astimezone(tz).date()
            if day in days:
                days[day][r[0]] = days[day].get(r[0], 0) + 1
        return DeskStats(
            window_days=window_days, open_by_priority=by_priority,
            escalated_open=sum(1 for r in open_rows if r[1] is not None),
            unassigned_open=sum(1 for r in open_rows if not r[2]), resume_pending=int(pending[0]),
            avg_first_reply_seconds=sum(waits) / len(waits) if waits else None, replied=len(waits),
            per_channel=dict(sorted(per_channel.items())), per_day=sorted(days.items()),
        )
