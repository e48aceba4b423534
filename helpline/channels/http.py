"""Outbound HTTP shared by the platform senders: one client, short retries, status -> SendFailed.

The outbox does the long retries (with backoff, across restarts). Here a
request gets a few quick tries for blips (network error, 5xx, short 429), then
raises :class:`SendFailed` so the outbox keeps the message.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from helpline import logmask
from helpline.errors import SendFailed

TRIES = 3
INLINE_WAIT_LIMIT = 5.0  # longer Retry-After values are left to the outbox's schedule


def make_client(timeout: float) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
        limits=httpx.Limits(max_connections=20, max_keepalive_connections=10),
        headers={"User-Agent": "helpline-connector/1"},
    )


def retry_after_seconds(response: httpx.Response) -> float | None:
    raw = response.headers.get("retry-after")
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        import datetime as dt

        when = parsedate_to_datetime(raw)
        return max(0.0, (when - dt.datetime.now(dt.timezone.utc)).total_seconds())
    except (TypeError, ValueError):
        return None


def raise_for_transport(what: str, exc: Exception) -> None:
    """Network errors and timeouts are transient: the message is kept and retried."""
    if isinstance(exc, httpx.TimeoutException):
        raise SendFailed(f"{what}: timed out ({type(exc).__name__})") from None
    raise SendFailed(f"{what}: network error ({type(exc).__name__})") from None


def raise_for_http_status(what: str, response: httpx.Response) -> None:
    """429 and 5xx are transient; other non-2xx statuses are left to the platform's error mapping."""
    if response.status_code == 429:
        raise SendFailed(f"{what}: rate limited (HTTP 429)", retry_after=retry_after_seconds(response) or 30.0)
    if response.status_code >= 500:
        raise SendFailed(f"{what}: HTTP {response.status_code}", retry_after=retry_after_seconds(response))


async def with_retries(attempt: Callable[[], Awaitable[Any]], tries: int = TRIES, base_delay: float = 0.5) -> Any:
    """Run ``attempt``; on a transient SendFailed wait briefly and try again, up to ``tries``."""
    for n in range(1, tries + 1):
        try:
            return await attempt()
        except SendFailed as exc:
            wait = exc.retry_after if exc.retry_after is not None else base_delay * 2 ** (n - 1)
            if exc.permanent or n == tries or wait > INLINE_WAIT_LIMIT:
                raise
            await asyncio.sleep(wait)
    raise AssertionError("unreachable")


def json_body(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def redact_secrets(secrets: Iterable[str]) -> None:
    """Keep these values out of every log record of the process.

    httpx logs request URLs at INFO, and the Telegram and Zalo Bot tokens are
    part of their URLs, so the process-wide log cleaner masks them wherever they appear.
    """
    logmask.install(secrets)
