"""Abuse limits of the Rasa process's public endpoints: request size, and rate limits per IP and per sender.

- Request size: Sanic's ``REQUEST_MAX_SIZE`` is lowered to ``HELPLINE_MAX_BODY_BYTES``
  (default 1 MB) when the server starts, so an oversized body gets 413 before it is read.
  ``SANIC_REQUEST_MAX_SIZE`` still works and may only lower it further.
- Per client IP (``HELPLINE_RATE_LIMIT_IP`` for REST; ``HELPLINE_RATE_LIMIT_WEBHOOK_IP`` for platform
  webhook requests that **fail** the signature check): 429 with ``Retry-After``. A request with a
  valid signature is never limited per address, because a platform sends everyone's messages from
  a few addresses and disables a webhook that keeps failing; the machine is protected instead by
  the cap on turns at once (``HELPLINE_CHANNEL_MAX_TURNS``, :mod:`connectors.runtime`): over it a
  signed message is acknowledged with 200 and queued. A REST client gets the hotline text with its 429.
- Per sender (``HELPLINE_RATE_LIMIT_SENDER``, keyed by the conversation key, counted when the
  message arrives): the message does not reach the bot, but it is never dropped silently (see
  :func:`connectors.turn.limited_turn`).
  On the signed platform channels a message that looks like danger is never throttled per
  sender; on the REST and web channels, whose callers are not vouched for by a platform, it is
  (the reply still carries 113 and 111), so typing "cứu" cannot lift the limit.
- New conversations per client IP on the REST and web channels (``HELPLINE_RATE_LIMIT_NEW_IP``,
  default ``10/300``): a burst of fresh sender ids or web sessions from one address cannot
  open a burst of conversations, hence of tickets.
- ``Origin`` (REST and web): a browser request from a page whose origin is not allowed
  (``HELPLINE_REST_ORIGINS``, ``HELPLINE_WEB_ORIGINS``: comma-separated, default none) is refused.

Behind a reverse proxy, set ``SANIC_REAL_IP_HEADER`` (e.g. ``X-Real-IP``) or
``SANIC_PROXIES_COUNT=1`` so the client's address, not the proxy's, is used.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from helpline.ratelimit import Rate, RateLimiter
from helpline.safety import detect
from helpline.settings import Settings

logger = logging.getLogger(__name__)
NOTICE_RATE = Rate(1, 60.0)  # at most one "slow down" reply per sender and minute on push channels
NEW_CONVERSATIONS_IP = "10/300"
KNOWN_CONVERSATIONS = 50_000  # memory bound of the "seen recently" set behind the new-conversation limit


class KnownConversations:
    """Conversation keys seen recently (bounded, oldest forgotten first): a known one is not new."""

    def __init__(self, max_keys: int = KNOWN_CONVERSATIONS) -> None:
        self._keys: OrderedDict[str, None] = OrderedDict()
        self._max = max_keys
        self._lock = threading.Lock()

    def seen(self, key: str) -> bool:
        with self._lock:
            if key in self._keys:
                self._keys.move_to_end(key)
                return True
            return False

    def add(self, key: str) -> None:
        with self._lock:
            self._keys[key] = None
            while len(self._keys) > self._max:
                self._keys.popitem(last=False)


@dataclass
class Guards:
    max_body_bytes: int
    rest_ip: RateLimiter
    webhook_ip: RateLimiter
    sender: RateLimiter
    notice: RateLimiter
    new_ip: RateLimiter = field(default_factory=lambda: RateLimiter(Rate.parse(NEW_CONVERSATIONS_IP)))
    known: KnownConversations = field(default_factory=KnownConversations)

    @classmethod
    def from_settings(cls, settings: Settings, env: Mapping[str, str] | None = None) -> Guards:
        env = os.environ if env is None else env
        new_ip = env.get("HELPLINE_RATE_LIMIT_NEW_IP", "") or NEW_CONVERSATIONS_IP
        return cls(
            max_body_bytes=settings.max_body_bytes,
            rest_ip=RateLimiter(Rate.parse(settings.rate_limit_ip, "HELPLINE_RATE_LIMIT_IP")),
            webhook_ip=RateLimiter(Rate.parse(settings.rate_limit_webhook_ip, "HELPLINE_RATE_LIMIT_WEBHOOK_IP")),
            sender=RateLimiter(Rate.parse(settings.rate_limit_sender, "HELPLINE_RATE_LIMIT_SENDER")),
            notice=RateLimiter(NOTICE_RATE),
            new_ip=RateLimiter(Rate.parse(new_ip, "HELPLINE_RATE_LIMIT_NEW_IP")),
        )

    def sender_over_limit(self, key: str, text: str, danger_exempt: bool = True) -> bool:
        """True if this conversation's message must skip the bot.

        With ``danger_exempt`` (the signed platform channels) a message that looks like danger is
        never throttled here; the REST and web channels pass False.
        """
        if self.sender.allow(key):
            return False
        return not (danger_exempt and detect(text).is_emergency)

    def sender_wait(self, key: str) -> float:
        return self.sender.wait_time(key)

    def notify_sender(self, key: str) -> bool:
        """Whether a "slow down" reply may be pushed to this conversation now (one a minute)."""
        return self.notice.allow(key)

    def new_conversation_wait(self, ip: str, key: str) -> float:
        """0.0 if ``key`` may talk now; else seconds until ``ip`` may start another new conversation."""
        if self.known.seen(key):
            return 0.0
        wait = self.new_ip.hit(ip)
        if not wait:
            self.known.add(key)
        return wait

    def new_session_wait(self, ip: str) -> float:
        """A web session is a new conversation: the same per-address budget."""
        return self.new_ip.hit(ip)


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


def _loopback(address: str) -> bool:
    value = address.strip().strip("[]")
    if value.lower().startswith("for="):
        value = value[4:].strip('"[]')
    if value.count(":") == 1 and "." in value:  # "127.0.0.1:5678"
        value = value.split(":", 1)[0]
    try:
        ip = ipaddress.ip_address(value)
    except ValueError:
        return False
    mapped = getattr(ip, "ipv4_mapped", None)
    return bool((mapped or ip).is_loopback)


def _forwarded_for(headers: Mapping[str, str]) -> list[str]:
    out: list[str] = []
    for name in ("x-forwarded-for", "x-real-ip"):
        value = headers.get(name)
        if value:
            out.extend(v for v in (p.strip() for p in value.split(",")) if v)
    for part in (headers.get("forwarded") or "").replace(",", ";").split(";"):
        if part.strip().lower().startswith("for="):
            out.append(part.strip())
    return out


def loopback_client(request: Any) -> bool:
    """True only if the socket peer, the address Sanic resolved and every forwarding header are loopback.

    Behind a reverse proxy that is not declared to Sanic, every request arrives from the proxy's
    loopback address; the proxy's X-Forwarded-For / X-Real-IP header still names the outsider,
    so any non-loopback address in them refuses the request too.
    """
    try:
        addresses = [str(request.ip or ""), client_ip(request)]
        addresses += _forwarded_for(request.headers)
    except Exception:
        return False
    return all(_loopback(a) for a in addresses if a)


def allowed_origins(variable: str, env: Mapping[str, str] | None = None) -> frozenset[str]:
    env = os.environ if env is None else env
    return frozenset(o.strip().rstrip("/").lower() for o in env.get(variable, "").split(",") if o.strip())


def origin_ok(request: Any, allowed: frozenset[str]) -> bool:
    """A request without ``Origin`` (not from a browser page) passes; one with it must be allowed."""
    origin = request.headers.get("origin")
    if origin is None:
        return True
    return origin.strip().rstrip("/").lower() in allowed


def json_content_type(request: Any) -> bool:
    """Only ``application/json``: a cross-origin page can send text/plain without a CORS preflight."""
    kind = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    return kind == "application/json"


def limit_request_size(app: Any) -> None:
    """Lower the server's request size limit (Sanic answers 413 above it)."""
    limit = guards().max_body_bytes
    current = int(getattr(app.config, "REQUEST_MAX_SIZE", limit) or limit)
    if limit > 0 and limit < current:
        app.config.REQUEST_MAX_SIZE = limit
        logger.info("request bodies over %d bytes are refused with 413", limit)
