"""Abuse limits of the Rasa process's public endpoints: request size, and rate limits per IP and per sender.

- Request size: Sanic's ``REQUEST_MAX_SIZE`` is lowered to ``HELPLINE_MAX_BODY_BYTES``
  (default 1 MB) when the server starts, so an oversized body gets 413 before it is read.
  ``SANIC_REQUEST_MAX_SIZE`` still works and may only lower it further.
- Per client IP (``HELPLINE_RATE_LIMIT_IP`` for REST, ``HELPLINE_RATE_LIMIT_WEBHOOK_IP`` for the
  platform webhooks): 429 with ``Retry-After``. A platform retries a refused webhook later, so
  nothing it carries is lost; a REST client gets the hotline text with its 429.
- Per sender (``HELPLINE_RATE_LIMIT_SENDER``): the message does not reach the bot, but it is
  never dropped silently (see :func:`connectors.turn.limited_turn`), and a message that looks
  like danger is never throttled per sender.

Behind a reverse proxy, set ``SANIC_REAL_IP_HEADER`` (e.g. ``X-Real-IP``) or
``SANIC_PROXIES_COUNT=1`` so the client's address, not the proxy's, is used.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from helpline.ratelimit import Rate, RateLimiter
from helpline.safety import detect
from helpline.settings import Settings

logger = logging.getLogger(__name__)
NOTICE_RATE = Rate(1, 60.0)  # at most one "slow down" reply per sender and minute on push channels


@dataclass
class Guards:
    max_body_bytes: int
    rest_ip: RateLimiter
    webhook_ip: RateLimiter
    sender: RateLimiter
    notice: RateLimiter

    @classmethod
    def from_settings(cls, settings: Settings) -> Guards:
        return cls(
            max_body_bytes=settings.max_body_bytes,
            rest_ip=RateLimiter(Rate.parse(settings.rate_limit_ip, "HELPLINE_RATE_LIMIT_IP")),
            webhook_ip=RateLimiter(Rate.parse(settings.rate_limit_webhook_ip, "HELPLINE_RATE_LIMIT_WEBHOOK_IP")),
            sender=RateLimiter(Rate.parse(settings.rate_limit_sender, "HELPLINE_RATE_LIMIT_SENDER")),
            notice=RateLimiter(NOTICE_RATE),
        )

    def sender_over_limit(self, channel: str, sender_id: str, text: str) -> bool:
        """True if this sender's message must skip the bot; danger is never throttled per sender."""
        if self.sender.allow(f"{channel}:{sender_id}"):
            return False
        return not detect(text).is_emergency

    def sender_wait(self, channel: str, sender_id: str) -> float:
        return self.sender.wait_time(f"{channel}:{sender_id}")

    def notify_sender(self, channel: str, sender_id: str) -> bool:
        """Whether a "slow down" reply may be pushed to this sender now (one a minute)."""
        return self.notice.allow(f"{channel}:{sender_id}")


_guards: Guards | None = None


def guards() -> Guards:
    global _guards
    if _guards is None:
        _guards = Guards.from_settings(Settings.from_env())
    return _guards


def reset() -> None:
    """Forget the process-wide limits (tests)."""
    global _guards
    _guards = None


def client_ip(request: Any) -> str:
    """The client's address: the proxy header Sanic is configured to trust, else the peer."""
    try:
        return str(request.remote_addr or request.ip or "?")
    except Exception:  # a malformed forwarding header must not break the request
        return str(getattr(request, "ip", "") or "?")


def limit_request_size(app: Any) -> None:
    """Lower the server's request size limit (Sanic answers 413 above it)."""
    limit = guards().max_body_bytes
    current = int(getattr(app.config, "REQUEST_MAX_SIZE", limit) or limit)
    if limit > 0 and limit < current:
        app.config.REQUEST_MAX_SIZE = limit
        logger.info("request bodies over %d bytes are refused with 413", limit)
