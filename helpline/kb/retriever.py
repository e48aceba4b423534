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

import numpy as np

from helpline.kb.entries import Entry
from helpline.kb.index import LoadedIndex, current_index_path, load_index, search_dense
from helpline.kb.lexical import LexicalIndex, features
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
    """One loaded index with its lexical twin; replaced whole on reload.

    Signals are fused over numpy arrays indexed by entry position, so a query
    costs the same few vector operations with 150 or 10,000 entries.
    """

    def __init__(self, loaded: LoadedIndex) -> None:
        self.loaded = loaded
        self.lexical = LexicalIndex([d.text for d in loaded.docs])
        self.entry_ids = list(loaded.entries)
        position = {entry_id: i for i, entry_id in enumerate(self.entry_ids)}
        self.doc_entry = np.asarray([position[d.entry_id] for d in loaded.docs], dtype=np.int64)
        self.answers = LexicalIndex([f"{e.question} {e.answer}" for e in loaded.entries.values()])
        classifier = loaded.classifier
        # Classifier labels are sorted; this maps them to entry positions.
        self.label_entry = (np.asarray([position[label] for label in classifier.labels], dtype=np.int64)
                            if classifier is not None else None)


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

        n = len(snap.entry_ids)
        vector = self.embedder.encode_query(query)
        # Per entry: the best of its question forms. Entries outside every signal are not candidates.
        dense = np.zeros(n, dtype=np.float64)
        candidate = np.zeros(n, dtype=bool)
        found = search_dense(snap.loaded, vector, min(candidates, len(snap.doc_entry)))
        if found:
            doc_ids, doc_scores = zip(*found, strict=True)
            entries = snap.doc_entry[list(doc_ids)]
            np.maximum.at(dense, entries, np.asarray(doc_scores, dtype=np.float64))
            candidate[entries] = True
        lexical = np.zeros(n, dtype=np.float64)
        query_features = features(query)
        np.maximum.at(lexical, snap.doc_entry, snap.lexical.feature_scores(query_features))
        candidate |= lexical > 0
        answer_lex = snap.answers.feature_scores(query_features)
        lexical += w.answer_text * answer_lex
        candidate |= answer_lex > 0
        probs = np.zeros(n, dtype=np.float64)
        class_weight = 0.0
        if snap.loaded.classifier is not None and snap.label_entry is not None:
            probs[snap.label_entry] = snap.loaded.classifier.probability_array(query)
            class_weight = w.classifier
            candidate |= probs > 0.01

        d_scaled = np.clip((dense - w.dense_floor) / (1.0 - w.dense_floor), 0.0, 1.0)
        base = dense_weight * d_scaled + (1 - dense_weight) * lexical
        scores = np.where(candidate, (1 - class_weight) * base + class_weight * probs, -np.inf)
        count = min(k, int(candidate.sum()))
        if count == 0:
            return Retrieval(query, (), False)
        best = np.argpartition(-scores, count - 1)[:count] if count < n else np.arange(n)
        best = best[np.lexsort((best, -scores[best]))][:count]
        top = tuple(Hit(snap.entry_ids[i], float(scores[i]), float(dense[i]), float(lexical[i]), float(probs[i]))
                    for i in best)
        confident = top[0].score >= self.threshold
        if confident and len(top) > 1:
            confident = top[0].score - top[1].score >= self.margin
        return Retrieval(query, top, confident)

    def suggestions(self, retrieval: Retrieval) -> Sequence[Entry]:
        return [e for h in retrieval.hits if (e := self.entry(h.entry_id)) is not None]
