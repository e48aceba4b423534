"""Lexical retrieval over diacritic-stripped text.

Dense e5 embeddings are close to random on unaccented input (DESIGN §4), so a
lexical signal on the folded form carries those queries. Features: folded
syllables, syllable pairs and character trigrams (for typos), TF-IDF weighted,
scored by cosine so the score is absolute (0..1) and usable for confidence.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

import numpy as np
from scipy.sparse import csr_array

from helpline.text import fold_tokens

# Folded function words that carry no topic. Kept short on purpose: in this
# domain "ban" (sell/you) and "nguoi" (person) are meaningful.
STOPWORDS = frozenset(
    "a a ah oi a u thi la va voi cua cho nhe nha nhi vay roi ha ho hay cai nay do kia "
    "minh toi em anh chi ban oi xin hoi cho hoi muon biet giup".split()
)
_WEIGHTS = {"w": 1.0, "b": 1.2, "c": 0.35}


def features(text: str) -> Counter[str]:
    tokens = fold_tokens(text)
    content = [t for t in tokens if t not in STOPWORDS] or tokens
    feats: Counter[str] = Counter()
    for tok in content:
        feats[f"w:{tok}"] += 1
        padded = f"#{tok}#"
        for i in range(len(padded) - 2):
            feats[f"c:{padded[i:i + 3]}"] += 1
    for left, right in zip(tokens, tokens[1:], strict=False):
        feats[f"b:{left}_{right}"] += 1
    return feats


class LexicalIndex:
    """TF-IDF cosine over folded features, as a features x documents matrix.

    A query is one sparse row times that matrix, in scipy's compiled code: at
    10,000 entries it touches ~500k postings, mostly common character trigrams.
    Features in at least half of the documents are dense rows instead: adding a
    contiguous row is faster than scattering that many postings, in about the same memory.
    """

    def __init__(self, docs: Sequence[str]) -> None:
        self.size = len(docs)
        doc_feats = [features(d) for d in docs]
        df: Counter[str] = Counter()
        for feats in doc_feats:
            df.update(feats.keys())
        self._idf = {f: math.log((1 + self.size) / (1 + n)) + 1.0 for f, n in df.items()}
        common = [f for f, n in df.items() if 2 * n >= self.size]
        self._dense_row = {f: i for i, f in enumerate(common)}
        self._sparse_row = {f: i for i, f in enumerate(f for f in df if f not in self._dense_row)}
        # Documents with the same features (a question and its folded copy) get the same score:
        # one column per distinct feature set (idf still counts every document).
        column_of: dict[tuple[tuple[str, int], ...], int] = {}
        self._column = np.empty(self.size, dtype=np.int64)
        dense_postings: list[tuple[int, int, float]] = []
        rows: list[int] = []
        columns: list[int] = []
        values: list[float] = []
        for doc_id, feats in enumerate(doc_feats):
            key = tuple(sorted(feats.items()))
            col = column_of.get(key)
            if col is None:
                col = column_of[key] = len(column_of)
                weights = self._weigh(feats)
                norm = math.sqrt(sum(w * w for w in weights.values())) or 1.0
                for feat, w in weights.items():
                    row = self._dense_row.get(feat)
                    if row is None:
                        rows.append(self._sparse_row[feat])
                        columns.append(col)
                        values.append(w / norm)
                    else:
                        dense_postings.append((row, col, w / norm))
            self._column[doc_id] = col
        self._has_copies = len(column_of) < self.size
        self._dense = np.zeros((len(common), len(column_of)), dtype=np.float64)
        for row, col, value in dense_postings:
            self._dense[row, col] = value
        coords = (np.asarray(rows, dtype=np.int32), np.asarray(columns, dtype=np.int32))
        self._sparse = csr_array((np.asarray(values, dtype=np.float64), coords),
                                 shape=(len(self._sparse_row), len(column_of)))

    def _weigh(self, feats: Counter[str]) -> dict[str, float]:
        # Unseen features get the highest idf: a query full of unknown words
        # must not look like a close match because one common word matched.
        unseen = math.log(1 + self.size) + 1.0
        return {f: (1.0 + math.log(n)) * self._idf.get(f, unseen) * _WEIGHTS[f[0]] for f, n in feats.items()}

    def scores(self, query: str) -> np.ndarray:
        """Cosine similarity of the query to every document (0..1), as a float64 array."""
        return self.feature_scores(features(query))

    def feature_scores(self, feats: Counter[str]) -> np.ndarray:
        """:meth:`scores` for a query's :func:`features` (computed once for several indexes)."""
        weights = self._weigh(feats)
        norm = math.sqrt(sum(w * w for w in weights.values()))
        if not norm:
            return np.zeros(self.size, dtype=np.float64)
        rows: list[int] = []
        values: list[float] = []
        dense: list[tuple[int, float]] = []
        for feat, w in weights.items():
            if (row := self._sparse_row.get(feat)) is not None:
                rows.append(row)
                values.append(w / norm)
            elif (row := self._dense_row.get(feat)) is not None:
                dense.append((row, w / norm))
        if rows:
            indices = np.asarray(rows, dtype=self._sparse.indices.dtype)
            query_row = csr_array((np.asarray(values, dtype=np.float64), indices,
                                   np.asarray([0, len(rows)], dtype=indices.dtype)),
                                  shape=(1, self._sparse.shape[0]))
            out = (query_row @ self._sparse).toarray()[0]
        else:
            out = np.zeros(self._sparse.shape[1], dtype=np.float64)
        for row, value in dense:
            out += value * self._dense[row]
        return out[self._column] if self._has_copies else out
