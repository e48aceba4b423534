"""Synthetic knowledge bases for the index benchmark, and a fast stand-in encoder.

Entries are the real ones re-issued with a distinguishing place and situation, so their
text statistics (length, vocabulary, diacritics) stay realistic. The stand-in encoder
hashes character trigrams into the real model's dimension: it lets the benchmark build
and search 10,000-entry indexes in seconds; the real model's encoding rate is measured
separately and reported next to it.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Sequence

import numpy as np

from helpline.kb.entries import Entry
from helpline.text import fold

PLACES = ("Hà Giang", "Lào Cai", "Điện Biên", "Sơn La", "Nghệ An", "Thanh Hóa", "Quảng Trị", "An Giang",
          "Tây Ninh", "Cà Mau", "Lạng Sơn", "Cao Bằng", "Hà Tĩnh", "Kon Tum", "Gia Lai", "Sóc Trăng")
SITUATIONS = ("làm thuê ở xưởng may", "đi biển đánh cá", "làm giúp việc", "lấy chồng nước ngoài",
              "đi xuất khẩu lao động", "làm ở sòng bạc", "học nghề xa nhà", "làm nhân viên quán karaoke")


def synthetic_entries(base: Sequence[Entry], count: int, paraphrases: int = 2) -> list[Entry]:
    """``count`` distinct entries derived from ``base`` (the real ones first, unchanged)."""
    out = list(base[:count])
    n = len(out)
    while n < count:
        src = base[n % len(base)]
        k = n // len(base)
        place, situation = PLACES[k % len(PLACES)], SITUATIONS[(k // len(PLACES)) % len(SITUATIONS)]
        tag = f"ở {place}, khi {situation} (mục {k})"
        out.append(dataclasses.replace(
            src, id=f"{src.id}-s{k}", question=f"{src.question.rstrip('?')} {tag}?",
            paraphrases=tuple(f"{p.rstrip('?')} {tag}" for p in src.paraphrases[:paraphrases]),
            answer=f"{src.answer}\n\nÁp dụng cho người {situation} ở {place}.",
        ))
        n += 1
    return out


class HashEmbedder:
    """Deterministic 384-dim vectors from hashed folded character trigrams (no model, no torch)."""

    model_id = "hash-trigram-384"
    dim = 384

    def __init__(self) -> None:
        self._slots: dict[str, tuple[int, float]] = {}

    def _slot(self, gram: str) -> tuple[int, float]:
        slot = self._slots.get(gram)
        if slot is None:
            digest = hashlib.blake2b(gram.encode(), digest_size=8).digest()
            slot = (int.from_bytes(digest[:4], "little") % self.dim, 1.0 if digest[4] & 1 else -1.0)
            self._slots[gram] = slot
        return slot

    def _encode(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            padded = f"  {fold(text)}  "
            for i in range(len(padded) - 2):
                j, sign = self._slot(padded[i:i + 3])
                out[row, j] += sign
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms == 0, 1.0, norms)

    def encode_docs(self, texts: Sequence[str], batch_size: int = 32, show_progress: bool = False) -> np.ndarray:
        return self._encode(texts)

    def encode_queries(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        return self._encode(texts)

    def encode_query(self, text: str) -> np.ndarray:
        return self._encode([text])[0]
