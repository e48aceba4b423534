"""A local stand-in for a messaging platform's API: an HTTP server on 127.0.0.1 in a thread.

It records every request, keeps what it "delivered" to users, and can be told
to fail the next calls (timeout, 5xx, rate limit, or platform-specific errors).
Standard library only, so the Rasa env, the action env and the simulator can all use it.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any  # parsed JSON, a form dict, or raw text


@dataclass
class Delivered:
    recipient: str
    text: str
    extra: dict[str, Any] = field(default_factory=dict)  # buttons, tags, the raw request


Reply = tuple[int, dict[str, Any] | list[Any] | str, dict[str, str]]


class FakePlatform:
    """Subclasses implement :meth:`route`. ``fail_next`` queues failure modes for send calls."""

    name = "fake"

    def __init__(self, timeout_delay: float = 3.0) -> None:
        self.requests: list[Recorded] = []
        self.delivered: list[Delivered] = []
        self._failures: list[str] = []
        self.timeout_delay = timeout_delay
        self.lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- control ---------------------------------------------------------------------------

    def fail_next(self, mode: str, times: int = 1) -> None:
        with self.lock:
            self._failures.extend([mode] * times)

    def clear_failures(self) -> None:
        with self.lock:
            self._failures.clear()

    def take_failure(self) -> str | None:
        with self.lock:
            return self._failures.pop(0) if self._failures else None

    @property
    def url(self) -> str:
        assert self._server is not None, "start() first"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def texts_to(self, recipient: str) -> list[str]:
        with self.lock:
            return [d.text for d in self.delivered if d.recipient == recipient]

    def to(self, recipient: str) -> list[Delivered]:
        with self.lock:
            return [d for d in self.delivered if d.recipient == recipient]

    def wait_for(self, check: Callable[[], Any], timeout: float = 30.0, step: float = 0.1) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = check()
            if value:
                return value
            time.sleep(step)
        raise AssertionError(f"{self.name}: condition not met within {timeout:.0f} s")

    def wait_texts(self, recipient: str, count: int = 1, timeout: float = 30.0) -> list[str]:
        return self.wait_for(lambda: (t := self.texts_to(recipient)) and len(t) >= count and t, timeout)

    # -- server ----------------------------------------------------------------------------

    def start(self) -> FakePlatform:
        platform = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # keep test output quiet
                pass

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                headers = {k.lower(): v for k, v in self.headers.items()}
                ctype = headers.get("content-type", "")
                body: Any
                if "json" in ctype:
                    body = json.loads(raw or b"null")
                elif "form" in ctype:
                    body = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
                else:
                    body = raw.decode(errors="replace")
                record = Recorded(self.command, parts.path, query, headers, body)
                with platform.lock:
                    platform.requests.append(record)
                status, payload, extra_headers = platform.route(record)
                data = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for key, value in extra_headers.items():
                        self.send_header(key, value)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test)

            do_GET = _serve
            do_POST = _serve

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name=f"fake-{self.name}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakePlatform:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- platform behaviour --------------------------------------------------------------------

    def route(self, request: Recorded) -> Reply:
        raise NotImplementedError

    def common_failure(self, mode: str) -> Reply | None:
        """Failures every platform shares; None if ``mode`` is platform-specific."""
        if mode == "timeout":
            time.sleep(self.timeout_delay)
            return 504, {"error": "gateway timeout"}, {}
        if mode == "5xx":
            return 503, {"error": "service unavailable"}, {}
        if mode == "rate_limit":
            return 429, {"error": "too many requests"}, {"Retry-After": "1"}
        return None
