"""Numbered choices on every channel: a reply of just "2" (or "số 2", "cau 2") picks the second option offered.

After each turn the payloads of the last message with buttons are kept for an hour
(``channel_memo`` kind ``choices``); the person's next message uses them if it is only a
number, and forgets them either way, so a stale list never turns a later "1" into a choice.
Senders that number options in the text (Zalo, long Messenger titles) keep the same list.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from typing import Any

from helpline.channels.inbound import choice_number
from helpline.channels.store import CHOICES_MEMO, ChannelStore
from helpline.text import mask_id

logger = logging.getLogger(__name__)

CHOICES_AGE = dt.timedelta(hours=1)


def offered_choices(messages: list[dict[str, Any]]) -> list[str]:
    """The button payloads of the last message that has buttons, in order."""
    for message in reversed(messages):
        buttons = message.get("buttons")
        if isinstance(buttons, list):
            payloads = [str(b.get("payload")) for b in buttons if isinstance(b, dict) and b.get("payload")]
            if payloads:
                return payloads
    return []


async def pick(store: ChannelStore, channel: str, key: str, text: str) -> str:
    """The payload the person picked by number, else their text unchanged."""
    number = choice_number(text)
    try:
        choices = await asyncio.to_thread(store.recall, channel, key, CHOICES_MEMO, CHOICES_AGE)
        if choices is not None:
            await asyncio.to_thread(store.forget, channel, key, CHOICES_MEMO)
    except Exception:  # a lost list only means the number is read as text
        logger.exception("could not read the numbered choices of %s", mask_id(key))
        return text
    if number is not None and isinstance(choices, list) and 1 <= number <= len(choices):
        return str(choices[number - 1])
    return text


async def keep(store: ChannelStore, channel: str, key: str, messages: list[dict[str, Any]]) -> None:
    """Remember the options this turn offered, so a typed number picks one."""
    payloads = offered_choices(messages)
    if not payloads:
        return
    try:
        await asyncio.to_thread(store.remember, channel, key, CHOICES_MEMO, payloads)
    except Exception:
        logger.exception("could not remember the numbered choices of %s", mask_id(key))
