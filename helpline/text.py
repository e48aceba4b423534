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
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_NON_WORD = re.compile(r"[^\w]+", re.UNICODE)
# Bidirectional formatting characters: embeddings, overrides, isolates and marks.
BIDI_NAMES: dict[str, str] = {
    "\u202a": "⟨LRE⟩", "\u202b": "⟨RLE⟩", "\u202c": "⟨PDF⟩", "\u202d": "⟨LRO⟩", "\u202e": "⟨RLO⟩",
    "\u2066": "⟨LRI⟩", "\u2067": "⟨RLI⟩", "\u2068": "⟨FSI⟩", "\u2069": "⟨PDI⟩",
    "\u200e": "⟨LRM⟩", "\u200f": "⟨RLM⟩", "\u061c": "⟨ALM⟩",
}
_BIDI = re.compile("[" + "".join(BIDI_NAMES) + "]")

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
    """NFC-normalise, drop zero-width, bidi and control characters and lone surrogates, collapse whitespace."""
    # A lone surrogate (valid in JSON, not in UTF-8) or a NUL would make the databases refuse the text.
    text = (text or "").encode("utf-8", "replace").decode("utf-8")
    text = _CONTROL.sub("", unicodedata.normalize("NFC", text))
    text = _ZERO_WIDTH.sub("", text)
    text = _BIDI.sub("", text)  # a right-to-left override would make staff read the text backwards
    return _SPACES.sub(" ", text).strip()


def show_bidi(text: str) -> str:
    """Bidi control characters made visible (``⟨RLO⟩``), for showing untrusted text to staff."""
    return _BIDI.sub(lambda m: BIDI_NAMES[m.group(0)], text) if _BIDI.search(text) else text


def strip_diacritics(text: str) -> str:
    """Remove Vietnamese diacritics; đ/Đ become d/D. Case is kept."""
    text = text.replace("đ", "d").replace("Đ", "D")
    decomposed = unicodedata.normalize("NFD", text)
    return unicodedata.normalize("NFC", "".join(c for c in decomposed if not unicodedata.combining(c)))


def has_diacritics(text: str) -> bool:
    """True if the text carries any Vietnamese diacritic (so it was typed accented)."""
    return strip_diacritics(text) != text


def fold_tokens(text: str, expand_teen_code: bool = True) -> list[str]:
    """Folded syllables: NFKC, lower case, no diacritics, teen code expanded, no punctuation."""
    # NFKC first: fullwidth "ｃｕｕ", ligatures and other compatibility forms read as the plain letters.
    base = strip_diacritics(unicodedata.normalize("NFKC", clean(text)).lower())
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
# 9- or 12-digit ID numbers, e-mail addresses and street addresses.
# Every pattern runs in linear time on any input (a message is attacker-controlled): bounded
# repetitions, look-behinds that allow a match to start only at the beginning of a run, no two
# adjacent quantifiers over the same characters, and e-mail found by a scanner (below).
_PHONE = re.compile(r"(?<![\w.])(?:\+?84|0)(?:[\s.-]?\d){8,10}(?![\w])")
_ID_NUMBER = re.compile(r"(?<![\w.])\d{9}(?:\d{3})?(?![\w])")

# Addresses, conservatively: an address word ("ngõ", "hẻm", "đường", "phường", "xã", "thôn", "ấp", "tổ" ...)
# followed by a house or street number ("ngõ 12", "hẻm 45/2", "to 3"), or, for the accented words and
# the unambiguous unaccented ones, by capitalised names ("đường Lê Lợi", "phuong Ben Nghe"). Lower-case
# names are left alone, so "đường dây nóng", "tổ chức" and "xã hội" stay readable.
ADDRESS_MASK = "[địa chỉ]"
_NAMED_ADDRESS_WORDS = (
    "số nhà", "ngõ", "ngách", "hẻm", "kiệt", "đường", "phố", "khu phố", "tổ dân phố", "phường", "xã", "thôn",
    "ấp", "tổ", "xóm", "khóm", "so nha", "ngach", "kiet", "duong", "khu pho", "to dan pho", "phuong", "thon", "xom",
)
_NUMBERED_ONLY_WORDS = ("ngo", "hem", "pho", "xa", "ap", "to", "khom")  # too ambiguous before a name
_ADDRESS_WORD = re.compile(
    r"(?<!\w)(" + "|".join(sorted((re.escape(w) for w in (*_NAMED_ADDRESS_WORDS, *_NUMBERED_ONLY_WORDS)),
                                   key=len, reverse=True)) + r")(?!\w)",
    re.IGNORECASE,
)
_NEXT_WORD = re.compile(r"[ \t]+([^\s,;:.!?()\[\]\"]+)")
_HOUSE_NUMBER = re.compile(r"\d{1,5}[A-Za-z]?(?:[/-]\d{1,5}[A-Za-z]?)*")
_NUMBER_BEFORE_MASK = re.compile(
    r"(?<!\w)(?:(?:số|so|nhà|nha)\s+)?\d{1,5}[A-Za-z]?(?:[/-]\d{1,5}[A-Za-z]?)*\s*(?:,\s*)?(?=\[địa chỉ\])",
    re.IGNORECASE,
)
_MASK_RUN = re.compile(r"\[địa chỉ\](?:[\s,]*\[địa chỉ\])+")


