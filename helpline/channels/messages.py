"""Rasa bot messages as a platform-neutral reply: text, buttons, image, native custom payload.

Every platform module maps a :class:`Reply` to its own send requests. Long
texts are split with :func:`helpline.text.split_message`; buttons stay on the
last part, so the user sees them under the end of the answer.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from helpline import replies
from helpline.text import split_message


@dataclass(frozen=True)
class Button:
    title: str
    payload: str


@dataclass(frozen=True)
class Reply:
    text: str = ""
    buttons: tuple[Button, ...] = ()
    image: str | None = None
    native: dict[str, Any] | None = None  # a platform-specific body from a Rasa `custom` message

    @property
    def empty(self) -> bool:
        return not (self.text.strip() or self.buttons or self.image or self.native)


def _buttons(raw: Any) -> tuple[Button, ...]:
    out: list[Button] = []
    for item in raw or ():
        if not isinstance(item, Mapping):
            continue
        title = str(item.get("title") or "").strip()
        payload = str(item.get("payload") or item.get("url") or title).strip()
        if title and payload:
            out.append(Button(title, payload))
    return tuple(out)


def reply_from_message(message: Mapping[str, Any], channel: str) -> Reply:
    """Normalise one Rasa bot message (from ``CollectingOutputChannel``) or a staff message.

    ``custom`` messages are used when they carry a body for this channel
    (``{"custom": {"telegram": {...}}}``) or a ``text``; others give an empty reply.
    """
    text = str(message.get("text") or "")
    buttons = _buttons(message.get("buttons")) or _buttons(message.get("quick_replies"))
    image = message.get("image") if isinstance(message.get("image"), str) else None
    native = None
    custom = message.get("custom")
    if isinstance(custom, Mapping):
        if isinstance(custom.get(channel), Mapping):
            native = dict(custom[channel])
        elif not text and isinstance(custom.get("text"), str):
            text = custom["text"]
            buttons = buttons or _buttons(custom.get("buttons"))
    return Reply(text=text, buttons=buttons, image=image, native=native)


def split_reply(reply: Reply, limit: int) -> list[Reply]:
    """Split a reply's text at ``limit`` characters; buttons and image go with the last part."""
    if reply.native is not None or len(reply.text) <= limit:
        return [] if reply.empty else [reply]
    parts = split_message(reply.text, limit)
    out = [Reply(text=p) for p in parts[:-1]]
    out.append(replace(reply, text=parts[-1] if parts else ""))
    return out


def truncate(title: str, limit: int) -> str:
    return title if len(title) <= limit else title[: max(1, limit - 1)].rstrip() + "…"


def numbered_text(text: str, buttons: Sequence[Button]) -> str:
    """Text fallback for buttons: numbered options and how to pick one."""
    if not buttons:
        return text
    lines = [f"{i}. {b.title}" for i, b in enumerate(buttons, start=1)]
    if all(line in text.splitlines() for line in lines):
        return text  # the text numbers its options already (the safety question)
    head = f"{text.rstrip()}\n\n" if text.strip() else ""
    return f"{head}" + "\n".join(lines) + f"\n{replies.CHOOSE_BY_NUMBER}"


def split_message_dict(message: Mapping[str, Any], limit: int) -> list[dict[str, Any]]:
    """Split a Rasa message into several at the platform's text limit (for one outbox row each).

    Buttons and everything else stay on the last part.
    """
    text = message.get("text")
    if not isinstance(text, str) or len(text) <= limit:
        return [dict(message)]
    parts = split_message(text, limit)
    return [{"text": p} for p in parts[:-1]] + [{**message, "text": parts[-1]}]


class Progress:
    """Which parts of a multi-part message were already delivered, so a retry skips them."""

    def __init__(self, capacity: int = 1000) -> None:
        self._done: dict[str, int] = {}
        self._capacity = capacity

    @staticmethod
    def key(recipient_id: str, message: Mapping[str, Any]) -> str:
        raw = json.dumps([recipient_id, message], sort_keys=True, ensure_ascii=False, default=str)
        return hashlib.sha256(raw.encode("utf-8")).hexdigest()

    async def deliver(self, key: str, bodies: Sequence[Any], send_one: Callable[[Any], Awaitable[None]]) -> None:
        for index in range(self._done.get(key, 0), len(bodies)):
            await send_one(bodies[index])
            if len(bodies) > 1:
                if len(self._done) >= self._capacity:
                    self._done.pop(next(iter(self._done)))
                self._done[key] = index + 1
        self._done.pop(key, None)
