"""Action server entry point: rasa-sdk's server plus a warm-up of the retriever.

``python -m actions.server --port 5055``. The embedding model loads in each
worker after the server starts (loading it earlier breaks Sanic's worker start,
DESIGN §3), so the first question does not wait for it.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
from functools import partial

from rasa_sdk.endpoint import create_app_for_serve
from rasa_sdk.executor import ActionExecutor
from sanic import Sanic
from sanic.worker.loader import AppLoader

from helpline import logmask

logger = logging.getLogger("actions.server")
# rasa-sdk reads optional tracing settings from here.
ENDPOINTS = "bot/endpoints.yml"


async def _warm_up(app: Sanic) -> None:
    from actions.services import get_services

    loop = asyncio.get_running_loop()
    loop.run_in_executor(None, get_services().warm_up)


def create_app(executor: ActionExecutor) -> Sanic:
    logmask.install()  # also in each worker process: no secret or personal data in any log line
    app = create_app_for_serve(executor, cors_origins=[], endpoints=ENDPOINTS)
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
    executor = ActionExecutor()
    executor.register_package("actions")
    loader = AppLoader(factory=partial(create_app, executor))
    app = loader.load()
    app.prepare(host=args.host, port=args.port, workers=args.workers, access_log=False, motd=False)
    logger.info("action server listening on http://%s:%d", args.host, args.port)
    Sanic.serve(primary=app, app_loader=loader)


if __name__ == "__main__":
    main()
