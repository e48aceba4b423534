"""Fake Graph API Send endpoint: ``POST /v21.0/me/messages?access_token=…``.

Failure modes: ``timeout``, ``5xx``, ``rate_limit``, ``bad_token`` (code 190). People in
``closed_window`` get code 10/2018278 unless the message carries the HUMAN_AGENT tag
(``window_subcode`` picks another subcode, e.g. 2534022).

Handover Protocol (shapes from Meta's Handover Protocol API reference): ``POST /me/pass_thread_control``
``{"recipient": {"id"}, "target_app_id", "metadata"}`` and ``POST /me/take_thread_control``
``{"recipient": {"id"}, "metadata"}`` answer ``{"success": true}``; ``thread_owner`` keeps who owns
each thread (absent: the bot's app) and ``controls`` every call in order.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
from typing import Any

from tests.fakes.base import Delivered, FakePlatform, Recorded, Reply

APP_SECRET = "test-facebook-app-secret"
VERIFY_TOKEN = "test-verify-token"
PAGE_TOKEN = "test-page-access-token"
VERSION = "v21.0"


def sign(body: bytes, app_secret: str = APP_SECRET) -> str:
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def _error(status: int, code: int, message: str, sub: int | None = None) -> Reply:
    error: dict[str, Any] = {"message": message, "type": "OAuthException", "code": code, "fbtrace_id": "AbCdEf"}
    if sub is not None:
        error["error_subcode"] = sub
    return status, {"error": error}, {}


class FakeFacebook(FakePlatform):
    name = "facebook"

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.page_token = PAGE_TOKEN
        self.closed_window: set[str] = set()
        self.window_subcode = 2018278
        self.thread_owner: dict[str, str] = {}  # psid -> app id owning the thread, when not the bot
        self.controls: list[tuple[str, str]] = []  # (action, psid)
        self._ids = itertools.count(1)

    def env(self) -> dict[str, str]:
        return {"FACEBOOK_APP_SECRET": APP_SECRET, "FACEBOOK_VERIFY_TOKEN": VERIFY_TOKEN,
                "FACEBOOK_PAGE_ACCESS_TOKEN": self.page_token, "FACEBOOK_GRAPH_BASE": f"{self.url}/{VERSION}",
                "FACEBOOK_HUMAN_AGENT": "1"}

    def route(self, request: Recorded) -> Reply:
        if request.method == "POST" and request.path in (f"/{VERSION}/me/pass_thread_control",
                                                         f"/{VERSION}/me/take_thread_control"):
            return self._control(request)
        if request.path != f"/{VERSION}/me/messages" or request.method != "POST":
            return _error(404, 803, "Unknown path")
        mode = self.take_failure()
        if mode is not None:
            failure = self.common_failure(mode)
            if failure is not None:
                return failure
            if mode == "bad_token":
                return _error(400, 190, "Error validating access token")
        if request.query.get("access_token") != self.page_token:
            return _error(400, 190, "Invalid OAuth access token")
        body = request.body if isinstance(request.body, dict) else {}
        psid = str((body.get("recipient") or {}).get("id") or "")
        message = body.get("message") or {}
        tagged = body.get("messaging_type") == "MESSAGE_TAG" and body.get("tag") == "HUMAN_AGENT"
        if psid in self.closed_window and not tagged:
            return _error(400, 10, "(#10) This message is sent outside of allowed window.", self.window_subcode)
        text = message.get("text")
        if text is not None and len(text) > 2000:
            return _error(400, 100, "(#100) Length of param message[text] must be less than or equal to 2000")
        for quick in message.get("quick_replies") or []:
            if len(quick.get("title", "")) > 20:
                return _error(400, 100, "(#100) Title of a quick reply must be at most 20 characters")
        with self.lock:
            self.delivered.append(Delivered(psid, text or "", {"quick_replies": message.get("quick_replies") or [],
                                                               "request": body}))
        return 200, {"recipient_id": psid, "message_id": f"m_{next(self._ids)}"}, {}

    def _control(self, request: Recorded) -> Reply:
        if request.query.get("access_token") != self.page_token:
            return _error(400, 190, "Invalid OAuth access token")
        body = request.body if isinstance(request.body, dict) else {}
        psid = str((body.get("recipient") or {}).get("id") or "")
        if not psid:
            return _error(400, 100, "(#100) The parameter recipient is required")
        action = request.path.rsplit("/", 1)[1]
        with self.lock:
            if action == "pass_thread_control":
                target = str(body.get("target_app_id") or "")
                if not target:
                    return _error(400, 100, "(#100) The parameter target_app_id is required")
                self.thread_owner[psid] = target
            else:
                self.thread_owner.pop(psid, None)
            self.controls.append((action, psid))
        return 200, {"success": True}, {}
