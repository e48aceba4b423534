"""Staff feedback on the bot's safety call: ticket labels, "missed" flags, the weekly counts.

:class:`FeedbackMixin` is a base class of :class:`helpline.handoff.store.HandoffStore`. A label is
one row per ticket in ``handoff_ticket_labels``; setting it again replaces it (the audit log keeps
every change, never the note's text). The labelled cases feed ``make safety-review``
(:mod:`helpline.handoff.safety_review`), which a person reviews before anything reaches the
safety evaluation set.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from helpline.db import Database, Dialect, Query, from_db_ts
from helpline.errors import HandoffError
from helpline.handoff.models import (
    EMERGENCY_PRIORITIES,
    LABELS,
    DeskConflict,
    FeedbackWeek,
    Ticket,
    TicketLabel,
)

if TYPE_CHECKING:
    from helpline.handoff.store import HandoffStore

MAX_LABEL_NOTE = 1000


def check_label(label: str, note: str | None) -> tuple[str, str | None]:
    """A known label and a trimmed note (None when empty).

    Raises:
        ValueError: If the label is unknown or the note too long.
    """
    if label not in LABELS:
        raise ValueError(f"unknown label {label!r}; expected one of {', '.join(LABELS)}")
    note = (note or "").strip() or None
    if note is not None and len(note) > MAX_LABEL_NOTE:
        raise ValueError(f"note is longer than {MAX_LABEL_NOTE} characters")
    return label, note


def _label(row: tuple[Any, ...]) -> TicketLabel:
    return TicketLabel(int(row[0]), row[1], row[2], row[3], from_db_ts(row[4]))


def week_start(day: dt.date) -> dt.date:
    """The Monday of a day's ISO week."""
    return day - dt.timedelta(days=day.weekday())


class FeedbackMixin:
    """Ticket labels. Needs the store's ``_db``, ``_d``, ``_now``."""

    _db: Database
    _d: Dialect
    _now: Callable[[], dt.datetime]

    def _write_label(self, q: Query, ticket_id: int, by: str, label: str, note: str | None, stamp: Any,
                     action: str = "label") -> None:
        q.run("INSERT INTO handoff_ticket_labels (ticket_id, label, note, labelled_by, labelled_at) "
              "VALUES (?, ?, ?, ?, ?) ON CONFLICT (ticket_id) DO UPDATE SET label = excluded.label, "
              "note = excluded.note, labelled_by = excluded.labelled_by, labelled_at = excluded.labelled_at",
              (ticket_id, label, note, by, stamp))
        q.run("UPDATE handoff_tickets SET updated_at = ? WHERE id = ?", (stamp, ticket_id))
        q.run("INSERT INTO audit_log (who, action, ticket_id, at) VALUES (?, ?, ?, ?)",
              (by, f"{action} label={label}", ticket_id, stamp))

    def label_ticket(self, ticket_id: int, by: str, label: str, note: str | None = None) -> TicketLabel:
        """Set (or replace) a ticket's label, open or resolved. Audited with the label, not the note.

        Raises:
            ValueError: Unknown label, note too long.
            HandoffError: If the ticket does not exist.
        """
        label, note = check_label(label, note)
        with self._db.transaction("label a ticket") as q:
            if q.one("SELECT id FROM handoff_tickets WHERE id = ?", (ticket_id,)) is None:
                raise HandoffError(f"ticket {ticket_id} does not exist")
            now = self._now()
            self._write_label(q, ticket_id, by, label, note, self._d.ts(now))
        return TicketLabel(ticket_id, label, note, by, now)  # type: ignore[arg-type]

    def flag_missed(self, ticket_id: int, by: str, note: str | None = None) -> TicketLabel:
        """"Báo sót": the bot did not treat this conversation as an emergency but should have.

        Sets ``flag_earlier`` on a ticket the bot opened below the emergency levels. Audited.

        Raises:
            DeskConflict: If the bot already escalated the ticket as an emergency.
            HandoffError: If the ticket does not exist.
        """
        _, note = check_label("flag_earlier", note)
        with self._db.transaction("flag a missed emergency") as q:
            row = q.one("SELECT priority FROM handoff_tickets WHERE id = ?", (ticket_id,))
            if row is None:
                raise HandoffError(f"ticket {ticket_id} does not exist")
            if row[0] in EMERGENCY_PRIORITIES:
                raise DeskConflict(f"ticket {ticket_id} was escalated as {row[0]}")
            now = self._now()
            self._write_label(q, ticket_id, by, "flag_earlier", note, self._d.ts(now), action="flag_missed")
        return TicketLabel(ticket_id, "flag_earlier", note, by, now)

    def ticket_label(self, ticket_id: int) -> TicketLabel | None:
        with self._db.transaction("read a ticket's label", write=False) as q:
            row = q.one("SELECT ticket_id, label, note, labelled_by, labelled_at FROM handoff_ticket_labels "
                        "WHERE ticket_id = ?", (ticket_id,))
        return _label(row) if row else None

    def labelled_cases(self, since: dt.timedelta | None = None) -> list[tuple[Ticket, TicketLabel]]:
        """Labelled tickets with their transcripts, oldest label first (labelled within ``since``)."""
        where, params = "", ()
        if since is not None:
            where, params = "WHERE labelled_at >= ?", (self._d.ts(self._now() - since),)
        store: HandoffStore = self  # type: ignore[assignment]
        out: list[tuple[Ticket, TicketLabel]] = []
        with self._db.transaction("read labelled tickets", write=False) as q:
            rows = q.all("SELECT ticket_id, label, note, labelled_by, labelled_at FROM handoff_ticket_labels "
                         f"{where} ORDER BY labelled_at, ticket_id", params)
            for row in rows:
                ticket = store._load(q, int(row[0]))
                if ticket is not None:
                    out.append((ticket, _label(row)))
        return out

    def feedback_weeks(self, weeks: int = 8, tz: dt.tzinfo = dt.timezone.utc) -> list[FeedbackWeek]:
        """Misses and false alarms per local ISO week over the last ``weeks`` weeks, newest first.

        A miss is a ``flag_earlier`` label; a false alarm a ``not_emergency`` label on a ticket the
        bot opened as ``immediate`` or ``urgent``. Counted by the week the ticket was opened.
        """
        now = self._now()
        this_week = week_start(now.astimezone(tz).date())
        first = this_week - dt.timedelta(weeks=max(1, weeks) - 1)
        since = dt.datetime.combine(first, dt.time(), tz) - dt.timedelta(days=1)
        with self._db.transaction("count feedback per week", write=False) as q:
            rows = q.all("SELECT t.created_at, t.priority, l.label FROM handoff_ticket_labels l "
                         "JOIN handoff_tickets t ON t.id = l.ticket_id WHERE t.created_at >= ?",
                         (self._d.ts(since),))
        counts = {first + dt.timedelta(weeks=i): [0, 0, 0] for i in range(max(1, weeks))}
        for created, priority, label in rows:
            week = week_start(from_db_ts(created).astimezone(tz).date())
            if week not in counts:
                continue
            c = counts[week]
            c[2] += 1
            if label == "flag_earlier":
                c[0] += 1
            elif label == "not_emergency" and priority in EMERGENCY_PRIORITIES:
                c[1] += 1
        return [FeedbackWeek(w, c[0], c[1], c[2]) for w, c in sorted(counts.items(), reverse=True)]
