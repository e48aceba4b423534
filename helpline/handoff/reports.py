"""Anonymous reports (tố giác, issue 16): the report behind a ticket of type "report".

A report is filed by the ``report_form`` conversation. Its ticket is opened through the one
ticket path (:meth:`HandoffStore.open_ticket`, spooled when the database is down) with the
reason :data:`REPORT_REASON`; the report row adds the form's answers and a reference code the
person can send later to add information (only from the same channel-namespaced sender).
A report ticket does not pause the bot: it is not escalated and closing it sends no "the
assistant is back" message, unless something else (an emergency, "gặp nhân viên") joined it.

Staff mark a report forwarded to the police (to whom, on which day); that goes to the audit
log, and a forwarded report survives "delete my data" (it stays until the retention period,
like any resolved ticket). :class:`ReportMixin` is a base class of
:class:`helpline.handoff.store.HandoffStore`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from helpline.db import Database, Dialect, Query, UniqueConflict, from_db_ts
from helpline.errors import HandoffError
from helpline.handoff.desk import _JOIN, _RANK, _S, _T, TICKET_FIELDS, _state, last_messages
from helpline.handoff.models import (
    QueueItem,
    Ticket,
    mask_for_staff,
    quiet_report_reasons,
)
from helpline.refcode import new_code

if TYPE_CHECKING:
    from helpline.handoff.store import HandoffStore

# A person in danger now, as said in the form: the emergency path (reply, pause, escalation).
IN_DANGER_REASON = "report:in_danger"
MAX_FIELD = 2000
MAX_FORWARD_TO = 200
DANGER_VALUES = ("yes", "no")
# The form's answers, in the order staff read them, with the console's Vietnamese labels.
FIELD_LABELS: tuple[tuple[str, str], ...] = (
    ("what", "Chuyện gì đã xảy ra"), ("place", "Ở đâu"), ("happened_when", "Khi nào"),
    ("who", "Ai liên quan"), ("in_danger", "Có người đang gặp nguy hiểm"), ("contact", "Cách liên hệ lại"),
)
_COLS = ("r.id, r.ticket_id, r.code, r.what, r.place, r.happened_when, r.who, r.in_danger, r.contact, "
         "r.created_at, r.updated_at, r.forwarded_to, r.forwarded_on, r.forwarded_at, r.forwarded_by")


@dataclass(frozen=True)
class ReportFields:
    """The form's answers; None where the person skipped a question."""

    what: str | None = None
    place: str | None = None
    happened_when: str | None = None
    who: str | None = None
    in_danger: str | None = None
    contact: str | None = None

    def checked(self) -> ReportFields:
        """Trimmed answers (empty ones None).

        Raises:
            ValueError: On an answer longer than :data:`MAX_FIELD` or an unknown ``in_danger``.
        """
        values: dict[str, str | None] = {}
        for name, _label in FIELD_LABELS:
            value = getattr(self, name)
            value = str(value).strip() if value is not None else ""
            if len(value) > MAX_FIELD:
                raise ValueError(f"{name} is longer than {MAX_FIELD} characters")
            values[name] = value or None
        if values["in_danger"] is not None and values["in_danger"] not in DANGER_VALUES:
            raise ValueError(f"in_danger must be one of {', '.join(DANGER_VALUES)} or empty")
        return ReportFields(**values)

    def summary(self) -> str:
        """One transcript line with every answer (staff see it even on a ticket opened late)."""
        parts = [f"{label}: {display_value(name, getattr(self, name))}" for name, label in FIELD_LABELS]
        return "Báo tin qua trợ lý. " + "; ".join(parts)


def display_value(name: str, value: str | None) -> str:
    if value is None:
        return "(bỏ qua)"
    if name == "in_danger":
        return {"yes": "Có", "no": "Không"}.get(value, value)
    if name == "contact" and value == "chat":
        return "Nhắn lại qua cuộc trò chuyện này"
    if name == "contact" and value == "none":
        return "Không cần liên hệ lại"
    return value


@dataclass(frozen=True)
class Report:
    id: int
    ticket_id: int
    code: str
    fields: ReportFields
    created_at: dt.datetime
    updated_at: dt.datetime
    forwarded_to: str | None = None
    forwarded_on: dt.date | None = None
    forwarded_at: dt.datetime | None = None
    forwarded_by: str | None = None

    @property
    def forwarded(self) -> bool:
        return self.forwarded_at is not None

    def rows(self, masked: bool = False) -> list[tuple[str, str]]:
        """(label, value) pairs for the ticket page (as written) or an export (``masked``)."""
        out = []
        for name, label in FIELD_LABELS:
            value = display_value(name, getattr(self.fields, name))
            out.append((label, mask_for_staff(value) if masked else value))
        return out


def is_quiet_report(ticket: Ticket) -> bool:
    """A report ticket nothing else joined: the bot was never paused for it."""
    return quiet_report_reasons(ticket.reasons)


