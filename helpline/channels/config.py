"""Typed settings of each messaging channel, read from the environment only.

A channel whose secrets are missing is disabled, not crashed: ``from_env``
raises :class:`ConfigError` naming every missing variable, and the connector
logs that one line. Secrets are ``repr=False`` so they never reach a log.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from helpline.errors import ConfigError

_TRUE = {"1", "true", "yes", "on"}


def _env(env: Mapping[str, str] | None) -> Mapping[str, str]:
    return os.environ if env is None else env


def _require(env: Mapping[str, str], names: tuple[str, ...]) -> dict[str, str]:
    missing = [n for n in names if not env.get(n, "").strip()]
    if missing:
        raise ConfigError(f"{', '.join(missing)} not set")
    return {n: env[n].strip() for n in names}


def _base(env: Mapping[str, str], name: str, default: str) -> str:
    value = env.get(name, "").strip() or default
    if not value.startswith(("https://", "http://")):
        raise ConfigError(f"{name} must be an http(s) URL")
    return value.rstrip("/")


def _timeout(env: Mapping[str, str]) -> float:
    raw = env.get("HELPLINE_CHANNEL_TIMEOUT", "").strip() or "10"
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError("HELPLINE_CHANNEL_TIMEOUT must be a number of seconds") from None
    if value <= 0:
        raise ConfigError("HELPLINE_CHANNEL_TIMEOUT must be positive")
    return value


@dataclass(frozen=True)
class ZaloConfig:
    """Zalo Official Account (API v3, OAuth v4 token refresh)."""

    app_id: str
    api_base: str
    oauth_base: str
    timeout: float
    oa_secret_key: str = field(repr=False)
    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    app_secret: str = field(repr=False)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ZaloConfig:
        e = _env(env)
        v = _require(e, ("ZALO_APP_ID", "ZALO_OA_SECRET_KEY", "ZALO_ACCESS_TOKEN", "ZALO_REFRESH_TOKEN",
                         "ZALO_APP_SECRET"))
        return cls(
            app_id=v["ZALO_APP_ID"], api_base=_base(e, "ZALO_API_BASE", "https://openapi.zalo.me"),
            oauth_base=_base(e, "ZALO_OAUTH_BASE", "https://oauth.zaloapp.com"), timeout=_timeout(e),
            oa_secret_key=v["ZALO_OA_SECRET_KEY"], access_token=v["ZALO_ACCESS_TOKEN"],
            refresh_token=v["ZALO_REFRESH_TOKEN"], app_secret=v["ZALO_APP_SECRET"],
        )

    @property
    def secrets(self) -> tuple[str, ...]:
        return (self.oa_secret_key, self.access_token, self.refresh_token, self.app_secret)


@dataclass(frozen=True)
class ZaloBotConfig:
    """Zalo Bot Platform (Telegram-like API, token in the URL path)."""

    api_base: str
    timeout: float
    webhook_url: str
    token: str = field(repr=False)
    secret_token: str = field(repr=False)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ZaloBotConfig:
        e = _env(env)
        v = _require(e, ("ZALO_BOT_TOKEN", "ZALO_BOT_SECRET_TOKEN"))
        if not 8 <= len(v["ZALO_BOT_SECRET_TOKEN"]) <= 256:
            raise ConfigError("ZALO_BOT_SECRET_TOKEN must have 8 to 256 characters")
        return cls(
            api_base=_base(e, "ZALO_BOT_API_BASE", "https://bot-api.zaloplatforms.com"), timeout=_timeout(e),
            webhook_url=e.get("ZALO_BOT_WEBHOOK_URL", "").strip(),
            token=v["ZALO_BOT_TOKEN"], secret_token=v["ZALO_BOT_SECRET_TOKEN"],
        )

    @property
    def secrets(self) -> tuple[str, ...]:
        return (self.token, self.secret_token)


@dataclass(frozen=True)
class FacebookConfig:
    """Facebook Messenger (Graph Send API, page access token)."""

    graph_base: str
    timeout: float
    human_agent: bool  # staff replies after 24 h use the HUMAN_AGENT tag (needs Meta's approval)
    app_secret: str = field(repr=False)
    verify_token: str = field(repr=False)
    page_access_token: str = field(repr=False)
    handover_inbox: bool = False  # pass the thread to the Page inbox when the bot hands a person to staff

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> FacebookConfig:
        e = _env(env)
        v = _require(e, ("FACEBOOK_APP_SECRET", "FACEBOOK_VERIFY_TOKEN", "FACEBOOK_PAGE_ACCESS_TOKEN"))
        return cls(
            graph_base=_base(e, "FACEBOOK_GRAPH_BASE", "https://graph.facebook.com/v21.0"), timeout=_timeout(e),
            human_agent=e.get("FACEBOOK_HUMAN_AGENT", "").strip().lower() in _TRUE,
            handover_inbox=e.get("FACEBOOK_HANDOVER_INBOX", "").strip().lower() in _TRUE,
            app_secret=v["FACEBOOK_APP_SECRET"], verify_token=v["FACEBOOK_VERIFY_TOKEN"],
            page_access_token=v["FACEBOOK_PAGE_ACCESS_TOKEN"],
        )

    @property
    def secrets(self) -> tuple[str, ...]:
        return (self.app_secret, self.verify_token, self.page_access_token)


@dataclass(frozen=True)
class TelegramConfig:
    """Telegram Bot API through python-telegram-bot."""

    api_base: str
    timeout: float
    webhook_url: str
    token: str = field(repr=False)
    secret_token: str = field(repr=False)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> TelegramConfig:
        e = _env(env)
        v = _require(e, ("TELEGRAM_BOT_TOKEN", "TELEGRAM_SECRET_TOKEN"))
        secret = v["TELEGRAM_SECRET_TOKEN"]
        # Telegram's rule for secret_token: 1-256 characters A-Z, a-z, 0-9, _ and -.
        if len(secret) > 256 or not all(c.isascii() and (c.isalnum() or c in "_-") for c in secret):
            raise ConfigError("TELEGRAM_SECRET_TOKEN must be 1-256 characters of A-Z, a-z, 0-9, _ or -")
        return cls(
            api_base=_base(e, "TELEGRAM_API_BASE", "https://api.telegram.org"), timeout=_timeout(e),
            webhook_url=e.get("TELEGRAM_WEBHOOK_URL", "").strip(),
            token=v["TELEGRAM_BOT_TOKEN"], secret_token=secret,
        )

    @property
    def secrets(self) -> tuple[str, ...]:
        return (self.token, self.secret_token)
