"""Learned ranking and the answer policy: which entry, and answer, answer with alternatives, or ask.

Each candidate entry gets a feature row (the retrieval signals on the whole message and on its
asked part, plus facts such as an old-law entry for a question that does not ask about the old
law). A linear model scores the rows. It is fitted listwise: a softmax over the candidates and
one "none of them" option (a learned constant score) gives the probability that each candidate is
the right entry, so the first entry's probability is the confidence, and out-of-scope questions
are learned as "none". Two thresholds on it choose the outcome.
Both are fitted by ``scripts/fit_ranking.py`` on the tuning halves of the evaluation sets only
and stored as plain JSON next to this module (docs/retrieval.md has the method and figures).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

import numpy as np

MODEL_FILE = Path(__file__).with_name("ranking_model.json")

FEATURES: tuple[str, ...] = (
    "dense",  # e5 cosine to the question forms, rescaled above the floor (whole message)
    "lexical",  # TF-IDF cosine on folded text to the question forms (whole message)
    "answer",  # TF-IDF cosine to the entry's question + answer text (whole message)
    "classifier",  # entry classifier probability (whole message)
    "asked_dense",  # the same four on the asked part of a long message (0 when it is the whole message)
    "asked_lexical",
    "asked_answer",
    "asked_classifier",
    "dense_accented",  # dense again when the message has diacritics (e5 is weak without them)
    "old_rules_unasked",  # an old-law entry for a message that does not ask about the old law
    "old_rules_asked",  # an old-law entry for a message that asks about the old law
    "age_mismatch",  # the entry's offence does not fit the victim's age in the story (Điều 150 under 16, 151 from 16)
    "article_named",  # the message names an article the entry cites
    "long_message",  # the message has an asked part different from the whole
    "rank_dense",  # 1 / the entry's rank by each signal (0 below the 10th)
    "rank_lexical",
    "rank_classifier",
    "rank_asked",  # by the lexical and classifier signals of the asked part
    "kind_match",  # the asked part wants a penalty / support / where-to-report answer and the entry gives it
    "kind_mismatch",  # ... and the entry does not
)


class Outcome(str, Enum):
    ANSWER = "answer"
    ANSWER_WITH_ALTERNATIVES = "answer_with_alternatives"
    ASK = "ask"


@dataclass(frozen=True)
class RankingModel:
    weights: dict[str, float]
    none_score: float = 0.0  # the score of "no entry answers this"
    answer_at: float = 0.8  # answer alone from this probability
    suggest_at: float = 0.45  # answer with alternatives from this probability; ask below
    fitted_on: str = ""
    notes: dict[str, float | str] = field(default_factory=dict)

    @property
    def vector(self) -> np.ndarray:
        return np.asarray([self.weights.get(f, 0.0) for f in FEATURES], dtype=np.float64)

    def scores(self, rows: np.ndarray) -> np.ndarray:
        """One score per candidate row (features in :data:`FEATURES` order)."""
        return rows @ self.vector

    def probabilities(self, scores: np.ndarray) -> np.ndarray:
        """Softmax over the candidates' scores and "none of them" (the last value)."""
        z = np.append(np.asarray(scores, dtype=np.float64), self.none_score)
        z = np.exp(z - z.max())
        return z / z.sum()

    def outcome(self, confidence: float) -> Outcome:
        if confidence >= self.answer_at:
            return Outcome.ANSWER
        if confidence >= self.suggest_at:
            return Outcome.ANSWER_WITH_ALTERNATIVES
        return Outcome.ASK

    def to_json(self) -> str:
        return json.dumps({
            "weights": self.weights, "none_score": self.none_score,
            "answer_at": self.answer_at, "suggest_at": self.suggest_at,
            "fitted_on": self.fitted_on, "notes": self.notes,
        }, ensure_ascii=False, indent=1) + "\n"

    @classmethod
    def load(cls, path: Path = MODEL_FILE) -> RankingModel:
        data = json.loads(path.read_text(encoding="utf-8"))
        unknown = set(data["weights"]) - set(FEATURES)
        if unknown:
            raise ValueError(f"{path}: unknown ranking features {sorted(unknown)}")
        return cls(weights={k: float(v) for k, v in data["weights"].items()},
                   none_score=float(data["none_score"]), answer_at=float(data["answer_at"]),
                   suggest_at=float(data["suggest_at"]),
                   fitted_on=str(data.get("fitted_on", "")), notes=dict(data.get("notes", {})))


# Rules of law rather than patterns in the data: their weights are set, not fitted (too few
# tuning questions carry them to learn a weight that always wins).
FIXED_WEIGHTS: dict[str, float] = {"age_mismatch": -10.0, "old_rules_asked": 6.0, "old_rules_unasked": -3.0}

# The hand-set fusion of the first version, expressed as weights of these features: the
# starting point when no fitted model exists (tests build small indexes without one).
HAND_SET = RankingModel(
    weights={"dense": 0.6 * 0.35, "lexical": 0.6 * 0.65, "answer": 0.6 * 0.65 * 0.6, "classifier": 0.4,
             **FIXED_WEIGHTS},
    none_score=0.3, answer_at=0.8, suggest_at=0.45,
    fitted_on="hand-set (version 1 fusion)",
)


def load_default() -> RankingModel:
    return RankingModel.load() if MODEL_FILE.is_file() else HAND_SET
