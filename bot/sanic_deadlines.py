"""Read deadlines for the Sanic servers (the Rasa server, the action server).

Sanic times a request from the *last* byte received, so a client that sends one header byte
every few seconds ("slowloris") keeps resetting the clock and holds the connection for ever;
enough of them and the server has no connection left to give. With :func:`install_sanic`, a
request's headers must be complete ``REQUEST_TIMEOUT`` seconds after its first byte (Sanic's own
check, once the clock no longer resets) and its body ``body_seconds`` after that same byte;
otherwise Sanic answers 408 and closes the connection. The uvicorn counterpart (handoff service)
is :mod:`helpline.deadlines`; the core itself stays free of Sanic.

Used by ``bot/rasa_server.py`` (Rasa's Sanic 21) and ``actions/server.py`` (Sanic 25): both
versions keep the clock in ``HttpProtocol._time`` and check it in ``check_timeouts``.
"""

from __future__ import annotations

import logging
import time
from typing import Any

logger = logging.getLogger(__name__)
_body_seconds = 20.0


def install_sanic(header_seconds: float, body_seconds: float) -> None:
    """Make Sanic's request timeout count from a request's first byte, and add a body deadline.

    Sanic's own ``REQUEST_TIMEOUT`` must be set to ``header_seconds`` by the caller (it is read per
    app: ``app.config.REQUEST_TIMEOUT``, or ``SANIC_REQUEST_TIMEOUT`` in the environment).
    Idempotent; the last call's ``body_seconds`` applies.
    """
    from sanic.exceptions import RequestTimeout
    from sanic.http import Stage
    from sanic.server.protocols.http_protocol import HttpProtocol

    del header_seconds  # enforced by Sanic itself once the clock no longer resets
    global _body_seconds
    _body_seconds = float(body_seconds)
    if getattr(HttpProtocol, "_helpline_deadlines", False):
        return
    receive = HttpProtocol.data_received
    check = HttpProtocol.check_timeouts

    def _reading(http: Any) -> bool:
        stage = getattr(http, "stage", None)
        return stage is Stage.REQUEST or (stage is Stage.HANDLER and bool(getattr(http, "request_body", None)))

    def data_received(self: Any, data: bytes) -> None:
        http = getattr(self, "_http", None)
        if http is None or not _reading(http):
            receive(self, data)  # the first byte of a request (or data after it): the clock starts here
            return
        started = self._time
        receive(self, data)
        self._time = started  # more of the same request: the clock keeps running

    def check_timeouts(self: Any) -> None:
        http = getattr(self, "_http", None)
        if (self._task and http is not None and getattr(http, "stage", None) is Stage.HANDLER
                and getattr(http, "request_body", None) and time.monotonic() - self._time > _body_seconds):
            logger.debug("request body not received in time; closing the connection")
            http.exception = RequestTimeout("Request Timeout")
            # Answer 408 and close: never wait for the rest of the body (Sanic would read it first).
            http.request_body = None
            http.keep_alive = False
            self._task.cancel()
            return
        check(self)

    HttpProtocol.data_received = data_received  # type: ignore[method-assign]
    HttpProtocol.check_timeouts = check_timeouts  # type: ignore[method-assign]
    HttpProtocol._helpline_deadlines = True  # type: ignore[attr-defined]


_body_seconds = 20.0
