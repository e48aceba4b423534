"""Hybrid FAQ retrieval: dense e5, lexical similarity on folded text, and an entry classifier.

Three signals are fused (docs/retrieval.md has the measurements):
- dense e5 cosine to the question forms, rescaled above the floor where
  unrelated Vietnamese sentences sit;
- lexical cosine on folded text (to question forms, plus the answer text),
  which carries unaccented input where dense e5 is close to random (DESIGN §4);
- a linear classifier trained on the paraphrases at index build.
The fused score and its margin over the runner-up decide whether the bot
answers or asks which of the best 3 was meant.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from helpline.kb.entries import Entry
from helpline.kb.index import LoadedIndex, current_index_path, load_index, search_dense
from helpline.kb.lexical import LexicalIndex
from helpline.text import clean, has_diacritics

if TYPE_CHECKING:
    from helpline.kb.embedder import Embedder

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class FusionWeights:
    """How much the dense signal counts, by query style, and how dense cosine is rescaled."""

    dense_accented: float = 0.4
    dense_unaccented: float = 0.3
    # e5 cosines of unrelated Vietnamese sentences sit around 0.75-0.8.
    dense_floor: float = 0.75
    answer_text: float = 0.6
    classifier: float = 0.4


@dataclass(frozen=True)
class Hit:
    entry_id: str
    score: float
    dense: float
    lexical: float
    classifier: float = 0.0


@dataclass(frozen=True)
class Retrieval:
    query: str
    hits: tuple[Hit, ...]
    confident: bool

    @property
    def best(self) -> Hit | None:
        return self.hits[0] if self.hits else None


class _Snapshot:
    """One loaded index with its lexical twin; replaced whole on reload."""

    def __init__(self, loaded: LoadedIndex) -> None:
        self.loaded = loaded
        self.lexical = LexicalIndex([d.text for d in loaded.docs])
        self.doc_entry = [d.entry_id for d in loaded.docs]
        self.entry_ids = list(loaded.entries)
        self.answers = LexicalIndex([f"{e.question} {e.answer}" for e in loaded.entries.values()])


class FaqRetriever:
    def __init__(
        self,
        build_dir: Path,
        embedder: Embedder,
        *,
        threshold: float = 0.3,
        margin: float = 0.1,
        weights: FusionWeights | None = None,
        reload_check_seconds: float = 2.0,
    ) -> None:
        self.build_dir = build_dir
        self.embedder = embedder
        self.threshold = threshold
        self.margin = margin
        self.weights = weights or FusionWeights()
        self._reload_every = reload_check_seconds
        self._lock = threading.Lock()
        self._snapshot = _Snapshot(load_index(current_index_path(build_dir), expected_model_id=embedder.model_id))
        self._last_check = time.monotonic()

    @property
    def index_path(self) -> Path:
        return self._snapshot.loaded.path

    @property
    def entries(self) -> dict[str, Entry]:
        return self._snapshot.loaded.entries

    def entry(self, entry_id: str) -> Entry | None:
        return self._snapshot.loaded.entries.get(entry_id)

    def maybe_reload(self) -> bool:
        """Pick up a rebuilt index; keep serving the old one if the new one is broken."""
        now = time.monotonic()
        if now - self._last_check < self._reload_every:
            return False
        with self._lock:
            self._last_check = now
            target = current_index_path(self.build_dir)
            if target == self._snapshot.loaded.path:
                return False
            try:
                snapshot = _Snapshot(load_index(target, expected_model_id=self.embedder.model_id))
            except Exception:
                logger.exception("new index at %s failed to load; keeping %s", target, self._snapshot.loaded.path)
                return False
            self._snapshot = snapshot
            logger.info("reloaded FAQ index %s (%d entries)", target.name, len(snapshot.loaded.entries))
            return True

    def retrieve(self, text: str, k: int = 3, candidates: int = 40) -> Retrieval:
        self.maybe_reload()
        snap = self._snapshot
        query = clean(text)
        if not query:
            return Retrieval(query, (), False)
        w = self.weights
        dense_weight = w.dense_accented if has_diacritics(query) else w.dense_unaccented

        dense: dict[str, float] = {}
        vector = self.embedder.encode_queries([query])[0]
        for doc_id, score in search_dense(snap.loaded, vector, min(candidates, len(snap.doc_entry))):
            entry_id = snap.doc_entry[doc_id]
            dense[entry_id] = max(dense.get(entry_id, 0.0), score)
        lexical: dict[str, float] = {}
        for doc_id, score in enumerate(snap.lexical.scores(query)):
            if score > 0:
                entry_id = snap.doc_entry[doc_id]
                lexical[entry_id] = max(lexical.get(entry_id, 0.0), score)

        for entry_id, score in zip(snap.entry_ids, snap.answers.scores(query), strict=True):
            if score > 0:
                lexical[entry_id] = lexical.get(entry_id, 0.0) + w.answer_text * score
        probs = snap.loaded.classifier.probabilities(query) if snap.loaded.classifier else {}
        class_weight = w.classifier if probs else 0.0

        hits = []
        for entry_id in set(dense) | set(lexical) | {e for e, p in probs.items() if p > 0.01}:
            d = dense.get(entry_id, 0.0)
            lex = lexical.get(entry_id, 0.0)
            d_scaled = min(1.0, max(0.0, (d - w.dense_floor) / (1.0 - w.dense_floor)))
            base = dense_weight * d_scaled + (1 - dense_weight) * lex
            p = probs.get(entry_id, 0.0)
            hits.append(Hit(entry_id, (1 - class_weight) * base + class_weight * p, d, lex, p))
        hits.sort(key=lambda h: h.score, reverse=True)
        top = tuple(hits[:k])
        confident = bool(top) and top[0].score >= self.threshold
        if confident and len(top) > 1:
            confident = top[0].score - top[1].score >= self.margin
        return Retrieval(query, top, confident)

    def suggestions(self, retrieval: Retrieval) -> Sequence[Entry]:
        return [e for h in retrieval.hits if (e := self.entry(h.entry_id)) is not None]
