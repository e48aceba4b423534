"""Read deadlines for the handoff service (uvicorn): a request must arrive in bounded time.

Without them a client that opens connections and sends one header byte every few seconds
("slowloris") holds them open for ever, until the server has no connection left to give:
uvicorn has no header timeout at all. Here a request's headers must be complete
``header_seconds`` after its first byte and its body ``body_seconds`` after that same byte;
otherwise the connection is closed. An idle keep-alive connection is closed after the
keep-alive timeout. The Sanic servers (Rasa, the action server) get the same deadlines from
:mod:`bot.sanic_deadlines`.

uvicorn is imported inside the functions: the Rasa environment loads this package without it.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

logger = logging.getLogger(__name__)

# The header size limit of the handoff service (h11's own default, stated here on purpose).
MAX_HEADER_BYTES = 16 * 1024


def uvicorn_protocol(header_seconds: float, body_seconds: float) -> type[asyncio.Protocol]:
    """uvicorn's h11 protocol with the same deadlines (pass it as ``uvicorn.run(..., http=...)``)."""
    import h11
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class DeadlineH11Protocol(H11Protocol):
        """Closes a connection whose request is not complete in time; idle ones after the keep-alive."""

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._deadline: asyncio.TimerHandle | None = None
            self._reading_body = False
            # A connection that never sends a byte: the header deadline from the moment it opened.
            self._started = self.loop.time()
            self._arm(header_seconds)

        def _arm(self, seconds: float) -> None:
            self._disarm()
            self._deadline = self.loop.call_later(max(0.1, seconds), self._expired)

        def _disarm(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None

        def _expired(self) -> None:
            self._deadline = None
            if not self.transport.is_closing():
                logger.info("request not received in time from a client; closing the connection")
                self.transport.close()

        def data_received(self, data: bytes) -> None:
            if self._deadline is None and self.conn.their_state is h11.IDLE:
                self._started = self.loop.time()  # first byte of the next request on a kept-alive connection
                self._arm(header_seconds)
                self._reading_body = False
            super().data_received(data)
            state = self.conn.their_state
            if state is h11.SEND_BODY and not self._reading_body:
                self._reading_body = True
                self._arm(self._started + body_seconds - self.loop.time())
            elif state is not h11.IDLE and state is not h11.SEND_BODY:
                self._disarm()  # the whole request is in (or the connection is done)

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

    return DeadlineH11Protocol


def uvicorn_options(header_seconds: float, body_seconds: float, keep_alive_seconds: float) -> dict[str, Any]:
    """Keyword arguments for ``uvicorn.run``: the deadline protocol, keep-alive and header size limits."""
    return {
        "http": uvicorn_protocol(header_seconds, body_seconds),
        "timeout_keep_alive": max(1, int(keep_alive_seconds)),
        "h11_max_incomplete_event_size": MAX_HEADER_BYTES,
    }
