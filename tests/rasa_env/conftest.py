"""Connector tests in the Rasa environment (Python 3.10, rasa 3.6, python-telegram-bot 22).

Run with ``.venvs/rasa/bin/python -m pytest tests/rasa_env``. The bot is a small
scripted stand-in for Rasa's agent (``on_new_message``); the platforms are the local fakes.
End-to-end runs with the real Rasa server live in tests/integration.
"""

from __future__ import annotations

import asyncio
import importlib.util
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

# The action-server environment (the main `pytest tests` run) has neither Rasa nor
# python-telegram-bot: there these tests are not collected; `make test` runs them in the Rasa env.
if importlib.util.find_spec("rasa") is None or importlib.util.find_spec("telegram") is None:
    collect_ignore_glob = ["test_*.py"]


class ScriptedBot:
    """Stands in for ``agent.handle_message``: records messages, answers from a script."""

    def __init__(self) -> None:
        self.received: list[Any] = []
        self.answer: Callable[[Any], list[dict[str, Any]]] = lambda m: [{"text": f"Bạn hỏi: {m.text}. Gọi 111."}]
        self.fail = False
        self.delay = 0.0

    async def __call__(self, message: Any) -> None:
        self.received.append(message)
        await asyncio.sleep(self.delay)
        if self.fail:
            raise RuntimeError("action server down")
        for reply in self.answer(message):
            if reply.get("custom"):  # a command from an action (e.g. the ticket command of action_emergency)
                await message.output_channel.send_custom_json(message.sender_id, reply["custom"])
            elif reply.get("buttons"):
                await message.output_channel.send_text_with_buttons(message.sender_id, reply["text"],
                                                                    reply["buttons"])
            else:
                await message.output_channel.send_text_message(message.sender_id, reply["text"])

    @property
    def texts(self) -> list[str]:
        return [m.text for m in self.received]


@pytest.fixture
def data_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh data dir (tickets, outbox, channel state) and a fresh process runtime."""
    monkeypatch.setenv("HELPLINE_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("HELPLINE_CHANNEL_TIMEOUT", "1")
    from connectors import turn
    from connectors.runtime import ChannelRuntime

    ChannelRuntime.reset()
    turn._handoff_store.cache_clear()
    turn._channel_store.cache_clear()
    yield tmp_path
    ChannelRuntime.reset()
    turn._handoff_store.cache_clear()
    turn._channel_store.cache_clear()


APP = SimpleNamespace(ctx=SimpleNamespace(agent=None))


async def until(check: Callable[[], Any], timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        await asyncio.sleep(0.05)
    raise AssertionError("condition not met in time")
