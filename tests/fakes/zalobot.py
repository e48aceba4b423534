"""Fake Zalo Bot Platform API: ``/bot<TOKEN>/<method>``.

Failure modes for sendMessage: ``timeout``, ``5xx``, ``rate_limit``, ``forbidden``.
"""

from __future__ import annotations

import itertools
import time
from typing import Any

from tests.fakes.base import Delivered, FakePlatform, Recorded, Reply

TOKEN = "1234567:zalobot-test-token"
SECRET_TOKEN = "zalobot-secret-token"


class FakeZaloBot(FakePlatform):
    name = "zalobot"

    def __init__(self, token: str = TOKEN, **kw: Any) -> None:
        super().__init__(**kw)
        self.token = token
        self.webhook: dict[str, Any] = {}
        self.updates: list[dict[str, Any]] = []
        self._ids = itertools.count(1)

    def env(self) -> dict[str, str]:
        return {"ZALO_BOT_TOKEN": self.token, "ZALO_BOT_SECRET_TOKEN": SECRET_TOKEN, "ZALO_BOT_API_BASE": self.url}

    def route(self, request: Recorded) -> Reply:
        prefix = f"/bot{self.token}/"
        if not request.path.startswith(prefix):
            return 401, {"ok": False, "error_code": 401, "description": "Unauthorized"}, {}
        method = request.path[len(prefix):]
        body = request.body if isinstance(request.body, dict) else {}
        if method == "getMe":
            return 200, {"ok": True, "result": {"id": "1459232241454765289", "account_name": "bot.test",
                                                "account_type": "BASIC", "can_join_groups": False}}, {}
        if method == "setWebhook":
            self.webhook = {"url": body.get("url"), "secret_token": body.get("secret_token")}
            return 200, {"ok": True, "result": {"url": body.get("url"), "updated_at": int(time.time() * 1000)}}, {}
        if method == "deleteWebhook":
            self.webhook = {}
            return 200, {"ok": True, "result": {"url": "", "updated_at": int(time.time() * 1000)}}, {}
        if method == "getUpdates":
            with self.lock:
                update = self.updates.pop(0) if self.updates else None
            if update is None:
                return 408, {"ok": False, "error_code": 408, "description": "Request timeout"}, {}
            return 200, {"ok": True, "result": update}, {}
        if method == "sendMessage":
            return self._send(body)
        return 404, {"ok": False, "error_code": 404, "description": "Not Found"}, {}

    def _send(self, body: dict[str, Any]) -> Reply:
        mode = self.take_failure()
        if mode is not None:
            if mode == "rate_limit":
                return 429, {"ok": False, "error_code": 429, "description": "Too Many Requests"}, {"Retry-After": "1"}
            failure = self.common_failure(mode)
            if failure is not None:
                return failure
            if mode == "forbidden":
                return 403, {"ok": False, "error_code": 403, "description": "Forbidden"}, {}
        text, chat_id = body.get("text"), str(body.get("chat_id") or "")
        if not chat_id or not isinstance(text, str) or not 1 <= len(text) <= 2000:
            return 400, {"ok": False, "error_code": 400, "description": "Bad Request: text must be 1-2000"}, {}
        with self.lock:
            self.delivered.append(Delivered(chat_id, text, {"request": body}))
        return 200, {"ok": True, "result": {"message_id": f"zb-{next(self._ids)}",
                                            "date": int(time.time() * 1000)}}, {}
