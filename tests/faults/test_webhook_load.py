"""Load: many Zalo senders through one address (as the platform sends them) against the real stack.

300 distinct senders, 50 messages a second, all from 127.0.0.1 with valid signatures, into the real
Rasa process, action server and handoff service, replies out to the fake Zalo platform. Asserted:
no webhook is refused (every POST gets 200), every message is answered, nothing is answered twice.
Nothing about latency is asserted; the wait for the last reply is only a bound against hanging.

The stack is this module's own, with the per-address limit for webhook requests set far below
the load (``HELPLINE_RATE_LIMIT_WEBHOOK_IP=100/60``): it applies only to requests that fail
verification, so a signed request throttled per address would show as a refused webhook, and at
most ``HELPLINE_CHANNEL_MAX_TURNS=4`` turns run at once, so most messages wait in the queue.
The default suite runs it for ``HELPLINE_LOAD_SECONDS`` (default 10 s, 500 messages);
``make test-load`` runs the full 60 s (3000 messages).
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from helpline.stack import RASA_MODEL, Ports, Stack
from tests.fakes.webhooks import signed, text_event
from tests.fakes.zalo import FakeZalo
from tests.stacks import base_env, free_port, start_or_show_logs

SENDERS = 300
RATE = 50.0  # messages per second
# Mostly small talk (Rasa alone), some FAQ questions (the action server's retrieval too).
TEXTS = ("xin chào", "cảm ơn bạn", "chào bạn", "ok cảm ơn", "Tổng đài 111 là gì?")


def _seconds() -> float:
    return float(os.environ.get("HELPLINE_LOAD_SECONDS", "10"))


@pytest.fixture(scope="module")
def zalo() -> Iterator[FakeZalo]:
    fake = FakeZalo()
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def load_stack(tmp_path_factory: pytest.TempPathFactory, zalo: FakeZalo) -> Iterator[Stack]:
    if not RASA_MODEL.is_file():
        pytest.fail(f"no trained Rasa model at {RASA_MODEL}: run `make setup`")
    data_dir, log_dir = tmp_path_factory.mktemp("load-data"), tmp_path_factory.mktemp("load-logs")
    env = {**base_env(), **zalo.env(), "HELPLINE_RATE_LIMIT_NEW_IP": "off",
           "HELPLINE_RATE_LIMIT_WEBHOOK_IP": "100/60", "HELPLINE_CHANNEL_MAX_TURNS": "4"}
    stack = Stack(data_dir, Ports(rasa=free_port(), actions=free_port(), handoff=free_port()), log_dir=log_dir,
                  env=env)
    start_or_show_logs(stack, log_dir)
    yield stack
    stack.stop_all()


def _outbox_rows(stack: Stack, run: str) -> list[tuple[str, str, str]]:
    db = Path(stack.env["HELPLINE_DATA_DIR"]) / "handoff.db"
    with sqlite3.connect(db, timeout=30) as conn:
        return conn.execute("SELECT recipient_id, dedupe_key, status FROM outbox WHERE channel = 'zalo' "
                            "AND recipient_id LIKE ?", (f"zalo:load-{run}-%",)).fetchall()


def test_300_senders_through_one_address_are_all_answered_once(load_stack: Stack, zalo: FakeZalo) -> None:
    stack = load_stack
    run = uuid.uuid4().hex[:8]
    total = int(_seconds() * RATE)
    senders = [f"load-{run}-{n:03d}" for n in range(SENDERS)]
    url = f"http://127.0.0.1:{stack.ports.rasa}/webhooks/zalo/webhook"
    local = threading.local()
    statuses: Counter[int] = Counter()
    lock = threading.Lock()

    def post(i: int) -> None:
        client = getattr(local, "client", None)
        if client is None:
            client = local.client = httpx.Client(timeout=30)
        data = text_event("zalo", senders[i % SENDERS], f"load-{run}-mid-{i:05d}", TEXTS[i % len(TEXTS)])
        data["timestamp"] = str(int(time.time() * 1000) + i)
        body, headers = signed("zalo", data)
        try:
            status = client.post(url, content=body, headers=headers).status_code
        except httpx.HTTPError:
            status = -1  # a refused or dropped connection counts as refused
        with lock:
            statuses[status] += 1

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=24) as pool:
        for i in range(total):
            delay = started + i / RATE - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            pool.submit(post, i)
    assert statuses == Counter({200: total}), f"webhooks refused or failed: {dict(statuses)}"

    mids = {f"load-{run}-mid-{i:05d}" for i in range(total)}

    def answered() -> set[str]:
        rows = _outbox_rows(stack, run)
        return {key.split(":")[1] for _, key, status in rows if status == "sent"}

    bound = time.monotonic() + max(300.0, total * 0.6)  # only against hanging
    while answered() != mids and time.monotonic() < bound:
        time.sleep(2)
    missing = mids - answered()
    assert not missing, f"{len(missing)} of {total} messages never answered"

    rows = _outbox_rows(stack, run)
    assert all(status == "sent" for _, _, status in rows), Counter(s for _, _, s in rows)
    keys = Counter(key for _, key, _ in rows)
    assert max(keys.values()) == 1
    # What the platform got matches the outbox one to one: no reply was delivered twice.
    delivered = Counter(d.recipient for d in zalo.delivered if d.recipient.startswith(f"load-{run}-"))
    queued = Counter(recipient.split(":", 1)[1] for recipient, _, _ in rows)
    assert delivered == queued
    assert set(delivered) == set(senders)
