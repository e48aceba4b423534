"""Conversation keys: one identity per person per channel, ``<channel>:<platform id>``.

The key (``telegram:123``, ``zalo:84…``, ``web:<session id>``, ``rest:abc``) is the Rasa
sender id of every channel and the only key used by trackers, tickets, the outbox, the
channel store, rate limits, deletion and retention. A platform id from one channel can
therefore never reach another channel's conversation: a REST message with sender ``123``
is ``rest:123`` and never touches ``telegram:123``. The platform id is taken back out of
the key only at the edge, when a message is sent to the platform (:func:`edge_id`).
"""

from __future__ import annotations

import re

from helpline.errors import SendFailed

SEPARATOR = ":"
_CHANNEL = re.compile(r"^[a-z][a-z0-9_]{0,31}$")


def conversation_key(channel: str, platform_id: str) -> str:
    """The key of a person on a channel; ``platform_id`` is the id as the platform (or session) gives it.

    Raises:
        ValueError: On a malformed channel name or an empty id.
    """
    if not _CHANNEL.match(channel or ""):
        raise ValueError(f"not a channel name: {channel!r}")
    if not isinstance(platform_id, str) or not platform_id:
        raise ValueError("a platform id must be a non-empty string")
    return f"{channel}{SEPARATOR}{platform_id}"


def split_key(key: str) -> tuple[str, str]:
    """``"telegram:123"`` -> ``("telegram", "123")``.

    Raises:
        ValueError: If ``key`` is not a conversation key.
    """
    channel, sep, rest = str(key).partition(SEPARATOR)
    if not sep or not rest or not _CHANNEL.match(channel):
        raise ValueError("not a conversation key")
    return channel, rest


def channel_of(key: str) -> str | None:
    """The channel a key belongs to, or None if it is not a conversation key."""
    try:
        return split_key(key)[0]
    except ValueError:
        return None


def is_key_of(channel: str, key: str) -> bool:
    return channel_of(key) == channel


def edge_id(channel: str, key: str) -> str:
    """The platform id to send to, from the key of a message queued for ``channel``.

    A recipient that is not a key of this very channel is refused for good: nothing is ever
    sent to a bare id or to another channel's person.
    """
    if not is_key_of(channel, key):
        raise SendFailed(f"{channel}: recipient is not a {channel} conversation key", permanent=True)
    return split_key(key)[1]
