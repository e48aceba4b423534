"""Lexical retrieval over diacritic-stripped text.

Dense e5 embeddings are close to random on unaccented input (DESIGN §4), so a
lexical signal on the folded form carries those queries. Features: folded
syllables, syllable pairs and character trigrams (for typos), TF-IDF weighted,
scored by cosine so the score is absolute (0..1) and usable for confidence.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Sequence

import numpy as np

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
    """TF-IDF cosine over folded features, with an inverted index for speed.

    Each feature's postings are two numpy arrays (document ids, weights), so a
    query costs one vectorised add per query feature instead of a Python loop
    over every posting: at 10,000 entries common trigrams occur in most documents.
    """

    def __init__(self, docs: Sequence[str]) -> None:
        self.size = len(docs)
        doc_feats = [features(d) for d in docs]
        df: Counter[str] = Counter()
        for feats in doc_feats:
            df.update(feats.keys())
        self._idf = {f: math.log((1 + self.size) / (1 + n)) + 1.0 for f, n in df.items()}
        # Documents with the same features (a question and its folded copy) get the same score:
        # score each distinct one once and copy (idf still counts every document).
        first: dict[tuple[tuple[str, int], ...], int] = {}
        self._same_as = np.arange(self.size, dtype=np.int64)
        distinct: list[tuple[int, Counter[str]]] = []
        for doc_id, feats in enumerate(doc_feats):
            key = tuple(sorted(feats.items()))
            if key in first:
                self._same_as[doc_id] = first[key]
            else:
                first[key] = doc_id
                distinct.append((doc_id, feats))
        self._has_copies = len(distinct) < self.size
        postings: dict[str, tuple[list[int], list[float]]] = defaultdict(lambda: ([], []))
        for doc_id, feats in distinct:
            weights = self._weigh(feats)
            norm = math.sqrt(sum(w * w for w in weights.values())) or 1.0
            for feat, w in weights.items():
                ids, values = postings[feat]
                ids.append(doc_id)
                values.append(w / norm)
        self._postings = {f: (np.asarray(ids, dtype=np.int64), np.asarray(values, dtype=np.float64))
                          for f, (ids, values) in postings.items()}

    def _weigh(self, feats: Counter[str]) -> dict[str, float]:
        # Unseen features get the highest idf: a query full of unknown words
        # must not look like a close match because one common word matched.
        unseen = math.log(1 + self.size) + 1.0
        return {f: (1.0 + math.log(n)) * self._idf.get(f, unseen) * _WEIGHTS[f[0]] for f, n in feats.items()}

    def scores(self, query: str) -> np.ndarray:
        """Cosine similarity of the query to every document (0..1), as a float64 array."""
        out = np.zeros(self.size, dtype=np.float64)
        weights = self._weigh(features(query))
        norm = math.sqrt(sum(w * w for w in weights.values()))
        if not norm:
            return out
        for feat, qw in weights.items():
            posting = self._postings.get(feat)
            if posting is not None:
                # Document ids are unique within one posting list, so fancy-index += is exact.
                out[posting[0]] += qw * posting[1] / norm
        return out[self._same_as] if self._has_copies else out
