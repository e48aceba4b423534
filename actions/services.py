"""Lazily built core services shared by the actions of one action-server worker."""

from __future__ import annotations

import logging
import threading
from functools import cached_property

from helpline.handoff import HandoffStore
from helpline.handoff.spool import TicketSpool
from helpline.kb.embedder import Embedder
from helpline.kb.retriever import FaqRetriever
from helpline.settings import Settings

logger = logging.getLogger(__name__)


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
            return FaqRetriever(s.index_dir, self.embedder, threshold=s.answer_threshold, margin=s.answer_margin)

    @cached_property
    def handoff(self) -> HandoffStore:
        with self._lock:
            return HandoffStore.from_url(self.settings.handoff_db_url)

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
