"""Simulated users over HTTP: the REST channel, and the Zalo OA connector against a fake Zalo.

Each user is a thread holding realistic conversations one message at a time (it waits for
the answer before the next message). Every loop is bounded by a deadline and a message cap,
and only loopback addresses are used.
"""

from __future__ import annotations

import http.client
import itertools
import json
import random
import threading
import time
import zlib
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from helpline import replies
from scripts.bench.workload import Message, Workload
from tests.fakes.base import Recorded, Reply
from tests.fakes.webhooks import signed, text_event
from tests.fakes.zalo import FakeZalo

TIMEOUT = 60.0


@dataclass(frozen=True)
class Sample:
    kind: str
    ms: float
    ok: bool
    repeat: bool  # the same text was sent before in this run (a warm query-vector cache)
    end: float  # perf_counter() when the answer arrived


class RestClient:
    """One keep-alive connection to the REST channel (through nginx or straight to Rasa)."""

    def __init__(self, base_url: str) -> None:
        parts = urlsplit(base_url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self._conn: http.client.HTTPConnection | None = None

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            self._conn = http.client.HTTPConnection(self.host, self.port, timeout=TIMEOUT)
        return self._conn

    def say(self, sender: str, text: str) -> list[dict[str, Any]]:
        body = json.dumps({"sender": sender, "message": text}).encode()
        headers = {"Content-Type": "application/json"}
        for attempt in range(2):
            conn = self._connection()
            try:
                conn.request("POST", "/webhooks/rest/webhook", body, headers)
                resp = conn.getresponse()
                data = resp.read()
                if resp.status != 200:
                    raise RuntimeError(f"HTTP {resp.status}: {data[:200]!r}")
                return list(json.loads(data))
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                # A keep-alive connection the server closed meanwhile: reconnect once.
                self.close()
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def reply_ok(kind: str, messages: list[dict[str, Any]]) -> bool:
    """A real answer: not empty and not the fallback the channel sends when the bot failed.

    (Whether an emergency was recognised is measured by `make eval-safety`, not here.)
    """
    text = "\n".join(str(m.get("text") or "") for m in messages)
    return bool(text) and replies.SERVICE_FALLBACK not in text


class SeenTexts:
    """Which texts were already sent in this run (thread-safe)."""

    def __init__(self) -> None:
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def first_time(self, text: str) -> bool:
        with self._lock:
            if text in self._seen:
                return False
            self._seen.add(text)
            return True


UserLoop = Callable[[int, float, int, list[Sample]], None]


def run_users(loop: UserLoop, users: int, duration: float, max_messages: int) -> tuple[list[Sample], float]:
    """Run ``users`` user threads until ``duration`` seconds pass (each sends at most ``max_messages``)."""
    samples: list[Sample] = []
    deadline = time.perf_counter() + duration
    threads = [threading.Thread(target=loop, args=(n, deadline, max_messages, samples), daemon=True)
               for n in range(users)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join(duration + 2 * TIMEOUT)
    return samples, time.perf_counter() - started


def rest_user(base_url: str, workload: Workload, seen: SeenTexts, tag: str,
              think: tuple[float, float] | None = None) -> UserLoop:
    """A REST user; ``think`` = (min, max) seconds of reading/typing between messages, None for none."""

    def loop(n: int, deadline: float, max_messages: int, samples: list[Sample]) -> None:
        client = RestClient(base_url)
        seed = 1000 * n + zlib.crc32(tag.encode()) % 997
        pause = random.Random(seed)
        sent = 0
        try:
            for c, conversation in enumerate(workload.conversations(seed=seed)):
                sender = f"bench-{tag}-{n}-{c}"
                for message in conversation:
                    if think is not None:
                        time.sleep(min(pause.uniform(*think), max(0.0, deadline - time.perf_counter())))
                    if time.perf_counter() >= deadline or sent >= max_messages:
                        return
                    samples.append(_timed_rest(client, sender, message, seen))
                    sent += 1
        finally:
            client.close()

    return loop


def _timed_rest(client: RestClient, sender: str, message: Message, seen: SeenTexts) -> Sample:
    repeat = not seen.first_time(message.text)
    start = time.perf_counter()
    try:
        ok = reply_ok(message.kind, client.say(sender, message.text))
    except Exception:
        client.close()
        ok = False
    end = time.perf_counter()
    return Sample(message.kind, (end - start) * 1000, ok, repeat, end)


class TimedZalo(FakeZalo):
    """The fake Zalo OA API, noting when each message reaches each user."""

    def __init__(self) -> None:
        super().__init__()
        self.arrivals: dict[str, list[float]] = defaultdict(list)
        self.arrived = threading.Condition()

    def _send(self, request: Recorded) -> Reply:
        status, body, headers = super()._send(request)
        if isinstance(body, dict) and body.get("error") == 0:
            with self.arrived:
                self.arrivals[str(body["data"]["user_id"])].append(time.perf_counter())
                self.arrived.notify_all()
        with self.lock:
            self.delivered.clear()  # the benchmark only needs the arrival times
            self.requests.clear()
        return status, body, headers

    def first_after(self, user: str, since: float, timeout: float) -> float | None:
        end = time.perf_counter() + timeout
        with self.arrived:
            while True:
                later = [t for t in self.arrivals.get(user, ()) if t >= since]
                if later:
                    return later[0]
                left = end - time.perf_counter()
                if left <= 0:
                    return None
                self.arrived.wait(left)


_mids = itertools.count(1)


def zalo_user(rasa_url: str, fake: TimedZalo, workload: Workload, seen: SeenTexts, tag: str) -> UserLoop:
    """Posts signed ``user_send_text`` events; the latency is webhook POST -> first reply at the platform."""
    parts = urlsplit(rasa_url)

    def loop(n: int, deadline: float, max_messages: int, samples: list[Sample]) -> None:
        conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80, timeout=TIMEOUT)
        sent = 0
        try:
            for c, conversation in enumerate(workload.conversations(seed=5000 + 1000 * n)):
                sender = f"zalo-bench-{tag}-{n}-{c}"
                for message in conversation:
                    if time.perf_counter() >= deadline or sent >= max_messages:
                        return
                    repeat = not seen.first_time(message.text)
                    body, headers = signed("zalo", text_event("zalo", sender, f"bench-{tag}-{next(_mids)}",
                                                              message.text))
                    start = time.perf_counter()
                    ok = False
                    try:
                        conn.request("POST", "/webhooks/zalo/webhook", body, headers)
                        resp = conn.getresponse()
                        resp.read()
                        arrived = fake.first_after(sender, start, 30.0) if resp.status == 200 else None
                        ok = arrived is not None
                    except (OSError, http.client.HTTPException):
                        conn.close()
                        arrived = None
                    end = arrived if arrived is not None else time.perf_counter()
                    samples.append(Sample(message.kind, (end - start) * 1000, ok, repeat, end))
                    sent += 1
        finally:
            conn.close()

    return loop
