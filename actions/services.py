"""Lazily built core services shared by the actions of one action-server worker.

The handoff store the actions get writes every change they make (a ticket opened or added to,
a person's data deleted) to the audit log, with the channel the call came through and the
conversation key masked: staff can see what the action server did without seeing who it was for.
"""

from __future__ import annotations

import contextvars
import inspect
import logging
import threading
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from helpline.handoff import HandoffStore
from helpline.handoff.spool import TicketSpool
from helpline.kb.embedder import Embedder
from helpline.kb.entries import UrgentSteps, load_urgent_steps
from helpline.kb.retriever import FaqRetriever
from helpline.kb.unanswered import LearningLog
from helpline.settings import Settings
from helpline.text import mask_id

logger = logging.getLogger(__name__)
AUDIT_ACTOR = "actions"


@dataclass(frozen=True)
class ActionCall:
    """What Rasa asked for in the call being handled (set by the server around each action)."""

    action: str = ""
    channel: str = ""
    sender_id: str = ""


current_call: contextvars.ContextVar[ActionCall | None] = contextvars.ContextVar("current_call", default=None)


class AuditedHandoffStore(HandoffStore):
    """The handoff store, writing each change the action server makes to the audit log."""

    def _record(self, what: str, method: str, args: tuple[Any, ...], kwargs: dict[str, Any],
                ticket_id: int | None = None, extra: str = "") -> None:
        try:
            bound = inspect.signature(getattr(HandoffStore, method)).bind(self, *args, **kwargs).arguments
        except TypeError:
            bound = {}
        call = current_call.get() or ActionCall()
        channel = bound.get("channel") or call.channel or "*"
        key = str(bound.get("sender_id") or call.sender_id or "")
        line = f"{what} channel={channel} key={mask_id(key)} via={call.action or '?'}{extra}"
        try:
            self.audit(AUDIT_ACTOR, line, ticket_id)
        except Exception:
            logger.exception("could not write the audit log entry for %s", what)

    def open_ticket(self, *args: Any, **kwargs: Any) -> Any:
        ticket = super().open_ticket(*args, **kwargs)
        self._record("ticket_opened", "open_ticket", args, kwargs, ticket.id,
                     f" priority={ticket.priority}")
        return ticket

    def delete_sender(self, *args: Any, **kwargs: Any) -> Any:
        deleted = super().delete_sender(*args, **kwargs)
        self._record("delete_my_data", "delete_sender", args, kwargs, None, f" tickets={deleted}")
        return deleted


class Services:
    """Builds each service on first use; nothing heavy happens at import time."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or Settings.from_env()
        self._lock = threading.Lock()

    @cached_property
    def embedder(self) -> Embedder:
        s = self.settings
        return Embedder(s.embed_model, query_prefix=s.embed_query_prefix, doc_prefix=s.embed_doc_prefix)

    @cached_property
    def retriever(self) -> FaqRetriever:
        with self._lock:
            s = self.settings
            return FaqRetriever(s.index_dir, self.embedder)

    @cached_property
    def urgent_steps(self) -> UrgentSteps:
        """Entries that tell a family what to do now (knowledge_base/urgent_steps.yml)."""
        return load_urgent_steps(self.settings.kb_dir.parent / "urgent_steps.yml")

    @cached_property
    def handoff(self) -> HandoffStore:
        with self._lock:
            return AuditedHandoffStore.from_url(self.settings.handoff_db_url)

    @cached_property
    def learning(self) -> LearningLog:
        """Unanswered questions and reply outcomes for the handbook's editors (issue 17)."""
        return LearningLog(self.handoff.database)

    @cached_property
    def spool(self) -> TicketSpool:
        return TicketSpool.in_data_dir(self.settings.data_dir)

    def warm_up(self) -> None:
        """Load the model and index before the first user waits for them."""
        try:
            self.retriever.retrieve("mua bán người là gì")
            logger.info("retriever warm: %s", self.retriever.index_path.name)
        except Exception:
            logger.exception("retriever warm-up failed; FAQ answers will fall back to 111 until fixed")


_services: Services | None = None


def get_services() -> Services:
    global _services
    if _services is None:
        _services = Services()
    return _services
