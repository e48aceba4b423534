"""Report reference codes: ``BT-XXXX-XXXX``, 8 characters from an alphabet without look-alikes.

31 symbols (no 0/O, 1/I/L) to the 8th power is about 8.5e11 codes: unguessable in practice, and a
code only ever opens a report to the same channel-namespaced sender that filed it anyway.
Pure functions, no Rasa import: the NLU component and the actions both use them.
"""

from __future__ import annotations

import re
import secrets

ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
LENGTH = 8
PREFIX = "BT"
# "BT-7K3M-Q9PA", "bt 7k3m q9pa", "BT7K3MQ9PA", "Bt–7K3M–Q9PA" (en dash from a phone keyboard).
_CODE = re.compile(r"(?<![A-Za-z0-9])bt[\s\-–—_.:#]*([a-z0-9]{4})[\s\-–—_.]*([a-z0-9]{4})(?![A-Za-z0-9])",
                   re.IGNORECASE)


def new_code() -> str:
    """A fresh code, formatted ``BT-XXXX-XXXX`` (uniqueness is the store's job)."""
    raw = "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))
    return format_code(raw)


def format_code(raw: str) -> str:
    return f"{PREFIX}-{raw[:4]}-{raw[4:]}"


def find_code(text: str) -> tuple[str, str] | None:
    """The first well-formed code in a message, normalised, and the rest of the message.

    Returns None when there is none, or when its characters are outside the alphabet (a typo
    gets the same neutral reply as an unknown code, by the caller).
    """
    match = _CODE.search(text or "")
    if match is None:
        return None
    raw = (match.group(1) + match.group(2)).upper()
    if any(ch not in ALPHABET for ch in raw):
        return None
    marks = " \t\r\n:,.;!-–—"
    rest = text[: match.start()].rstrip(marks) + " " + text[match.end():].lstrip(marks)
    return format_code(raw), " ".join(rest.split())


def looks_like_code(text: str) -> bool:
    """Whether a message carries a code-shaped token (even a mistyped one)."""
    return _CODE.search(text or "") is not None


# Words around a code that say nothing yet ("mã của em là …", "bổ sung thêm thông tin").
_FILLER = frozenset(
    "ma cua toi em minh anh chi tui la bo sung them thong tin muon cho bao tin so day nhe a oi vao "
    "ve voi nay the code bt".split())


def addition_text(rest: str) -> str | None:
    """What a message adds beside its code, or None when it is only filler around the code."""
    from helpline.text import fold_tokens

    if any(token not in _FILLER for token in fold_tokens(rest, expand_teen_code=False)):
        return rest
    return None
