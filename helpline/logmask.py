"""Keep secrets and personal data out of every log line of a process.

:func:`install` puts a log-record factory in front of the logging module, so every
record of every logger (ours, Rasa's, Sanic's, httpx's, uvicorn's) is cleaned
when it is created, whatever handlers and formatters the frameworks configure:

- configured secrets (tokens, app secrets, database passwords) become ``***``;
- phone numbers, ID numbers, e-mail and street addresses are masked
  (:func:`helpline.text.mask_pii`), in the message and in tracebacks.

Each process calls it once at start-up (the Rasa process when the connectors load,
the action server, the handoff service); it also collects the secrets named in the
environment, so a framework logging a URL with a token in it cannot leak the token.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import traceback
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

from helpline.text import mask_pii

MIN_SECRET_LENGTH = 6
_SECRET_SUFFIXES = ("_TOKEN", "_SECRET", "_SECRET_KEY", "_APP_SECRET", "_PASSWORD", "_API_KEY")
_URL_VARIABLES = ("DATABASE_URL", "HELPLINE_TRACKER_DB_URL", "REDIS_URL", "HELPLINE_REDIS_URL")

_secrets: tuple[str, ...] = ()  # longest first, replaced whole so readers never see it change
_lock = threading.Lock()
_installed = False


def secrets_from_env(env: Mapping[str, str] | None = None) -> set[str]:
    """Values of the environment that are secrets: ``*_TOKEN``, ``*_SECRET*``, passwords in database URLs."""
    env = os.environ if env is None else env
    found: set[str] = set()
    for name, value in env.items():
        if not value:
            continue
        upper = name.upper()
        if upper.endswith(_SECRET_SUFFIXES):
            found.add(value)
        if upper in _URL_VARIABLES or upper.endswith("_DB_URL"):
            try:
                password = urlsplit(value).password
            except ValueError:
                password = None
            if password:
                found.add(password)
    return {s for s in found if len(s) >= MIN_SECRET_LENGTH}


def add_secrets(values: Iterable[str]) -> None:
    """Also hide these values (e.g. a token read from a file, or the Zalo token after a refresh)."""
    global _secrets
    new = {v for v in values if v and len(v) >= MIN_SECRET_LENGTH}
    with _lock:
        if not new.issubset(_secrets):
            _secrets = tuple(sorted(new.union(_secrets), key=len, reverse=True))


_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})")


def _unescape(text: str) -> str:
    """Undo JSON's \\uXXXX escapes (Rasa logs events as ASCII JSON), so masking sees the real words."""
    decoded = _ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text)
    return decoded.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def clean(text: str) -> str:
    """A log text with secrets replaced and personal data masked."""
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, "***")
    masked = mask_pii(text)
    if "\\u" in text:
        readable = _unescape(text)
        masked_readable = mask_pii(readable)
        if masked_readable != readable:
            return masked_readable
    return masked


def _clean_record(record: logging.LogRecord) -> None:
    try:
        message = record.getMessage()
    except Exception:  # a broken record is logging's problem, not ours
        return
    cleaned = clean(message)
    if cleaned != message:
        record.msg, record.args = cleaned, ()
    if record.exc_info and not record.exc_text:
        # Formatters reuse exc_text when it is set, so the traceback they print is the cleaned one.
        text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
        record.exc_text = clean(text)


def install(secrets: Iterable[str] = (), env: Mapping[str, str] | None = None) -> None:
    """Clean every log record of this process from now on (idempotent; adds secrets on each call)."""
    global _installed
    add_secrets(secrets)
    add_secrets(secrets_from_env(env))
    with _lock:
        if _installed:
            return
        previous = logging.getLogRecordFactory()

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            _clean_record(record)
            return record

        logging.setLogRecordFactory(factory)
        _installed = True


def installed() -> bool:
    return _installed
