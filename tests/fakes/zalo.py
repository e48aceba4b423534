"""Fake Zalo Official Account API (``/v3.0/oa/message/cs``) and OAuth server (``/v4/oa/access_token``).

Failure modes for sends: ``timeout``, ``5xx``, ``rate_limit``, ``expired_token`` (the current
access token expires: -216 until a refresh), ``expired_token_220`` (the same, answered with -220
"access_token expired"), ``no_interaction`` (-230), ``quota`` (-32), ``code:<n>`` (any Zalo error code).
"""

from __future__ import annotations

import hashlib
import itertools
import json
from typing import Any

from tests.fakes.base import Delivered, FakePlatform, Recorded, Reply

APP_ID = "1234567890123456789"
OA_SECRET_KEY = "test-oa-secret-key"
APP_SECRET = "test-app-secret"


def sign(body: bytes, app_id: str = APP_ID, oa_secret_key: str = OA_SECRET_KEY) -> str:
    """``X-ZEvent-Signature`` for a raw body (its ``timestamp`` field is part of the MAC)."""
    timestamp = str(json.loads(body).get("timestamp", ""))
    return "mac=" + hashlib.sha256(app_id.encode() + body + timestamp.encode() + oa_secret_key.encode()).hexdigest()


class FakeZalo(FakePlatform):
    name = "zalo"

    def __init__(self, access_token: str = "zalo-access-1", refresh_token: str = "zalo-refresh-1",  # noqa: S107
                 **kw: Any) -> None:
        super().__init__(**kw)
        self.app_id = APP_ID
        self.app_secret = APP_SECRET
        self.access_token = access_token
        self.refresh_token = refresh_token
        self.spent_refresh_tokens: list[str] = []
        self.refreshes = 0
        self.stale_token_error = -216  # what a stale access token gets
        self._counter = itertools.count(2)
        self._ids = itertools.count(1)

    def env(self) -> dict[str, str]:
        """Settings that point the Zalo connector at this fake."""
        return {"ZALO_APP_ID": self.app_id, "ZALO_OA_SECRET_KEY": OA_SECRET_KEY, "ZALO_APP_SECRET": self.app_secret,
                "ZALO_ACCESS_TOKEN": self.access_token, "ZALO_REFRESH_TOKEN": self.refresh_token,
                "ZALO_API_BASE": self.url, "ZALO_OAUTH_BASE": self.url}

    def expire_token(self) -> None:
        with self.lock:
            self.access_token = f"expired-{self.access_token}"

    def route(self, request: Recorded) -> Reply:
        if request.path == "/v4/oa/access_token" and request.method == "POST":
            return self._refresh(request)
        if request.path == "/v3.0/oa/message/cs" and request.method == "POST":
            return self._send(request)
        return 404, {"error": -1, "message": "not found"}, {}

    def _refresh(self, request: Recorded) -> Reply:
        form = request.body if isinstance(request.body, dict) else {}
        with self.lock:
            if request.headers.get("secret_key") != self.app_secret or form.get("app_id") != self.app_id:
                return 200, {"error": -14002, "error_name": "Invalid app", "error_description": "bad app"}, {}
            if form.get("grant_type") != "refresh_token" or form.get("refresh_token") != self.refresh_token:
                return 200, {"error": -14014, "error_name": "Invalid refresh token",
                             "error_description": "Refresh token is invalid or already used"}, {}
            self.spent_refresh_tokens.append(self.refresh_token)
            n = next(self._counter)
            self.access_token, self.refresh_token = f"zalo-access-{n}", f"zalo-refresh-{n}"
            self.refreshes += 1
            return 200, {"access_token": self.access_token, "refresh_token": self.refresh_token,
                         "expires_in": "90000"}, {}

    def _send(self, request: Recorded) -> Reply:
        mode = self.take_failure()
        if mode is not None:
            failure = self.common_failure(mode)
            if failure is not None:
                return failure
            if mode in ("expired_token", "expired_token_220"):
                self.expire_token()
                self.stale_token_error = -220 if mode == "expired_token_220" else -216
            elif mode.startswith("code:"):
                code = int(mode.split(":", 1)[1])
                return 200, {"error": code, "message": f"error {code}"}, {}
            elif mode == "no_interaction":
                return 200, {"error": -230, "message": "User has not interacted with the OA in the last 7 days"}, {}
            elif mode == "quota":
                return 200, {"error": -32, "message": "Exceeded rate limit"}, {}
        with self.lock:
            if request.headers.get("access_token") != self.access_token:
                if self.stale_token_error == -220:
                    return 200, {"error": -220, "message": "access_token expired"}, {}
                return 200, {"error": -216, "message": "Access token is invalid"}, {}
        body = request.body if isinstance(request.body, dict) else {}
        user = str((body.get("recipient") or {}).get("user_id") or "")
        message = body.get("message") or {}
        if not user or not isinstance(message.get("text"), str) or len(message["text"]) > 2000:
            return 200, {"error": -201, "message": "Parameters are invalid"}, {}
        buttons = ((message.get("attachment") or {}).get("payload") or {}).get("buttons") or []
        with self.lock:
            self.delivered.append(Delivered(user, message["text"], {"buttons": buttons, "request": body}))
        return 200, {"error": 0, "message": "Success", "data": {"message_id": f"oa-{next(self._ids)}",
                                                                 "user_id": user}}, {}
