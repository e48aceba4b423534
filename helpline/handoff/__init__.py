"""Handoff to hotline staff: ticket models and the ticket store.

The web service lives in :mod:`helpline.handoff.service` (it needs Starlette),
so importing this package stays dependency-free for the bot side.
"""

from __future__ import annotations

from helpline.handoff.models import (
    AUTHORS,
    PRIORITIES,
    PRIORITY_RANK,
    STATUSES,
    AuditEntry,
    Author,
    DeskConflict,
    DeskStats,
    Note,
    Priority,
    QueueItem,
    Status,
    Ticket,
    TicketMessage,
    TicketState,
    higher_priority,
    priority_rank,
)
from helpline.handoff.store import LIST_STATUSES, HandoffStore

__all__ = [
    "AUTHORS",
    "LIST_STATUSES",
    "PRIORITIES",
    "PRIORITY_RANK",
    "STATUSES",
    "AuditEntry",
    "Author",
    "DeskConflict",
    "DeskStats",
    "HandoffStore",
    "Note",
    "Priority",
    "QueueItem",
    "Status",
    "Ticket",
    "TicketMessage",
    "TicketState",
    "higher_priority",
    "priority_rank",
]