def _is_name(word: str) -> bool:
    return word[0].isalpha() and word[0].isupper()


def _address_end(text: str, start: int, names_allowed: bool) -> int | None:
    """Where the address that starts with an address word ending at ``start`` ends, or None."""
    end, pos = None, start
    found = _NEXT_WORD.match(text, pos)
    if found and _HOUSE_NUMBER.fullmatch(found.group(1)):
        end = pos = found.end()
    elif not names_allowed:
        return None
    for _ in range(5):
        found = _NEXT_WORD.match(text, pos)
        if found is None or not _is_name(found.group(1)):
            break
        end = pos = found.end()
    return end


def mask_addresses(text: str) -> str:
    """Replace street addresses (see above) with ``[địa chỉ]``."""
    out: list[str] = []
    last = 0
    for match in _ADDRESS_WORD.finditer(text):
        if match.start() < last:
            continue
        word = match.group(1).lower()
        if word in ("phố", "pho") and text[max(0, match.start() - 6):match.start()].lower().strip() in ("thành",
                                                                                                          "thanh"):
            continue  # "thành phố Hồ Chí Minh" is a city, not an address
        end = _address_end(text, match.end(), word not in _NUMBERED_ONLY_WORDS)
        if end is None:
            continue
        out.append(text[last:match.start()])
        out.append(ADDRESS_MASK)
        last = end
    if not out:
        return text
    out.append(text[last:])
    masked = _NUMBER_BEFORE_MASK.sub("", "".join(out))
    return _MASK_RUN.sub(ADDRESS_MASK, masked)


def _is_local_char(ch: str) -> bool:
    return ch.isalnum() or ch in "_.+-"  # the regex class [\w.+-]


def _is_domain_char(ch: str) -> bool:
    return ch.isalnum() or ch in "_-"  # [\w-]


def _domain_end(text: str, start: int) -> int | None:
    """End of ``[\\w-]+\\.[\\w.-]+`` matched at ``start``, or None (deterministic: no backtracking)."""
    n, pos = len(text), start
    while pos < n and _is_domain_char(text[pos]):
        pos += 1
    if pos == start or pos >= n - 1 or text[pos] != "." or not (_is_domain_char(text[pos + 1]) or
                                                                 text[pos + 1] == "."):
        return None
    pos += 1
    while pos < n and (_is_domain_char(text[pos]) or text[pos] == "."):
        pos += 1
    return pos


def mask_emails(text: str) -> str:
    """Replace e-mail addresses with ``[email]``: what ``[\\w.+-]+@[\\w-]+\\.[\\w.-]+`` finds, in linear time.

    Scans from each ``@``: back over the local part (never past the previous match or ``@``), forward
    over the domain (which stops at the next ``@``), so every character is looked at a bounded number
    of times. The regex itself is quadratic on a long run of word characters without an ``@``.
    """
    at = text.find("@")
    if at < 0:
        return text
    out: list[str] = []
    last = 0
    while at >= 0:
        begin = at
        while begin > last and _is_local_char(text[begin - 1]):
            begin -= 1
        end = _domain_end(text, at + 1) if begin < at else None
        if end is not None:
            out.append(text[last:begin])
            out.append("[email]")
            last = end
            at = text.find("@", end)
        else:
            at = text.find("@", at + 1)
    if not out:
        return text
    out.append(text[last:])
    return "".join(out)


def mask_pii(text: str) -> str:
    """Mask phone numbers, ID numbers, e-mail and street addresses (for logs, previews and exports)."""
    text = mask_emails(text)
    text = _PHONE.sub("[sđt]", text)
    text = _ID_NUMBER.sub("[số giấy tờ]", text)
    return mask_addresses(text)


_KEY_PREFIX = re.compile(r"^([a-z]{2,16}):(.*)$", re.DOTALL)


def mask_id(value: str) -> str:
    """Mask a platform user id or conversation key for logs, keeping only enough to correlate lines.

    A conversation key keeps its channel ("telegram:12***89"): the channel is not personal.
    """
    value = str(value)
    if match := _KEY_PREFIX.match(value):
        return f"{match.group(1)}:{mask_id(match.group(2))}"
    if len(value) <= 4:
        return "***"
    return f"{value[:2]}***{value[-2:]}"
