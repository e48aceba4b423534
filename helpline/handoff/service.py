"""The handoff service: a JSON API over the ticket store, and the staff console (:mod:`helpline.console`).

Every ``/api`` route needs the staff token (``Authorization: Bearer <token>``,
from ``HELPLINE_STAFF_TOKEN``). Without a configured token the API refuses all
requests: it is never open by default. Responses mask user ids and personal
data in message texts; tokens and message texts are never logged.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from helpline.channels.outbox import Outbox
from helpline.console import BodyLimit, ChangeFeed, ConsoleHeaders, console_routes
from helpline.console.web import MAX_FORM_BYTES, client_address
from helpline.errors import HandoffError
from helpline.handoff.accounts import StaffAccounts
from helpline.handoff.models import Ticket, TicketMessage, utc_now
from helpline.handoff.store import LIST_STATUSES, HandoffStore
from helpline.handoff.workers import DeskWorker, Notifier, RasaResumer, Resumer, TelegramNotifier
from helpline.ratelimit import Rate, RateLimiter, retry_after_header
from helpline.settings import Settings
from helpline.text import mask_id

log = logging.getLogger(__name__)

# One shared token means one identity; per-person staff accounts come later.
STAFF_ACTOR = "staff"
PREVIEW_CHARS = 140
DEFAULT_LIMIT = 100
MAX_LIMIT = 500
MIN_TOKEN_LENGTH = 16
_TICKET_ID = re.compile(r"^[0-9]{1,18}$")
_NO_STORE = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> JSONResponse:
    # Ticket data must not end up in browser or proxy caches.
    return JSONResponse(data, status_code=status, headers={**_NO_STORE, **(headers or {})})


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return _json({"error": message}, status, headers)


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def _preview(masked: str) -> str:
    # Masked before cutting, so a cut cannot leave half a phone number unmasked.
    return masked if len(masked) <= PREVIEW_CHARS else masked[: PREVIEW_CHARS - 1] + "…"


def _message_json(message: TicketMessage, preview: bool = False) -> dict[str, Any]:
    # The mask made when the message was stored (linear-time masking, done once).
    text = _preview(message.masked_text) if preview else message.masked_text
    return {"author": message.author, "text": text, "at": _iso(message.created_at)}


def ticket_summary(ticket: Ticket, now: Any = None) -> dict[str, Any]:
    """A ticket as shown in the staff queue (ids and personal data masked).

    Args:
        ticket: The ticket, with ``last_message`` filled if it has one.
        now: The current time (aware UTC datetime); defaults to the clock.

    Returns:
        A JSON-serialisable dict.
    """
    last = ticket.last_message
    return {
        "id": ticket.id,
        "channel": ticket.channel,
        "sender_id": mask_id(ticket.sender_id),
        "status": ticket.status,
        "priority": ticket.priority,
        "reasons": list(ticket.reasons),
        "created_at": _iso(ticket.created_at),
        "updated_at": _iso(ticket.updated_at),
        "resolved_at": _iso(ticket.resolved_at),
        "waiting_seconds": ticket.waiting_seconds(now or utc_now()),
        "last_message": _message_json(last, preview=True) if last is not None else None,
    }


def ticket_detail(ticket: Ticket, now: Any = None) -> dict[str, Any]:
    """A ticket with its masked transcript and shared location, for the staff view.

    Args:
        ticket: The ticket, loaded with its messages.
        now: The current time (aware UTC datetime); defaults to the clock.

    Returns:
        A JSON-serialisable dict.
    """
    detail = ticket_summary(ticket, now)
    detail["resolved_by"] = ticket.resolved_by
    detail["location"] = ticket.location
    detail["messages"] = [_message_json(m) for m in ticket.messages]
    return detail


def create_app(settings: Settings, store: HandoffStore | None = None, *, outbox: Outbox | None = None,
               resumer: Resumer | None = None, notifier: Notifier | None = None) -> Starlette:
    """Build the handoff service application.

    Args:
        settings: Project settings; ``staff_token`` guards the API and
            ``handoff_db_url`` locates the store when none is given.
        store: The ticket store to serve (tests pass their own).
        outbox: Where staff replies and desk messages are queued (default: the same database URL).
        resumer: Resumes the bot after a ticket closes (default: Rasa's tracker events API).
        notifier: Staff-group alerts (default: Telegram when configured, else none).

    Returns:
        A Starlette app with ``/health``, ``/api/tickets``, ``/api/tickets/{id}`` and the staff
        console under ``/console``. Its lifespan runs the desk worker (escalation, resume retries,
        alerts, purge) and the console's change feed.
    """
    store = store if store is not None else HandoffStore.from_url(settings.handoff_db_url)
    outbox = outbox if outbox is not None else Outbox.from_url(settings.handoff_db_url)
    if resumer is None:
        if not settings.rasa_token:
            log.warning("RASA_TOKEN is not set: resuming the bot after a ticket will fail and be retried")
        resumer = RasaResumer(settings.rasa_url, settings.rasa_token)
    if notifier is None and settings.staff_telegram_bot_token and settings.staff_telegram_chat_id:
        notifier = TelegramNotifier(settings.staff_telegram_api_base, settings.staff_telegram_bot_token,
                                    settings.staff_telegram_chat_id)
    accounts = StaffAccounts(store.database, now=store.clock)
    worker = DeskWorker(settings, store, outbox, resumer, notifier, accounts=accounts)
    feed = ChangeFeed(store, interval=1.0)
    token = settings.staff_token.strip().encode("utf-8")
    login_rate = Rate.parse(settings.rate_limit_login, "HELPLINE_RATE_LIMIT_LOGIN")
    api_failures = RateLimiter(login_rate)  # wrong staff tokens per client address
    if not token:
        log.warning("HELPLINE_STAFF_TOKEN is not set: the staff API refuses every request (503)")
    elif len(token) < MIN_TOKEN_LENGTH:
        log.warning("HELPLINE_STAFF_TOKEN has under %d characters; use a long random one", MIN_TOKEN_LENGTH)

    def refuse(request: Request) -> JSONResponse | None:
        """An error response unless the request carries the staff token."""
        if not token:
            return _error(503, "the staff API is disabled: HELPLINE_STAFF_TOKEN is not set on the server")
        address = client_address(request)
        wait = api_failures.wait_time(address)
        if wait:
            return _error(429, "too many failed attempts; try again later", {"Retry-After": retry_after_header(wait)})
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        # compare_digest on bytes: it rejects non-ASCII str, and a header may hold anything.
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode("utf-8"), token):
            api_failures.hit(address)
            return _error(401, "missing or invalid staff token", {"WWW-Authenticate": "Bearer"})
        return None

    def health(request: Request) -> JSONResponse:
        # A sync handler runs in the thread pool, and console pages render there too: never on the loop.
        try:
            store.ping()
        except HandoffError as exc:
            log.warning("health check failed: %s", exc)
            return _json({"status": "unavailable", "error": "the handoff database is unreachable"}, 503)
        return _json({"status": "ok"})

    def list_tickets(request: Request) -> JSONResponse:
        denied = refuse(request)
        if denied is not None:
            return denied
        status = request.query_params.get("status", "open")
        if status not in LIST_STATUSES:
            return _error(400, f"status must be one of: {', '.join(LIST_STATUSES)}")
        raw_limit = request.query_params.get("limit", str(DEFAULT_LIMIT))
        if not raw_limit.isascii() or not raw_limit.isdigit() or not 1 <= int(raw_limit) <= MAX_LIMIT:
            return _error(400, f"limit must be a whole number from 1 to {MAX_LIMIT}")
        tickets = store.list_tickets(status=status, limit=int(raw_limit))
        store.audit(STAFF_ACTOR, f"list_tickets status={status}")
        now = utc_now()
        return _json([ticket_summary(t, now) for t in tickets])

    def get_ticket(request: Request) -> JSONResponse:
        denied = refuse(request)
        if denied is not None:
            return denied
        raw_id = request.path_params["ticket_id"]
        if not _TICKET_ID.match(raw_id):
            return _error(400, "ticket id must be a positive whole number")
        ticket = store.get(int(raw_id))
        if ticket is None:
            return _error(404, "no such ticket")
        store.audit(STAFF_ACTOR, "view_ticket", ticket.id)
        return _json(ticket_detail(ticket))

    async def on_http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HTTPException)
        return _error(exc.status_code, str(exc.detail), dict(exc.headers or {}))

    async def on_store_error(request: Request, exc: Exception) -> Response:
        # Store messages name the operation and the driver's one-line reason, never row data.
        log.error("handoff store error on %s %s: %s", request.method, request.url.path, exc)
        if request.url.path.startswith("/console"):
            return PlainTextResponse("Cơ sở dữ liệu của bàn trực đang gặp sự cố. Hãy thử lại sau ít phút; "
                                     "nếu có người đang gặp nguy hiểm, hãy liên hệ qua 111/113.", 503)
        return _error(503, "the handoff database is unavailable; try again shortly")

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        tasks = [asyncio.create_task(worker.run_forever()), asyncio.create_task(feed.run_forever())]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with suppress(asyncio.CancelledError):
                    await task

    app = Starlette(
        routes=[
            Route("/health", health, methods=["GET"]),
            Route("/api/tickets", list_tickets, methods=["GET"]),
            Route("/api/tickets/{ticket_id}", get_ticket, methods=["GET"]),
            *console_routes(settings, store, worker.accounts, outbox, worker, feed, RateLimiter(login_rate)),
        ],
        # BodyLimit first: an oversized body is refused before any handler reads it.
        middleware=[Middleware(BodyLimit, max_bytes=MAX_FORM_BYTES), Middleware(ConsoleHeaders)],
        exception_handlers={HTTPException: on_http_error, HandoffError: on_store_error},
        lifespan=lifespan,
    )
    app.state.store = store
    app.state.outbox = outbox
    app.state.worker = worker
    app.state.feed = feed
    return app
