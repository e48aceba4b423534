"""Run the handoff service: ``python -m helpline.handoff``.

Listens on ``HELPLINE_HANDOFF_HOST``:``HELPLINE_HANDOFF_PORT`` (default
127.0.0.1:5080) and serves the tickets in ``DATABASE_URL`` (default: SQLite
in the data folder).
"""

from __future__ import annotations

import logging
import sys

import uvicorn

from helpline import deadlines, logmask
from helpline.errors import ConfigError, HelplineError
from helpline.handoff.service import create_app
from helpline.handoff.store import HandoffStore
from helpline.handoff.workers import check_desk_settings
from helpline.settings import Settings

# No "trace": uvicorn would log raw ASGI messages, headers (the staff token) included.
_LOG_LEVELS = ("critical", "error", "warning", "info", "debug")


def trusted_proxies(settings: Settings) -> list[str]:
    """The proxies whose forwarding headers are believed (HELPLINE_TRUSTED_PROXIES, comma-separated)."""
    return [p.strip() for p in settings.trusted_proxies.split(",") if p.strip()]


def main() -> int:
    """Start the service; return the process exit code.

    Returns:
        0 after a clean shutdown, 2 on a configuration error, 1 if the
        database cannot be reached at startup.
    """
    try:
        settings = Settings.from_env()
        level = settings.log_level.strip().lower()
        if level not in _LOG_LEVELS:
            raise ConfigError(f"HELPLINE_LOG_LEVEL must be one of {', '.join(_LOG_LEVELS)}")
        logging.basicConfig(level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        logmask.install()  # no token, password or personal data in any log line of this process
        check_desk_settings(settings)
        store = HandoffStore.from_url(settings.handoff_db_url)
        store.ping()  # fail now, not on the first staff request
    except ConfigError as exc:
        print(f"helpline.handoff: configuration error: {exc}", file=sys.stderr)
        return 2
    except HelplineError as exc:
        print(f"helpline.handoff: {exc}", file=sys.stderr)
        return 1
    app = create_app(settings, store)
    # The description never contains the URL's credentials.
    print(f"helpline.handoff: listening on {settings.handoff_url}, database {store.description}", flush=True)
    # Console pages hold Server-Sent Events streams open: do not wait for them forever on shutdown.
    # X-Forwarded-For is believed only from proxies named in HELPLINE_TRUSTED_PROXIES: by default none,
    # not even 127.0.0.1 (uvicorn's default), or anyone on the machine could pick their address and
    # get round the per-address login and staff-token limits.
    trusted = trusted_proxies(settings)
    uvicorn.run(app, host=settings.handoff_host, port=settings.handoff_port, log_level=level,
                timeout_graceful_shutdown=3, proxy_headers=bool(trusted),
                forwarded_allow_ips=trusted or None,
                # Header and body read deadlines, keep-alive and header size limits (helpline/deadlines.py).
                **deadlines.uvicorn_options(settings.header_timeout_seconds, settings.body_timeout_seconds,
                                            settings.keep_alive_seconds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
