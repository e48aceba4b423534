"""Hybrid FAQ retrieval: dense e5, lexical similarity on folded text, and an entry classifier.

Three signals are fused (docs/retrieval.md has the measurements):
- dense e5 cosine to the question forms, rescaled above the floor where
  unrelated Vietnamese sentences sit;
- lexical cosine on folded text (to question forms, plus the answer text),
  which carries unaccented input where dense e5 is close to random (DESIGN §4);
- a linear classifier trained on the paraphrases at index build.
A message is first read (:mod:`helpline.kb.question`): greetings and courtesy
are dropped, the asked part and the facts of the story are found. A learned
linear model (:mod:`helpline.kb.ranking`) scores every candidate from the
signals on the whole message and on the asked part; a calibrated probability
that the first entry is right chooses between answering, answering with
alternatives, and asking which of the best 3 was meant.
"""

from __future__ import annotations

import logging
import re
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
from helpline.kb.question import ASKED_KINDS, Question, asked_kinds, facts_of, understand
from helpline.kb.ranking import FEATURES, Outcome, RankingModel, load_default
from helpline.text import clean, fold, has_diacritics

if TYPE_CHECKING:
    from helpline.kb.embedder import Embedder

logger = logging.getLogger(__name__)


# The softmax of the answer policy runs over this many best candidates (as when it was fitted).
POOL = 30
DENSE_FLOOR = 0.75  # e5 cosines of unrelated Vietnamese sentences sit around 0.75-0.8
_ARTICLE_CITED = re.compile(r"điều\s+(\d{2,3})", re.IGNORECASE)


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
    outcome: Outcome = Outcome.ASK
    confidence: float = 0.0
    # Entries for the other parts of a multi-part question, in the order asked.
    follow_ups: tuple[Hit, ...] = ()

    @property
    def best(self) -> Hit | None:
        return self.hits[0] if self.hits else None

    @property
    def confident(self) -> bool:
        """The bot answers (alone or with alternatives) instead of asking."""
        return self.outcome is not Outcome.ASK and bool(self.hits)


@dataclass(frozen=True)
class _Signals:
    dense: np.ndarray
    lexical: np.ndarray
    answer: np.ndarray
    classifier: np.ndarray
    candidate: np.ndarray


def _reciprocal_rank(values: np.ndarray, depth: int = 10) -> np.ndarray:
    """1 / rank of each value among all (1 for the best), 0 below the first `depth` or at zero."""
    order = np.argsort(-values, kind="stable")[:depth]
    out = np.zeros(len(values), dtype=np.float64)
    out[order] = 1.0 / np.arange(1, len(order) + 1)
    out[values <= 0] = 0.0
    return out


class _Snapshot:
    """One loaded index with its lexical twin; replaced whole on reload.

    Signals are arrays indexed by entry position, so a query costs the same few
    vector operations with 150 or 10,000 entries.
    """

    def __init__(self, loaded: LoadedIndex) -> None:
        self.loaded = loaded
        self.lexical = LexicalIndex([d.text for d in loaded.docs])
        self.entry_ids = list(loaded.entries)
        position = {entry_id: i for i, entry_id in enumerate(self.entry_ids)}
        self.doc_entry = np.asarray([position[d.entry_id] for d in loaded.docs], dtype=np.int64)
        entries = list(loaded.entries.values())
        self.answers = LexicalIndex([f"{e.question} {e.answer}" for e in entries])
        classifier = loaded.classifier
        # Classifier labels are sorted; this maps them to entry positions.
        self.label_entry = (np.asarray([position[label] for label in classifier.labels], dtype=np.int64)
                            if classifier is not None else None)
        self.old_rules = np.asarray([e.old_rules for e in entries], dtype=np.float64)
        cited = [{int(a) for a in _ARTICLE_CITED.findall(" ".join(e.legal_basis))} for e in entries]
        self.articles: dict[int, np.ndarray] = {}
        for i, arts in enumerate(cited):
            for art in arts:
                self.articles.setdefault(art, np.zeros(len(entries), dtype=np.float64))[i] = 1.0
        # Điều 151 is the under-16 offence, Điều 150 the offence against a person of 16 or more.
        self.cites_151 = self.articles.get(151, np.zeros(len(entries)))
        self.cites_150_only = self.articles.get(150, np.zeros(len(entries))) * (1 - self.cites_151)
        self.gives: dict[str, np.ndarray] = {
            kind: np.asarray([e.topic in topics for e in entries], dtype=np.float64)
            for kind, (_, topics) in ASKED_KINDS.items()}


