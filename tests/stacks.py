"""Real stacks for tests: starting one (on failure, stop it and show the end of each process's log),
and the session's single-machine stack shared by tests/integration and tests/security.

The ``stack``, ``bot`` and ``platforms`` fixtures are registered in tests/conftest.py, so every test
directory gets the same stack (one per session): Rasa, the action server and the handoff service on
SQLite, every messaging channel enabled against a local fake of its platform (tests/fakes), started
before the stack and pointed to through the channels' *_API_BASE settings.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from helpline.stack import RASA_MODEL, Ports, Stack
from tests.fakes.base import FakePlatform
from tests.fakes.facebook import FakeFacebook
from tests.fakes.telegram import FakeTelegram
from tests.fakes.zalo import FakeZalo
from tests.fakes.zalobot import FakeZaloBot

# Taken from the test process's environment by no stack: each stack makes its own.
STACK_SECRETS = frozenset({"HELPLINE_STAFF_TOKEN", "RASA_TOKEN", "HELPLINE_ACTION_SECRET", "DATABASE_URL"})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def base_env() -> dict[str, str]:
    """The test process's environment without the secrets and the database of the developer's own stack."""
    return {k: v for k, v in os.environ.items() if k not in STACK_SECRETS}


def start_or_show_logs(stack: Stack, log_dir: Path, cleanup: Callable[[], None] | None = None,
                       tail: int = 4000) -> None:
    try:
        stack.start_all(timeout=300)
    except Exception:
        stack.stop_all()
        for log in sorted(log_dir.glob("*.log")):
            print(f"----- {log.name} -----\n{log.read_text(errors='replace')[-tail:]}")
        if cleanup is not None:
            cleanup()
        raise


class Bot:
    """Talks to the running stack the way a channel user and a staff member would."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        p = stack.ports
        self.rasa = f"http://127.0.0.1:{p.rasa}"
        self.handoff = f"http://127.0.0.1:{p.handoff}"
        self.http = httpx.Client(timeout=60)

    def say(self, sender: str, message: str) -> list[dict[str, Any]]:
        resp = self.http.post(f"{self.rasa}/webhooks/rest/webhook", json={"sender": sender, "message": message})
        resp.raise_for_status()
        return resp.json()

    def text(self, sender: str, message: str) -> str:
        return "\n".join(m.get("text", "") for m in self.say(sender, message))

    def tracker(self, sender: str) -> dict[str, Any]:
        """The tracker of a REST sender (conversation key ``rest:<sender>``), or of a key given whole."""
        key = sender if ":" in sender else f"rest:{sender}"
        resp = self.http.get(
            f"{self.rasa}/conversations/{quote(key, safe=':')}/tracker", params={"token": self.stack.env["RASA_TOKEN"]}
        )
        resp.raise_for_status()
        return resp.json()

    def store(self) -> Any:
        """The stack's ticket store (its SQLite file), for what the staff API does not show (who holds a ticket)."""
        from helpline.handoff import HandoffStore

        return HandoffStore.from_url(f"sqlite:///{Path(self.stack.env['HELPLINE_DATA_DIR']) / 'handoff.db'}")

    def tickets(self, status: str = "open") -> list[dict[str, Any]]:
        token = self.stack.env["HELPLINE_STAFF_TOKEN"]
        resp = self.http.get(
            f"{self.handoff}/api/tickets", params={"status": status}, headers={"Authorization": f"Bearer {token}"}
        )
        resp.raise_for_status()
        return resp.json()


@pytest.fixture(scope="session")
def platforms() -> Iterator[dict[str, FakePlatform]]:
    fakes: dict[str, FakePlatform] = {"zalo": FakeZalo(), "zalobot": FakeZaloBot(), "facebook": FakeFacebook(),
                                      "telegram": FakeTelegram()}
    for fake in fakes.values():
        fake.start()
    yield fakes
    for fake in fakes.values():
        fake.stop()


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory, platforms: dict[str, FakePlatform]) -> Iterator[Stack]:
    if not RASA_MODEL.is_file():
        pytest.fail(f"no trained Rasa model at {RASA_MODEL}: run `make setup`")
    data_dir: Path = tmp_path_factory.mktemp("data")
    log_dir: Path = tmp_path_factory.mktemp("logs")
    ports = Ports(rasa=free_port(), actions=free_port(), handoff=free_port())
    env_base = base_env()
    for fake in platforms.values():
        env_base.update(fake.env())  # type: ignore[attr-defined]
    # Every test user speaks from 127.0.0.1: the per-address cap on new conversations is tested
    # on the hardened stack (tests/security/test_identity.py), not by every test here.
    env_base["HELPLINE_RATE_LIMIT_NEW_IP"] = "off"
    stack = Stack(data_dir, ports, log_dir=log_dir, env=env_base)
    start_or_show_logs(stack, log_dir)
    yield stack
    stack.stop_all()


@pytest.fixture(scope="session")
def bot(stack: Stack) -> Iterator[Bot]:
    client = Bot(stack)
    yield client
    client.http.close()
