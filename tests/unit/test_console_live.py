"""Live updates over a real server: the console's Server-Sent Events stream reports new tickets."""

from __future__ import annotations

import datetime as dt
import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn

from tests.conftest import Clock
from tests.unit.console_client import Desk, login, make_desk


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def served(tmp_path: Path, clock: Clock) -> Iterator[tuple[Desk, str]]:
    clock.now = dt.datetime.now(dt.timezone.utc)
    desk = make_desk(tmp_path, clock)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(desk.app, host="127.0.0.1", port=port, log_level="warning",
                                           timeout_graceful_shutdown=1))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    yield desk, f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def _next_event(lines: Iterator[str], name: str) -> str:
    """The data of the next event called ``name`` (others, comments and keepalives are skipped)."""
    current = None
    for line in lines:
        if line.startswith("event: "):
            current = line[len("event: "):]
        elif line.startswith("data: ") and current == name:
            return line[len("data: "):]
    raise AssertionError(f"the stream ended before a {name!r} event")


def test_a_new_ticket_is_pushed_to_open_pages(served: tuple[Desk, str]) -> None:
    desk, url = served
    with httpx.Client(base_url=url, timeout=10) as client:
        assert client.get("/console/events").status_code == 401, "no stream without a session"
        login(client, "minh")  # type: ignore[arg-type]
        with client.stream("GET", "/console/events") as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            lines = response.iter_lines()
            _next_event(lines, "hello")
            time.sleep(1.5)  # the feed takes its baseline once someone listens
            tid = desk.ticket()
            change = json.loads(_next_event(lines, "tickets"))
            assert change["all"] is True or tid in change["tickets"]
            time.sleep(1.1)
            desk.store.add_message(tid, "user", "tin nhắn mới trong lúc chờ")
            change = json.loads(_next_event(lines, "tickets"))
            assert tid in change["tickets"]
