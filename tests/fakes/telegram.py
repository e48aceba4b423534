"""Fake Telegram Bot API: ``/bot<TOKEN>/<method>`` (JSON or form bodies, as python-telegram-bot sends).

Failure modes for sendMessage: ``timeout``, ``5xx``, ``rate_limit`` (429 with retry_after),
``forbidden`` (the user blocked the bot).
"""

from __future__ import annotations

import itertools
import json
import time
from typing import Any

from tests.fakes.base import Delivered, FakePlatform, Recorded, Reply

TOKEN = "123456789:telegram-test-token"
SECRET_TOKEN = "telegram-secret_token-1"
BOT_USER = {"id": 123456789, "is_bot": True, "first_name": "Helpline", "username": "helpline_test_bot"}


def _fail(status: int, description: str, **extra: Any) -> Reply:
    return status, {"ok": False, "error_code": status, "description": description, **extra}, {}


class FakeTelegram(FakePlatform):
    name = "telegram"

    def __init__(self, token: str = TOKEN, **kw: Any) -> None:
        super().__init__(**kw)
        self.token = token
        self.webhook: dict[str, Any] = {}
        self.updates: list[dict[str, Any]] = []
        self.answered_callbacks: list[str] = []
        self._ids = itertools.count(1)

    def env(self) -> dict[str, str]:
        return {"TELEGRAM_BOT_TOKEN": self.token, "TELEGRAM_SECRET_TOKEN": SECRET_TOKEN, "TELEGRAM_API_BASE": self.url}

    @staticmethod
    def _params(request: Recorded) -> dict[str, Any]:
        body = request.body if isinstance(request.body, dict) else {}
        out: dict[str, Any] = {}
        for key, value in body.items():  # form values are JSON-encoded when not plain strings
            if isinstance(value, str) and value[:1] in "{[":
                try:
                    value = json.loads(value)
                except ValueError:
                    pass
            out[key] = value
        return out

    def route(self, request: Recorded) -> Reply:
        prefix = f"/bot{self.token}/"
        if not request.path.startswith(prefix):
            return _fail(401, "Unauthorized")
        method = request.path[len(prefix):]
        params = self._params(request)
        if method == "getMe":
            return 200, {"ok": True, "result": BOT_USER}, {}
        if method == "setWebhook":
            self.webhook = dict(params)
            return 200, {"ok": True, "result": True, "description": "Webhook was set"}, {}
        if method == "deleteWebhook":
            self.webhook = {}
            return 200, {"ok": True, "result": True, "description": "Webhook was deleted"}, {}
        if method == "getUpdates":
            with self.lock:
                updates, self.updates = self.updates, []
            return 200, {"ok": True, "result": updates}, {}
        if method == "answerCallbackQuery":
            self.answered_callbacks.append(str(params.get("callback_query_id")))
            return 200, {"ok": True, "result": True}, {}
        if method in ("sendMessage", "sendPhoto"):
            return self._send(method, params)
        return _fail(404, "Not Found: method not found")

    def _send(self, method: str, params: dict[str, Any]) -> Reply:
        mode = self.take_failure()
        if mode is not None:
            if mode == "rate_limit":
                return _fail(429, "Too Many Requests: retry after 1", parameters={"retry_after": 1})
            failure = self.common_failure(mode)
            if failure is not None:
                return failure
            if mode == "forbidden":
                return _fail(403, "Forbidden: bot was blocked by the user")
        chat_id = str(params.get("chat_id") or "")
        text = params.get("text") if method == "sendMessage" else params.get("caption") or ""
        if not chat_id or (method == "sendMessage" and (not text or len(text) > 4096)):
            return _fail(400, "Bad Request: message text is empty or too long")
        with self.lock:
            self.delivered.append(Delivered(chat_id, str(text), {"method": method, "request": params,
                                                                  "reply_markup": params.get("reply_markup")}))
        message = {"message_id": next(self._ids), "date": int(time.time()),
                   "chat": {"id": int(chat_id) if chat_id.lstrip("-").isdigit() else 0, "type": "private"},
                   "text": text, "from": BOT_USER}
        return 200, {"ok": True, "result": message}, {}
