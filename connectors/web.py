"""Web chat channel (``/webhooks/web/…``) for a public page; sessions in :mod:`helpline.websession`.

- ``POST /webhooks/web/session`` (JSON body, may be ``{}``): a new session, ``{"token", "expires_at"}``.
  With ``Authorization: Bearer <valid token>`` the same session is renewed instead.
- ``POST /webhooks/web/webhook`` with ``Authorization: Bearer <token>`` and ``{"message": "..."}``:
  the bot's replies, then anything waiting for this session (staff replies), as a list of
  ``{"text", "buttons"?}``, like the REST channel.
- ``GET /webhooks/web/messages`` with the token: only what is waiting (a page polls this while
  staff have the conversation).

The conversation key is ``web:<session id>``; the id exists only inside the signed token, so
replies go only to its holder. A missing, forged, tampered or expired token gets 401. Same
checks as REST otherwise: ``Content-Type: application/json``, ``Origin`` must be listed in
``HELPLINE_WEB_ORIGINS`` when present (those origins also get CORS headers), request size,
the per-IP limit, new sessions per IP (``HELPLINE_RATE_LIMIT_NEW_IP``), and a per-session limit
that a message looking like danger does not lift (the 429 reply carries 113 and 111).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from rasa.core.channels.channel import InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from connectors.guard import allowed_origins, client_ip, guards, json_content_type, limit_request_size, origin_ok
from connectors.rest import MAX_MESSAGE_CHARS, answer, error, mailbox, slow_down
from helpline.channels.keys import conversation_key
from helpline.errors import ConfigError
from helpline.settings import Settings
from helpline.websession import WebSession, WebSessions, bearer

logger = logging.getLogger(__name__)
CHANNEL = "web"


class WebChatInput(InputChannel):
    def __init__(self, sessions: WebSessions | None, problem: str | None = None) -> None:
        self.sessions = sessions
        self.problem = problem

    @classmethod
    def name(cls) -> str:
        return CHANNEL

    @classmethod
    def from_credentials(cls, credentials: Mapping[str, Any] | None) -> WebChatInput:
        try:
            return cls(WebSessions.from_env(Settings.from_env().data_dir))
        except (ConfigError, OSError) as exc:
            logger.warning("web disabled: %s", exc)
            return cls(None, str(exc))

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        hook = Blueprint("helpline_web_webhook", __name__)
        origins = allowed_origins("HELPLINE_WEB_ORIGINS")

        def cors(request: Request) -> dict[str, str]:
            origin = request.headers.get("origin")
            if origin is None or not origin_ok(request, origins):
                return {}
            return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}

        def refused(request: Request) -> HTTPResponse | None:
            """The checks every web request passes first (None: go on)."""
            if self.sessions is None:
                return error(503, "the web channel is disabled on this server")
            if not origin_ok(request, origins):
                logger.warning("web: refused a request from a web page origin that is not allowed")
                return error(403, "origin not allowed")
            wait = guards().rest_ip.hit(client_ip(request))
            if wait:
                return slow_down(wait, headers=cors(request))
            return None

        def session_of(request: Request) -> WebSession | None:
            assert self.sessions is not None
            return self.sessions.verify(bearer(request.headers.get("authorization")))

        def unauthorized(request: Request) -> HTTPResponse:
            return error(401, "a valid session token is required: POST /webhooks/web/session",
                         {"WWW-Authenticate": "Bearer", **cors(request)})

        @hook.listener("before_server_start")
        async def limit_size(app: Any, loop: Any) -> None:
            limit_request_size(app)

        @hook.route("/", methods=["GET"])
        async def health(request: Request) -> HTTPResponse:
            return response.json({"status": "ok" if self.sessions is not None else "disabled"})

        @hook.route("/session", methods=["OPTIONS"])
        @hook.route("/webhook", methods=["OPTIONS"])
        @hook.route("/messages", methods=["OPTIONS"])
        async def preflight(request: Request) -> HTTPResponse:
            headers = cors(request)
            if not headers:
                return error(403, "origin not allowed")
            return response.empty(headers={**headers, "Access-Control-Allow-Methods": "GET, POST",
                                           "Access-Control-Allow-Headers": "Authorization, Content-Type",
                                           "Access-Control-Max-Age": "600"})

        @hook.route("/session", methods=["POST"])
        async def new_session(request: Request) -> HTTPResponse:
            if (stop := refused(request)) is not None:
                return stop
            assert self.sessions is not None
            if not json_content_type(request):
                return error(415, "Content-Type must be application/json", cors(request))
            current = session_of(request) if request.headers.get("authorization") else None
            if request.headers.get("authorization") and current is None:
                return unauthorized(request)
            if current is None:
                wait = guards().new_session_wait(client_ip(request))
                if wait:
                    logger.warning("web: too many new sessions from one address")
                    return slow_down(wait, headers=cors(request))
            token, session = self.sessions.issue(current.session_id if current else None)
            return response.json({"token": token, "expires_at": session.expires_at}, headers=cors(request))

        @hook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            if (stop := refused(request)) is not None:
                return stop
            session = session_of(request)
            if session is None:
                return unauthorized(request)
            if not json_content_type(request):
                return error(415, "Content-Type must be application/json", cors(request))
            try:
                body = request.json
            except Exception:
                return error(400, "body must be JSON: {\"message\": \"...\"}", cors(request))
            text = body.get("message") if isinstance(body, dict) else None
            if not isinstance(text, str):
                return error(400, "'message' must be a string", cors(request))
            if len(text) > MAX_MESSAGE_CHARS:
                return error(413, f"'message' is longer than {MAX_MESSAGE_CHARS} characters", cors(request))
            key = conversation_key(CHANNEL, session.session_id)
            return await answer(on_new_message, request, CHANNEL, key, text, headers=cors(request),
                                count_new=False)

        @hook.route("/messages", methods=["GET"])
        async def waiting(request: Request) -> HTTPResponse:
            if (stop := refused(request)) is not None:
                return stop
            session = session_of(request)
            if session is None:
                return unauthorized(request)
            messages = await mailbox(CHANNEL, conversation_key(CHANNEL, session.session_id))
            return response.json([{k: v for k, v in m.items() if k != "recipient_id"} for m in messages],
                                 headers=cors(request))

        return hook
