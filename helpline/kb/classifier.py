"""A linear classifier over folded text that maps a question to an entry.

Trained at index build on each entry's question and paraphrases (never on the
evaluation set), it learns which syllables and character n-grams tell entries
apart, which carries unaccented and teen-code questions that dense e5 misses.
It is saved as plain arrays (npz + JSON vocabulary), never pickled.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from helpline.text import fold_tokens

CHAR_NGRAMS = (2, 5)
REGULARISATION_C = 10.0


def _features(text: str) -> Counter[str]:
    tokens = fold_tokens(text)
    feats: Counter[str] = Counter()
    for tok in tokens:
        feats[f"w:{tok}"] += 1
        padded = f" {tok} "
        for n in range(CHAR_NGRAMS[0], CHAR_NGRAMS[1] + 1):
            for i in range(len(padded) - n + 1):
                feats[f"c:{padded[i:i + n]}"] += 1
    for left, right in zip(tokens, tokens[1:], strict=False):
        feats[f"b:{left}_{right}"] += 1
    return feats


class EntryClassifier:
    def __init__(self, labels: list[str], vocabulary: dict[str, int], idf: np.ndarray,
                 weights: np.ndarray, bias: np.ndarray) -> None:
        self.labels = labels
        self.vocabulary = vocabulary
        self.idf = idf
        self.weights = weights  # (n_features, n_labels): one column per entry
        self.bias = bias

    def _vector(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        idx, vals = [], []
        for feat, count in _features(text).items():
            j = self.vocabulary.get(feat)
            if j is not None:
                idx.append(j)
                vals.append((1.0 + math.log(count)) * float(self.idf[j]))
        values = np.asarray(vals, dtype=np.float32)
        norm = float(np.linalg.norm(values))
        return np.asarray(idx, dtype=np.int64), values / norm if norm else values

    def probability_array(self, text: str) -> np.ndarray:
        """Probabilities in the order of :attr:`labels` (float32)."""
        idx, values = self._vector(text)
        logits = self.bias + (values @ self.weights[idx] if len(idx) else 0.0)
        logits = logits - logits.max()
        probs = np.exp(logits)
        probs /= probs.sum()
        return probs

    def probabilities(self, text: str) -> dict[str, float]:
        return dict(zip(self.labels, self.probability_array(text).tolist(), strict=True))

    @classmethod
    def train(cls, texts: Sequence[str], labels: Sequence[str]) -> EntryClassifier:
        from scipy.sparse import csr_matrix
        from sklearn.linear_model import LogisticRegression

        feats = [_features(t) for t in texts]
        vocabulary: dict[str, int] = {}
        for f in feats:
            for key in f:
                vocabulary.setdefault(key, len(vocabulary))
        df = np.zeros(len(vocabulary), dtype=np.float64)
        for f in feats:
            df[[vocabulary[k] for k in f]] += 1
        idf = (np.log((1 + len(texts)) / (1 + df)) + 1.0).astype(np.float32)
        rows, cols, vals = [], [], []
        for i, f in enumerate(feats):
            entries = [(vocabulary[k], (1.0 + math.log(c)) * float(idf[vocabulary[k]])) for k, c in f.items()]
            norm = math.sqrt(sum(v * v for _, v in entries)) or 1.0
            for j, v in entries:
                rows.append(i)
                cols.append(j)
                vals.append(v / norm)
        matrix = csr_matrix((vals, (rows, cols)), shape=(len(texts), len(vocabulary)), dtype=np.float64)
        label_list = sorted(set(labels))
        y = np.asarray([label_list.index(label) for label in labels])
        model = LogisticRegression(C=REGULARISATION_C, max_iter=3000)
        model.fit(matrix, y)
        return cls(label_list, vocabulary, idf, model.coef_.T.astype(np.float32), model.intercept_.astype(np.float32))

    def save(self, folder: Path) -> None:
        np.savez_compressed(folder / "classifier.npz", idf=self.idf, weights=self.weights, bias=self.bias)
        (folder / "classifier.json").write_text(
            json.dumps({"labels": self.labels, "vocabulary": self.vocabulary}, ensure_ascii=False), encoding="utf-8"
        )

    @classmethod
    def load(cls, folder: Path) -> EntryClassifier:
        meta: dict[str, Any] = json.loads((folder / "classifier.json").read_text(encoding="utf-8"))
        with np.load(folder / "classifier.npz", allow_pickle=False) as arrays:
            return cls(meta["labels"], meta["vocabulary"], arrays["idf"], arrays["weights"], arrays["bias"])
