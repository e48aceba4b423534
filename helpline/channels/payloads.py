"""Button payloads from users: accepted only if the bot offered exactly that payload to this person.

A message that starts with ``/`` is, for Rasa, an intent with entities (``/emergency``,
``/ask_faq{"faq_id": …}``, ``/restart``) that skips NLU. People must not be able to set
intents by typing them: a forged ``/emergency`` would open urgent tickets, a forged
``/restart`` would un-pause a conversation held by staff. So such a message is taken as a
payload only if the bot offered it as a button in this conversation recently (the offers
are kept in the channel store under the conversation key); otherwise its leading slashes
are removed and it is read as ordinary text. Rasa's own control intents (``/restart``,
``/session_start``, ``/back``) are never accepted from a person, offered or not.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from typing import Any

OFFERED_MEMO = "offered"
OFFERED_AGE = dt.timedelta(hours=24)
MAX_OFFERED = 40
NEVER_FROM_USERS: frozenset[str] = frozenset({"restart", "session_start", "back"})
_LEADING = re.compile(r"^[\s/]+")
_INTENT = re.compile(r"^/([^{@\s]+)")


def looks_like_payload(text: str) -> bool:
    """True for what Rasa would parse as an intent (it strips the text before looking for ``/``)."""
    return (text or "").strip().startswith("/")


def intent_of(payload: str) -> str:
    match = _INTENT.match(payload.strip())
    return match.group(1) if match else ""


def as_text(text: str) -> str:
    """The message without its leading slashes, so Rasa reads it through NLU as typed text."""
    return _LEADING.sub("", text or "").strip()


def offered_in(messages: Iterable[Mapping[str, Any]]) -> list[str]:
    """The button payloads in bot messages (Rasa's ``buttons``: ``[{"title", "payload"}]``)."""
    out: list[str] = []
    for message in messages:
        for button in message.get("buttons") or ():
            payload = button.get("payload") if isinstance(button, Mapping) else None
            if isinstance(payload, str) and looks_like_payload(payload):
                out.append(payload.strip())
    return out


def merge_offered(earlier: Any, new: Iterable[str]) -> list[str]:
    """The offers to remember: newest last, each once, at most :data:`MAX_OFFERED`."""
    kept = [p for p in earlier if isinstance(p, str)] if isinstance(earlier, list) else []
    for payload in new:
        if payload in kept:
            kept.remove(payload)
        kept.append(payload)
    return kept[-MAX_OFFERED:]


def screen(text: str, offered: Any) -> tuple[str, bool]:
    """What reaches Rasa for a user's message, and whether it was refused as a payload.

    ``offered`` is the remembered list (anything else counts as none offered).
    """
    if not looks_like_payload(text):
        return text, False
    payload = text.strip()
    if intent_of(payload) not in NEVER_FROM_USERS and isinstance(offered, list) and payload in offered:
        return payload, False
    return as_text(text), True
