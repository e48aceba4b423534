"""Action server entry point: rasa-sdk's server, callable only by Rasa, plus a warm-up of the retriever.

``python -m actions.server --port 5055``. The embedding model loads in each
worker after the server starts (loading it earlier breaks Sanic's worker start,
DESIGN §3), so the first question does not wait for it.

Only Rasa may call it: every route but ``/health`` needs the shared secret of
``HELPLINE_ACTION_SECRET`` in the ``X-Helpline-Action-Secret`` header (Rasa sends it,
``bot/endpoints.yml``); anything else gets a bare 401 and a log line. Errors answer
with their status only: never the request body or the exception text (rasa-sdk's own
handler echoes both). Request headers and bodies must arrive in bounded time
(:mod:`bot.sanic_deadlines`).
"""

from __future__ import annotations

import argparse
import asyncio
import hmac
import logging
import os
import sys
from functools import partial
from http import HTTPStatus
from typing import Any

from rasa_sdk.endpoint import create_app_for_serve
from rasa_sdk.executor import ActionExecutor
from sanic import Sanic, response
from sanic.exceptions import SanicException
from sanic.request import Request
from sanic.response import HTTPResponse
from sanic.worker.loader import AppLoader

from actions.services import ActionCall, current_call
from bot.sanic_deadlines import install_sanic
from helpline import logmask
from helpline.errors import ConfigError
from helpline.settings import Settings

logger = logging.getLogger("actions.server")
# rasa-sdk reads optional tracing settings from here.
ENDPOINTS = "bot/endpoints.yml"
SECRET_HEADER = "X-Helpline-Action-Secret"  # noqa: S105 - a header name
OPEN_PATHS = frozenset({"/health"})


class HelplineExecutor(ActionExecutor):
    """rasa-sdk's executor; each call's action, channel and sender are known to the audit log meanwhile."""

    async def run(self, action_call: Any) -> Any:
        call = _describe(action_call)
        token = current_call.set(call)
        try:
            return await super().run(action_call)
        finally:
            current_call.reset(token)


def _describe(action_call: Any) -> ActionCall:
    if not isinstance(action_call, dict):
        return ActionCall()
    tracker = action_call.get("tracker")
    tracker = tracker if isinstance(tracker, dict) else {}
    return ActionCall(action=str(action_call.get("next_action") or ""),
                      channel=str(tracker.get("latest_input_channel") or ""),
                      sender_id=str(tracker.get("sender_id") or ""))


async def _warm_up(app: Sanic) -> None:
    from actions.services import get_services

    loop = asyncio.get_running_loop()
    loop.run_in_executor(None, get_services().warm_up)


def _require_secret(secret: str) -> Any:
    expected = secret.encode()

    async def check(request: Request) -> HTTPResponse | None:
        if request.path in OPEN_PATHS:
            return None
        given = request.headers.get(SECRET_HEADER, "")
        if given and hmac.compare_digest(given.encode(), expected):
            return None
        # Never the value itself: a near miss would show most of the real secret.
        reason = "no shared secret" if not given else f"a wrong shared secret ({len(given)} characters)"
        logger.warning("refused %s %s from %s: %s", request.method, request.path, request.ip or "?", reason)
        return response.json({"error": "unauthorized"}, status=401)

    return check


async def _error(request: Request, exception: BaseException) -> HTTPResponse:
    status = exception.status_code if isinstance(exception, SanicException) else 500
    if status >= 500:
        where = f"{request.method} {request.path}" if request is not None else "?"
        logger.error("action server error on %s (%s)", where, type(exception).__name__, exc_info=exception)
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "error"
    return response.json({"error": phrase.lower()}, status=status)


def create_app(executor: ActionExecutor) -> Sanic:
    logmask.install()  # also in each worker process: no secret or personal data in any log line
    settings = Settings.from_env()
    secret = settings.require("action_secret")
    install_sanic(settings.header_timeout_seconds, settings.body_timeout_seconds)
    app = create_app_for_serve(executor, cors_origins=[], endpoints=ENDPOINTS,
                               keep_alive_timeout=max(1, int(settings.keep_alive_seconds)))
    app.config.REQUEST_TIMEOUT = settings.header_timeout_seconds
    # rasa-sdk's handler answers a 500 with the request body and the exception text: replace it.
    app.error_handler.cached_handlers[(Exception, None)] = _error
    app.register_middleware(_require_secret(secret), "request")
    app.register_listener(_warm_up, "after_server_start")
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description="Helpline action server")
    parser.add_argument("--host", default=os.environ.get("HELPLINE_ACTIONS_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("HELPLINE_ACTIONS_PORT", "5055")))
    parser.add_argument("--workers", type=int, default=int(os.environ.get("HELPLINE_ACTIONS_WORKERS", "1")))
    args = parser.parse_args()
    logging.basicConfig(
        level=os.environ.get("HELPLINE_LOG_LEVEL", "INFO"), format="%(asctime)s %(name)s %(levelname)s %(message)s"
    )
    logmask.install()
    try:
        Settings.from_env().require("action_secret")
    except ConfigError as exc:
        print(f"actions.server: configuration error: {exc} (the secret Rasa sends, bot/endpoints.yml)",
              file=sys.stderr)
        sys.exit(2)
    executor = HelplineExecutor()
    executor.register_package("actions")
    loader = AppLoader(factory=partial(create_app, executor))
    app = loader.load()
    app.prepare(host=args.host, port=args.port, workers=args.workers, access_log=False, motd=False)
    logger.info("action server listening on http://%s:%d", args.host, args.port)
    Sanic.serve(primary=app, app_loader=loader)


if __name__ == "__main__":
    main()
