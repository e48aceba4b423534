"""Vietnamese text handling shared by retrieval, safety and the channels.

Users on Zalo often type without diacritics and in teen code ("ko", "dc", "sdt").
Everything that compares text works on a *folded* form: NFC, lower case,
diacritics stripped (đ -> d), teen code expanded, punctuation removed.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

_ZERO_WIDTH = re.compile("[\u200b\u200c\u200d\u2060\ufeff\u00ad]")
_SPACES = re.compile(r"\s+")
_NON_WORD = re.compile(r"[^\w]+", re.UNICODE)

# Teen code and common abbreviations, keyed by the folded token.
# Only unambiguous forms: "a" (anh / a) or "bt" (biet / binh thuong) are left alone.
TEEN_CODE: dict[str, str] = {
    "ko": "khong",
    "k": "khong",
    "kh": "khong",
    "khg": "khong",
    "kg": "khong",
    "hok": "khong",
    "hem": "khong",
    "dc": "duoc",
    "dk": "duoc",
    "đc": "duoc",
    "j": "gi",
    "ji": "gi",
    "sdt": "so dien thoai",
    "mk": "minh",
    "mik": "minh",
    "mh": "minh",
    "bn": "bao nhieu",
    "vs": "voi",
    "ng": "nguoi",
    "nguoj": "nguoi",
    "cty": "cong ty",
    "lm": "lam",
    "ntn": "nhu the nao",
    "bh": "bao gio",
    "r": "roi",
    "ck": "chong",
    "vk": "vo",
    "trc": "truoc",
    "bik": "biet",
    "bit": "biet",
    "cx": "cung",
    "xkld": "xuat khau lao dong",
    "tq": "trung quoc",
    "cpc": "campuchia",
    "hc": "ho chieu",
    "đt": "dien thoai",
    "dt": "dien thoai",
    "ad": "admin",
    "z": "vay",
    "dzay": "vay",
    "zay": "vay",
    "wa": "qua",
    "nhiu": "nhieu",
    "thui": "thoi",
    "ak": "a",
    "uk": "u",
    "oy": "roi",
    "rui": "roi",
    "mn": "moi nguoi",
    "nc": "nuoc",
    "tn": "tin nhan",
    "ib": "nhan tin",
    "e": "em",
    "t": "toi",
    "bme": "bo me",
    "pm": "nhan tin",
}


def clean(text: str) -> str:
    """NFC-normalise, drop zero-width characters and collapse whitespace."""
    text = unicodedata.normalize("NFC", text or "")
    text = _ZERO_WIDTH.sub("", text)
    return _SPACES.sub(" ", text).strip()


def strip_diacritics(text: str) -> str:
    """Remove Vietnamese diacritics; đ/Đ become d/D. Case is kept."""
    text = text.replace("đ", "d").replace("Đ", "D")
    decomposed = unicodedata.normalize("NFD", text)
    return unicodedata.normalize("NFC", "".join(c for c in decomposed if not unicodedata.combining(c)))


def has_diacritics(text: str) -> bool:
    """True if the text carries any Vietnamese diacritic (so it was typed accented)."""
    return strip_diacritics(text) != text


def fold_tokens(text: str, expand_teen_code: bool = True) -> list[str]:
    """Folded syllables: lower case, no diacritics, teen code expanded, no punctuation."""
    base = strip_diacritics(clean(text).lower())
    out: list[str] = []
    for raw in _NON_WORD.split(base):
        if not raw or raw == "_":
            continue
        if expand_teen_code and raw in TEEN_CODE:
            out.extend(TEEN_CODE[raw].split())
        else:
            out.append(raw)
    return out


def fold(text: str, expand_teen_code: bool = True) -> str:
    """The folded form as one string (see :func:`fold_tokens`)."""
    return " ".join(fold_tokens(text, expand_teen_code))


def contains_phrase(folded: str, phrase: str) -> bool:
    """Whole-word match of an already folded phrase inside folded text."""
    return f" {phrase} " in f" {folded} "


def any_phrase(folded: str, phrases: Iterable[str]) -> str | None:
    """The first phrase found (whole words) in folded text, or None."""
    padded = f" {folded} "
    for phrase in phrases:
        if f" {phrase} " in padded:
            return phrase
    return None


_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+")


def split_message(text: str, limit: int) -> list[str]:
    """Split a reply into chunks of at most ``limit`` characters.

    Splits on paragraphs first, then sentences, then words; never cuts a word
    unless a single word is longer than the limit.
    """
    if limit <= 0:
        raise ValueError("limit must be positive")
    text = text.strip()
    if len(text) <= limit:
        return [text] if text else []
    pieces: list[str] = []
    for para in re.split(r"\n\s*\n", text):
        for sentence in _SENTENCE_END.split(para.strip()):
            if len(sentence) <= limit:
                pieces.append(sentence)
                continue
            words = sentence.split(" ")
            current = ""
            for word in words:
                while len(word) > limit:
                    if current:
                        pieces.append(current)
                        current = ""
                    pieces.append(word[:limit])
                    word = word[limit:]
                candidate = f"{current} {word}" if current else word
                if len(candidate) > limit:
                    pieces.append(current)
                    current = word
                else:
                    current = candidate
            if current:
                pieces.append(current)
        pieces.append("\n\n")
    chunks: list[str] = []
    current = ""
    for piece in pieces:
        if piece == "\n\n":
            if current:
                current += "\n\n"
            continue
        sep = "" if not current or current.endswith("\n\n") else " "
        if len(current.rstrip()) + len(sep) + len(piece) <= limit:
            current = f"{current}{sep}{piece}"
        else:
            if current.strip():
                chunks.append(current.strip())
            current = piece
    if current.strip():
        chunks.append(current.strip())
    return chunks


# Masking for logs: phone numbers (VN mobile/landline/short international forms),
# 9- or 12-digit ID numbers, and e-mail addresses.
_PHONE = re.compile(r"(?<![\w.])(?:\+?84|0)(?:[\s.-]?\d){8,10}(?![\w])")
_ID_NUMBER = re.compile(r"(?<![\w.])\d{9}(?:\d{3})?(?![\w])")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")


def mask_pii(text: str) -> str:
    """Mask phone numbers, ID numbers and e-mail addresses (for logs and exports)."""
    text = _EMAIL.sub("[email]", text)
    text = _PHONE.sub("[sđt]", text)
    return _ID_NUMBER.sub("[số giấy tờ]", text)


def mask_id(value: str) -> str:
    """Mask a platform user id for logs, keeping only enough to correlate lines."""
    value = str(value)
    if len(value) <= 4:
        return "***"
    return f"{value[:2]}***{value[-2:]}"