def _report(row: tuple[Any, ...]) -> Report:
    fields = ReportFields(*row[3:9])
    return Report(int(row[0]), int(row[1]), row[2], fields, from_db_ts(row[9]), from_db_ts(row[10]), row[11],
                  dt.date.fromisoformat(row[12]) if row[12] else None,
                  from_db_ts(row[13]) if row[13] is not None else None, row[14])


def addition_note(code: str) -> str:
    return f"Người dùng bổ sung thông tin cho báo tin {code} (tin nhắn ngay dưới)."


class ReportMixin:
    """Report rows of report tickets. Needs the store's ``_db``, ``_d``, ``_now`` and helpers."""

    _db: Database
    _d: Dialect
    _now: Callable[[], dt.datetime]

    def _store(self) -> HandoffStore:
        return self  # type: ignore[return-value]

    def add_report(self, ticket_id: int, fields: ReportFields, by: str = "actions") -> Report:
        """Attach the form's answers to a (report) ticket, with a new reference code. Audited, no text.

        Raises:
            ValueError: Bad answers (see :meth:`ReportFields.checked`).
            HandoffError: If the ticket does not exist or the database fails.
        """
        fields = fields.checked()
        for _ in range(5):
            try:
                return self._insert_report(ticket_id, fields, by)
            except UniqueConflict:
                continue  # a code already taken: draw another
        raise HandoffError("handoff store: could not draw a free report code")

    def _insert_report(self, ticket_id: int, fields: ReportFields, by: str) -> Report:
        with self._db.transaction("file a report") as q:
            if q.one("SELECT 1 FROM handoff_tickets WHERE id = ?", (ticket_id,)) is None:
                raise HandoffError(f"ticket {ticket_id} does not exist")
            stamp = self._d.ts(self._now())
            report_id = q.insert(
                "INSERT INTO handoff_reports (ticket_id, code, what, place, happened_when, who, in_danger, contact, "
                "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (ticket_id, new_code(), fields.what, fields.place, fields.happened_when, fields.who,
                 fields.in_danger, fields.contact, stamp, stamp))
            q.run("UPDATE handoff_tickets SET updated_at = ? WHERE id = ?", (stamp, ticket_id))
            q.run("INSERT INTO audit_log (who, action, ticket_id, at) VALUES (?, ?, ?, ?)",
                  (by, f"report_filed report={report_id}", ticket_id, stamp))
            report = self._report_q(q, "r.id = ?", (report_id,))
        assert report is not None
        return report

    def _report_q(self, q: Query, where: str, params: tuple[Any, ...]) -> Report | None:
        row = q.one(f"SELECT {_COLS} FROM handoff_reports r JOIN handoff_tickets t ON t.id = r.ticket_id "
                    f"WHERE {where}", params)
        return _report(row) if row else None

    def get_report(self, report_id: int) -> Report | None:
        with self._db.transaction("read a report", write=False) as q:
            return self._report_q(q, "r.id = ?", (report_id,))

    def reports_for_ticket(self, ticket_id: int) -> list[Report]:
        with self._db.transaction("read a ticket's reports", write=False) as q:
            rows = q.all(f"SELECT {_COLS} FROM handoff_reports r WHERE r.ticket_id = ? ORDER BY r.id", (ticket_id,))
        return [_report(r) for r in rows]

    def report_by_code(self, code: str, channel: str, sender_id: str) -> Report | None:
        """The report with this code if this sender filed it; None otherwise (unknown or someone else's)."""
        with self._db.transaction("find a report", write=False) as q:
            return self._report_q(q, "r.code = ? AND t.channel = ? AND t.sender_id = ?",
                                  (code, channel, sender_id))

    def forwarded_reports_of(self, channel: str | None, sender_id: str) -> list[Report]:
        """A person's reports already forwarded to the police (they survive "delete my data")."""
        where, params = "t.sender_id = ? AND r.forwarded_at IS NOT NULL", (sender_id,)
        if channel is not None:
            where, params = where + " AND t.channel = ?", (sender_id, channel)
        with self._db.transaction("list forwarded reports", write=False) as q:
            rows = q.all(f"SELECT {_COLS} FROM handoff_reports r JOIN handoff_tickets t ON t.id = r.ticket_id "
                         f"WHERE {where} ORDER BY r.id", params)
        return [_report(r) for r in rows]

    def add_to_report(self, code: str, channel: str, sender_id: str, text: str) -> Report | None:
        """Add what the person wrote to their report (reopening its ticket if closed and they have no other).

        Returns:
            The report, or None if this sender has no report with this code (nothing is written).

        Raises:
            ValueError: If the text is empty or too long.
        """
        text = str(text).strip()
        if not text or len(text) > MAX_FIELD:
            raise ValueError(f"the addition must have 1 to {MAX_FIELD} characters")
        with self._db.transaction("add to a report") as q:
            report = self._report_q(q, "r.code = ? AND t.channel = ? AND t.sender_id = ?", (code, channel, sender_id))
            if report is None:
                return None
            stamp = self._d.ts(self._now())
            store = self._store()
            # The person's line last: the channel then adds the same message to an open ticket once, not twice
            # (HandoffStore.add_user_message skips a repeat of the last line).
            store._insert_message(q, report.ticket_id, "system", addition_note(report.code), stamp)
            store._insert_message(q, report.ticket_id, "user", text, stamp)
            other = q.one("SELECT 1 FROM handoff_tickets WHERE channel = ? AND sender_id = ? AND status = 'open' "
                          "AND id <> ?", (channel, sender_id, report.ticket_id))
            if other is None:
                # New information is work again: back in the open queue (at most one open ticket per person).
                q.run("UPDATE handoff_tickets SET status = 'open', resolved_at = NULL, resolved_by = NULL "
                      "WHERE id = ? AND status = 'resolved'", (report.ticket_id,))
            q.run("UPDATE handoff_tickets SET updated_at = ? WHERE id = ?", (stamp, report.ticket_id))
            q.run("UPDATE handoff_reports SET updated_at = ? WHERE id = ?", (stamp, report.id))
            q.run("INSERT INTO audit_log (who, action, ticket_id, at) VALUES (?, ?, ?, ?)",
                  ("actions", f"report_added report={report.id}", report.ticket_id, stamp))
            return self._report_q(q, "r.id = ?", (report.id,))

    def mark_forwarded(self, report_id: int, by: str, to: str, on: dt.date) -> Report:
        """Record that staff forwarded a report to the police: to whom, on which day. Audited.

        Raises:
            ValueError: Empty or too long ``to``, or a day in the future (Vietnam time).
            HandoffError: If the report does not exist.
        """
        to = " ".join(str(to).split())
        if not to or len(to) > MAX_FORWARD_TO:
            raise ValueError(f"say whom it was forwarded to (1 to {MAX_FORWARD_TO} characters)")
        today = self._now().astimezone(dt.timezone(dt.timedelta(hours=7))).date()
        if on > today:
            raise ValueError("the day it was forwarded cannot be in the future")
        with self._db.transaction("mark a report forwarded") as q:
            report = self._report_q(q, "r.id = ?", (report_id,))
            if report is None:
                raise HandoffError(f"report {report_id} does not exist")
            stamp = self._d.ts(self._now())
            q.run("UPDATE handoff_reports SET forwarded_to = ?, forwarded_on = ?, forwarded_at = ?, forwarded_by = ?, "
                  "updated_at = ? WHERE id = ?", (to, on.isoformat(), stamp, by, stamp, report_id))
            q.run("UPDATE handoff_tickets SET updated_at = ? WHERE id = ?", (stamp, report.ticket_id))
            q.run("INSERT INTO audit_log (who, action, ticket_id, at) VALUES (?, ?, ?, ?)",
                  (by, f"report_forwarded report={report_id} to={mask_for_staff(to)} on={on.isoformat()}",
                   report.ticket_id, stamp))
            done = self._report_q(q, "r.id = ?", (report_id,))
        assert done is not None
        return done

    # -- the "Báo tin" queue ----------------------------------------------------------------

    def report_queue(self, status: str = "open", *, involving: str | None = None, limit: int = 100,
                     offset: int = 0) -> list[QueueItem]:
        """Report tickets in their own order: open first; someone in danger first; not yet forwarded
        before forwarded; then the newest report activity (a new addition brings a ticket up)."""
        clause, params = self._store()._queue_where(status, None, None, None, False, None, involving)
        order = (f"CASE WHEN t.status = 'open' THEN 0 ELSE 1 END, {_RANK}, r.all_forwarded, r.last_at DESC, t.id DESC")
        with self._db.transaction("list the report queue", write=False) as q:
            rows = q.all(f"SELECT {_T}, {_S} FROM {_JOIN} JOIN {_REPORT_AGG} {clause}ORDER BY {order} LIMIT ? OFFSET ?",
                         (*params, int(limit), max(0, int(offset))))
            last = last_messages(q, [int(r[0]) for r in rows])
        n = len(TICKET_FIELDS)
        store = self._store()
        return [QueueItem(store._ticket(r[:n], last=last.get(int(r[0]))), _state(int(r[0]), r[n:])) for r in rows]

    def report_queue_count(self, status: str = "open", *, involving: str | None = None) -> int:
        clause, params = self._store()._queue_where(status, None, None, None, False, None, involving)
        with self._db.transaction("count the report queue", write=False) as q:
            row = q.one(f"SELECT COUNT(*) FROM {_JOIN} JOIN {_REPORT_AGG} {clause}", params)
        return int(row[0]) if row else 0


_REPORT_AGG = ("(SELECT ticket_id, MAX(updated_at) AS last_at, "
               "MIN(CASE WHEN forwarded_at IS NULL THEN 0 ELSE 1 END) AS all_forwarded "
               "FROM handoff_reports GROUP BY ticket_id) r ON r.ticket_id = t.id ")
