"""Plain data types of the handoff desk: tickets, their messages, audit entries.

A ticket is opened when someone may be in danger or asks for a person. Hotline
staff work the queue in priority order, longest waiting first.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from helpline.errors import HandoffError
from helpline.text import mask_pii, show_bidi

Priority = Literal["immediate", "urgent", "concern", "normal"]
Status = Literal["open", "resolved"]
Author = Literal["user", "bot", "staff", "system"]

# Most urgent first; the index is the sort rank.
PRIORITIES: tuple[str, ...] = ("immediate", "urgent", "concern", "normal")
STATUSES: tuple[str, ...] = ("open", "resolved")
AUTHORS: tuple[str, ...] = ("user", "bot", "staff", "system")

# Staff feedback on a ticket (issue 14): the bot's call was right, a false alarm, or came too late.
Label = Literal["real_emergency", "not_emergency", "flag_earlier"]
LABELS: tuple[str, ...] = ("real_emergency", "not_emergency", "flag_earlier")
# Priorities at which the bot treated the message as an emergency (reply, handoff).
EMERGENCY_PRIORITIES: tuple[str, ...] = ("immediate", "urgent")

PRIORITY_RANK: dict[str, int] = {name: rank for rank, name in enumerate(PRIORITIES)}


def priority_rank(priority: str) -> int:
    """Sort rank of a priority: 0 is the most urgent.

    Args:
        priority: One of :data:`PRIORITIES`.

    Returns:
        The rank, lower meaning more urgent.

    Raises:
        ValueError: If the priority is unknown.
    """
    try:
        return PRIORITY_RANK[priority]
    except KeyError:
        raise ValueError(f"unknown priority {priority!r}; expected one of {', '.join(PRIORITIES)}") from None


def higher_priority(a: str, b: str) -> str:
    """The more urgent of two priorities."""
    return a if priority_rank(a) <= priority_rank(b) else b


def utc_now() -> dt.datetime:
    """The current time as an aware UTC datetime."""
    return dt.datetime.now(dt.timezone.utc)


@dataclass(frozen=True)
class TicketMessage:
    """One line of a ticket's transcript."""

    ticket_id: int
    author: Author
    text: str
    created_at: dt.datetime
    # Masked once when stored (:func:`helpline.text.mask_pii`, bidi controls visible); None for a line
    # stored before masks were kept, or built in memory.
    masked: str | None = None

    @property
    def masked_text(self) -> str:
        """The text with personal data masked and bidi controls visible: for previews, the API, exports."""
        return self.masked if self.masked is not None else mask_for_staff(self.text)


def mask_for_staff(text: str) -> str:
    """What staff-facing listings show of a user's text: personal data masked, bidi controls visible."""
    return show_bidi(mask_pii(text))


# A new ticket opened while more than the global limit of new tickets were opened recently: still
# recorded and shown (last in the queue, with a badge), but staff are not alerted about it.
FLOOD_REASON = "flood_suspect"
# The reason of a report ticket (issue 16; see helpline.handoff.reports).
REPORT_REASON = "report_tip"


def quiet_report_reasons(reasons: Iterable[str]) -> bool:
    """A report ticket nothing else joined (no emergency, no request for a person)."""
    found = set(reasons)
    return REPORT_REASON in found and not found - {REPORT_REASON, FLOOD_REASON}
# The stored reasons of a report ticket nothing else joined (json.dumps of the list).
QUIET_REPORT_REASONS = f'["{REPORT_REASON}"]'


@dataclass(frozen=True)
class Ticket:
    """A request for a human, waiting for or handled by hotline staff.

    ``messages`` holds the full transcript when the ticket was loaded with
    :meth:`HandoffStore.get`; listings leave it empty and fill only
    ``last_message``.
    """

    id: int
    channel: str
    sender_id: str
    status: Status
    priority: Priority
    reasons: tuple[str, ...]
    location: dict[str, Any] | None
    created_at: dt.datetime
    updated_at: dt.datetime
    resolved_at: dt.datetime | None = None
    resolved_by: str | None = None
    messages: tuple[TicketMessage, ...] = ()
    last_message: TicketMessage | None = field(default=None)

    @property
    def is_open(self) -> bool:
        """True while the ticket waits for or is handled by staff."""
        return self.status == "open"

    @property
    def flood_suspect(self) -> bool:
        """Opened during a burst of new tickets beyond the global limit (see :data:`FLOOD_REASON`)."""
        return FLOOD_REASON in self.reasons

    @property
    def is_report(self) -> bool:
        """A ticket of type "report" (an anonymous report, :mod:`helpline.handoff.reports`)."""
        return REPORT_REASON in self.reasons

    def waiting_seconds(self, now: dt.datetime | None = None) -> int:
        """How long the person has waited: until now if open, until resolution otherwise."""
        end = self.resolved_at if self.resolved_at is not None else (now or utc_now())
        return max(0, int((end - self.created_at).total_seconds()))

    def sort_key(self) -> tuple[int, dt.datetime, int]:
        """Queue order: most urgent first, then longest waiting."""
        return (priority_rank(self.priority), self.created_at, self.id)


@dataclass(frozen=True)
class AuditEntry:
    """Who did what to which ticket, and when. Never holds message text."""

    who: str
    action: str
    ticket_id: int | None
    at: dt.datetime


# -- staff desk (see helpline.handoff.desk) ------------------------------------------------


class DeskConflict(HandoffError):
    """The ticket is not in a state that allows the operation (closed, held by someone else)."""


@dataclass(frozen=True)
class TicketState:
    """Who works a ticket and where it stands: claim, first reply, escalation, bot resume."""

    ticket_id: int
    assigned_to: str | None = None
    assigned_at: dt.datetime | None = None
    first_staff_reply_at: dt.datetime | None = None
    escalated_at: dt.datetime | None = None
    notified_at: dt.datetime | None = None
    resume_pending: bool = False
    resume_attempts: int = 0
    resume_error: str | None = None
    resumed_at: dt.datetime | None = None

    @property
    def escalated(self) -> bool:
        return self.escalated_at is not None


@dataclass(frozen=True)
class QueueItem:
    ticket: Ticket
    state: TicketState


@dataclass(frozen=True)
class Note:
    """An internal staff note on a ticket; never sent to the user."""

    id: int
    ticket_id: int
    author: str
    text: str
    created_at: dt.datetime


@dataclass(frozen=True)
class DeskStats:
    """Numbers for the supervisor view, over tickets created in the last ``window_days``."""

    window_days: int
    open_by_priority: dict[str, int]
    escalated_open: int
    unassigned_open: int
    resume_pending: int
    avg_first_reply_seconds: float | None
    replied: int
    per_channel: dict[str, int]
    per_day: list[tuple[dt.date, dict[str, int]]] = field(default_factory=list)

    @property
    def open_total(self) -> int:
        return sum(self.open_by_priority.values())


@dataclass(frozen=True)
class TicketLabel:
    """Staff feedback on a ticket: :data:`LABELS`, an optional note, who and when."""

    ticket_id: int
    label: Label
    note: str | None
    labelled_by: str
    labelled_at: dt.datetime


@dataclass(frozen=True)
class FeedbackWeek:
    """Per ISO week (Monday): misses (``flag_earlier``) and false alarms (``not_emergency`` on an emergency)."""

    week: dt.date
    misses: int
    false_alarms: int
    labelled: int