class FaqRetriever:
    def __init__(
        self,
        build_dir: Path,
        embedder: Embedder,
        *,
        model: RankingModel | None = None,
        reload_check_seconds: float = 2.0,
    ) -> None:
        self.build_dir = build_dir
        self.embedder = embedder
        self.model = model or load_default()
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

    def _signals(self, snap: _Snapshot, text: str, candidates: int) -> _Signals:
        n = len(snap.entry_ids)
        vector = self.embedder.encode_query(text)
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
        query_features = features(text)
        np.maximum.at(lexical, snap.doc_entry, snap.lexical.feature_scores(query_features))
        answer = snap.answers.feature_scores(query_features)
        probs = np.zeros(n, dtype=np.float64)
        if snap.loaded.classifier is not None and snap.label_entry is not None:
            probs[snap.label_entry] = snap.loaded.classifier.probability_array(text)
        candidate |= (lexical > 0) | (answer > 0) | (probs > 0.01)
        dense = np.clip((dense - DENSE_FLOOR) / (1.0 - DENSE_FLOOR), 0.0, 1.0)
        return _Signals(dense, lexical, answer, probs, candidate)

    def feature_rows(self, text: str, candidates: int = 40) -> tuple[Question, np.ndarray, np.ndarray]:
        """The understood question, a candidate mask and one feature row per entry (see ranking.FEATURES)."""
        snap = self._snapshot
        question = understand(text)
        whole = self._signals(snap, question.body, candidates)
        # The asked part; for a multi-part question its main (first) part.
        main = question.parts[0] if len(question.parts) > 1 else question.asked
        asked = self._signals(snap, main, candidates) if fold(main) != fold(question.body) else whole
        facts = question.facts
        # Whether the old law is asked about is a matter of the part being ranked.
        asks_old_law = facts_of(main).asks_old_law if len(question.parts) > 1 else facts.asks_old_law
        n = len(snap.entry_ids)
        age = (np.zeros(n) if facts.under_16 is None
               else snap.cites_150_only if facts.under_16 else snap.cites_151)
        named = np.zeros(n)
        for art in facts.articles:
            if art in snap.articles:
                named = np.maximum(named, snap.articles[art])
        accented = 1.0 if has_diacritics(question.body) else 0.0
        kinds = asked_kinds(main)
        gives = np.zeros(n)
        for kind in kinds:
            gives = np.maximum(gives, snap.gives[kind])
        kind_known = 1.0 if kinds else 0.0
        columns = {
            "dense": whole.dense, "lexical": whole.lexical, "answer": whole.answer, "classifier": whole.classifier,
            "asked_dense": asked.dense, "asked_lexical": asked.lexical, "asked_answer": asked.answer,
            "asked_classifier": asked.classifier, "dense_accented": whole.dense * accented,
            "old_rules_unasked": snap.old_rules * (0.0 if asks_old_law else 1.0),
            "old_rules_asked": snap.old_rules * (1.0 if asks_old_law else 0.0),
            "age_mismatch": age, "article_named": named,
            "long_message": np.full(n, 1.0 if question.is_long else 0.0),
            "kind_match": gives * kind_known, "kind_mismatch": (1 - gives) * kind_known,
        }
        # How each signal ranks the entry among all of them (robust to each signal's own scale).
        for name, values in (("dense", whole.dense), ("lexical", whole.lexical + whole.answer),
                             ("classifier", whole.classifier),
                             ("asked", asked.lexical + asked.answer + asked.classifier)):
            columns[f"rank_{name}"] = _reciprocal_rank(values)
        rows = np.stack([columns[f] for f in FEATURES], axis=1)
        return question, whole.candidate | asked.candidate, rows

    def _rank(self, snap: _Snapshot, candidate: np.ndarray, rows: np.ndarray, k: int) -> list[tuple[int, float]]:
        scores = np.where(candidate, self.model.scores(rows), -np.inf)
        count = min(k, int(candidate.sum()))
        if count == 0:
            return []
        n = len(scores)
        best = np.argpartition(-scores, count - 1)[:count] if count < n else np.arange(n)
        best = best[np.lexsort((best, -scores[best]))][:count]
        return [(int(i), float(scores[i])) for i in best]

    def _confidence(self, ranked: list[tuple[int, float]]) -> float:
        """The probability that the first of the ranked candidates is the right entry."""
        return float(self.model.probabilities(np.asarray([score for _, score in ranked[:POOL]]))[0])

    def retrieve(self, text: str, k: int = 3, candidates: int = 40) -> Retrieval:
        self.maybe_reload()
        snap = self._snapshot
        query = clean(text)
        if not query:
            return Retrieval(query, ())
        question, candidate, rows = self.feature_rows(query, candidates)
        ranked = self._rank(snap, candidate, rows, max(k, POOL))
        if not ranked:
            return Retrieval(query, ())
        hits = tuple(Hit(snap.entry_ids[i], score, float(rows[i, 0]), float(rows[i, 1]), float(rows[i, 3]))
                     for i, score in ranked[:k])
        confidence = self._confidence(ranked)
        outcome = self.model.outcome(confidence)
        follow_ups: list[Hit] = []
        if outcome is not Outcome.ASK:
            for part in question.parts[1:]:
                _, part_candidate, part_rows = self.feature_rows(part, candidates)
                top = self._rank(snap, part_candidate, part_rows, POOL)
                if not top or snap.entry_ids[top[0][0]] in {h.entry_id for h in (hits[0], *follow_ups)}:
                    continue
                if self._confidence(top) >= self.model.suggest_at:
                    i, score = top[0]
                    follow_ups.append(Hit(snap.entry_ids[i], score, float(part_rows[i, 0]),
                                          float(part_rows[i, 1]), float(part_rows[i, 3])))
        return Retrieval(query, hits, outcome, confidence, tuple(follow_ups))

    def best_among(self, text: str, entry_ids: Sequence[str]) -> Entry | None:
        """The entry among ``entry_ids`` that best answers the text (None if none of them is indexed)."""
        self.maybe_reload()
        snap = self._snapshot
        position = {entry_id: i for i, entry_id in enumerate(snap.entry_ids)}
        allowed = [position[i] for i in entry_ids if i in position]
        if not allowed or not clean(text):
            return None
        _, _, rows = self.feature_rows(clean(text))
        scores = self.model.scores(rows[allowed])
        return self.entry(snap.entry_ids[allowed[int(np.argmax(scores))]])

    def alternatives(self, retrieval: Retrieval, limit: int = 2) -> list[Entry]:
        """Entries to offer beside an answer: follow-ups of a multi-part question, then the runners-up."""
        best = retrieval.best
        if best is None:
            return []
        chosen = [h.entry_id for h in retrieval.follow_ups]
        if retrieval.outcome is Outcome.ANSWER_WITH_ALTERNATIVES:
            chosen += [h.entry_id for h in retrieval.hits[1:]]
        unique = list(dict.fromkeys(i for i in chosen if i != best.entry_id))[:limit]
        return [e for i in unique if (e := self.entry(i)) is not None]

    def suggestions(self, retrieval: Retrieval) -> Sequence[Entry]:
        return [e for h in retrieval.hits if (e := self.entry(h.entry_id)) is not None]
