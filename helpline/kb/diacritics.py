"""In-domain diacritic restoration: "nan nhan duoc ho tro gi" -> "nạn nhân được hỗ trợ gì".

Dense e5 embeddings are close to random on text typed without diacritics (DESIGN §4), and
most Zalo users type that way. This model learns, from the handbook's own accented text,
which accented syllables each folded syllable stands for and which follow each other
(a syllable bigram model with add-one backoff to unigrams), and picks the most likely
accented sentence with Viterbi. It is built from the entries when an index loads: no
data or weights outside the knowledge base.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable

from helpline.text import fold_tokens, has_diacritics, strip_diacritics

_SYLLABLE = re.compile(r"\w+", re.UNICODE)
_START = "<s>"
MAX_CANDIDATES = 6
BACKOFF = 0.4  # weight of the unigram model in the interpolation


class DiacriticRestorer:
    def __init__(self, texts: Iterable[str]) -> None:
        self._forms: dict[str, Counter[str]] = defaultdict(Counter)
        self._bigrams: Counter[tuple[str, str]] = Counter()
        self._unigrams: Counter[str] = Counter()
        for text in texts:
            if not has_diacritics(text):
                continue
            previous = _START
            for syllable in _SYLLABLE.findall(text.lower()):
                self._forms[strip_diacritics(syllable)][syllable] += 1
                self._unigrams[syllable] += 1
                self._bigrams[(previous, syllable)] += 1
                previous = syllable
            self._unigrams[_START] += 1
        self._total = sum(self._unigrams.values()) or 1
        self._candidates = {f: [s for s, _ in c.most_common(MAX_CANDIDATES)] for f, c in self._forms.items()}

    def _log_p(self, previous: str, syllable: str) -> float:
        unigram = (self._unigrams[syllable] + 1) / (self._total + len(self._unigrams) + 1)
        seen = self._unigrams[previous]
        bigram = self._bigrams[(previous, syllable)] / seen if seen else 0.0
        return math.log((1 - BACKOFF) * bigram + BACKOFF * unigram)

    def restore(self, text: str) -> str:
        """The most likely accented form of folded text; syllables never seen stay as typed."""
        tokens = fold_tokens(text)
        if not tokens:
            return ""
        # Viterbi over the accented candidates of each folded syllable.
        beams: dict[str, tuple[float, list[str]]] = {_START: (0.0, [])}
        for token in tokens:
            options = self._candidates.get(token) or [token]
            next_beams: dict[str, tuple[float, list[str]]] = {}
            for option in options:
                best = max(((score + self._log_p(prev, option), path) for prev, (score, path) in beams.items()),
                           key=lambda sp: sp[0])
                next_beams[option] = (best[0], [*best[1], option])
            beams = next_beams
        return " ".join(max(beams.values(), key=lambda sp: sp[0])[1])
