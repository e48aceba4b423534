"""Web chat sessions: a server-chosen random id inside a signed, expiring token.

A public web page cannot be trusted to name its user: with a client-chosen id anyone could
read another person's staff replies. So the server picks the session id (128 random bits),
and the browser holds it only inside a token signed with HMAC-SHA256::

    v1.<session id>.<expiry, Unix seconds>.<signature, base64url>

The conversation key is ``web:<session id>``: whoever holds the token is that conversation,
and nobody else can name it. A token whose signature, shape or expiry is wrong is refused.

The secret comes from ``HELPLINE_WEB_SESSION_SECRET`` (at least 32 characters; every Rasa
replica must share it). Without it, a random secret is made once in the data folder
(``web_session_secret``, mode 0600) and reused, which suits one machine.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from helpline.errors import ConfigError

logger = logging.getLogger(__name__)

VERSION = "v1"
SECRET_ENV = "HELPLINE_WEB_SESSION_SECRET"  # noqa: S105 - a variable name
TTL_ENV = "HELPLINE_WEB_SESSION_HOURS"
SECRET_FILE = "web_session_secret"  # noqa: S105 - a file name
DEFAULT_TTL_HOURS = 24.0
MIN_SECRET_CHARS = 32
SESSION_ID_BYTES = 16
MAX_TOKEN_CHARS = 200


@dataclass(frozen=True)
class WebSession:
    session_id: str
    expires_at: int  # Unix seconds


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def local_secret(data_dir: Path) -> bytes:
    """The secret kept in the data folder, created (mode 0600, atomically) on first use."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / SECRET_FILE
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        value = path.read_text(encoding="ascii").strip()
        if len(value) < MIN_SECRET_CHARS:
            raise ConfigError(f"{path}: the web session secret is too short; delete the file to make a new one"
                              ) from None
        return value.encode("ascii")
    value = secrets.token_urlsafe(48)
    with os.fdopen(fd, "w", encoding="ascii") as out:
        out.write(value)
    logger.info("made a new web session secret in the data folder")
    return value.encode("ascii")


class WebSessions:
    """Issues and verifies session tokens (framework-free, no state besides the secret)."""

    def __init__(self, secret: bytes, ttl_seconds: float = DEFAULT_TTL_HOURS * 3600,
                 clock: Callable[[], float] = time.time) -> None:
        if len(secret) < MIN_SECRET_CHARS:
            raise ConfigError(f"{SECRET_ENV} must be at least {MIN_SECRET_CHARS} characters")
        if ttl_seconds <= 0:
            raise ConfigError(f"{TTL_ENV} must be positive")
        self._secret = secret
        self.ttl_seconds = ttl_seconds
        self._clock = clock

    @classmethod
    def from_env(cls, data_dir: Path, env: Mapping[str, str] | None = None) -> WebSessions:
        env = os.environ if env is None else env
        configured = env.get(SECRET_ENV, "").strip()
        secret = configured.encode("utf-8") if configured else local_secret(data_dir)
        try:
            hours = float(env.get(TTL_ENV, "") or DEFAULT_TTL_HOURS)
        except ValueError:
            raise ConfigError(f"{TTL_ENV} must be a number of hours") from None
        return cls(secret, hours * 3600)

    def _sign(self, session_id: str, expires_at: int) -> str:
        message = f"{VERSION}.{session_id}.{expires_at}".encode("ascii")
        return _b64(hmac.new(self._secret, message, hashlib.sha256).digest())

    def issue(self, session_id: str | None = None) -> tuple[str, WebSession]:
        """A new token: for a new random session, or (``session_id`` from a verified token) renewed."""
        sid = session_id or _b64(secrets.token_bytes(SESSION_ID_BYTES))
        expires = int(self._clock() + self.ttl_seconds)
        return f"{VERSION}.{sid}.{expires}.{self._sign(sid, expires)}", WebSession(sid, expires)

    def verify(self, token: str | None) -> WebSession | None:
        """The session a token stands for, or None if it is malformed, forged, tampered with or expired."""
        if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_CHARS:
            return None
        parts = token.split(".")
        if len(parts) != 4 or parts[0] != VERSION or not parts[1] or not parts[2].isdigit():
            return None
        try:
            sid, expires = parts[1], int(parts[2])
            parts[1].encode("ascii")
            expected = self._sign(sid, expires)
        except (ValueError, UnicodeError):
            return None
        if not hmac.compare_digest(expected.encode("ascii"), parts[3].encode("ascii", "replace")):
            return None
        if expires <= self._clock():
            return None
        return WebSession(sid, expires)


def bearer(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header."""
    scheme, _, value = (authorization or "").strip().partition(" ")
    return value.strip() or None if scheme.lower() == "bearer" else None
