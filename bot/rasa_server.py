"""``python -m bot.rasa_server run ...``: Rasa's own ``rasa`` command, with one measured fix and safer defaults.

It listens on 127.0.0.1 unless told otherwise (``--interface`` or ``HELPLINE_RASA_HOST``; Rasa's
own default is every address). Secrets stay off the command line (``ps`` shows it to every local
user): the HTTP API's token is read from ``RASA_TOKEN`` in the environment, as if ``--auth-token``
had been given. Files the process creates (the SQLite tracker store and its WAL) are private to
its user (umask 077).
Request headers and bodies must arrive in bounded time (:mod:`bot.sanic_deadlines`), and idle
keep-alive connections are closed after ``HELPLINE_KEEP_ALIVE_SECONDS`` instead of Rasa's 120 s.

Rasa 3.6 checks every action-server response with ``jsonschema.validate(result, schema)``,
which first validates the schema itself against the JSON Schema meta-schema and builds a new
validator: 40-50 ms of CPU per custom action on the project machine, while checking the
response with a validator built once takes 0.05-0.5 ms (docs/performance.md). That was the
largest single cost of an FAQ or emergency message in the Rasa process. The response is
still validated against the same schema, with the same error when it does not match.

Set ``HELPLINE_RASA_PATCHES=0`` to run Rasa without that fix (the safer defaults stay).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import Any

DOCS_HINT = (". Failed to validate Action server response from API, make sure your response from the Action "
             "endpoint is valid. For more information about the format visit {docs}/custom-actions")


def install() -> None:
    """Replace ``RemoteAction._validate_action_result`` with a cached-validator version."""
    from jsonschema import exceptions, validators
    from rasa.core.actions.action import RemoteAction
    from rasa.shared.constants import DOCS_BASE_URL

    schema = RemoteAction.action_response_format_spec()
    cls = validators.validator_for(schema)
    cls.check_schema(schema)
    validator = cls(schema)

    def _validate_action_result(self: Any, result: dict[str, Any]) -> bool:
        error = exceptions.best_match(validator.iter_errors(result))
        if error is not None:
            error.message += DOCS_HINT.format(docs=DOCS_BASE_URL)
            raise error
        return True

    RemoteAction._validate_action_result = _validate_action_result  # type: ignore[method-assign]


def install_server_limits(header_seconds: float, body_seconds: float, keep_alive_seconds: float) -> None:
    """Read deadlines and a short keep-alive on the Sanic app ``rasa run`` builds."""
    import rasa.core.run as rasa_run

    from bot.sanic_deadlines import install_sanic

    install_sanic(header_seconds, body_seconds)
    configure = rasa_run.configure_app
    if getattr(configure, "_helpline", False):
        return

    def configure_app(*args: Any, **kwargs: Any) -> Any:
        app = configure(*args, **kwargs)
        app.config.REQUEST_TIMEOUT = header_seconds
        app.config.KEEP_ALIVE_TIMEOUT = keep_alive_seconds
        return app

    configure_app._helpline = True  # type: ignore[attr-defined]
    rasa_run.configure_app = configure_app


def with_token_from_env(argv: list[str], env: Mapping[str, str]) -> list[str]:
    """``argv`` of ``rasa run`` plus ``--auth-token`` from ``RASA_TOKEN``, in this process only."""
    if len(argv) < 2 or argv[1] != "run" or any(a == "--auth-token" or a.startswith("--auth-token=") for a in argv):
        return argv
    token = env.get("RASA_TOKEN", "")
    # One argument: a token starting with "-" would otherwise be read as an option.
    return [*argv, f"--auth-token={token}"] if token else argv


def with_loopback_default(argv: list[str], env: Mapping[str, str]) -> list[str]:
    """``rasa run`` listens on ``HELPLINE_RASA_HOST`` (default 127.0.0.1) unless ``--interface`` is given.

    Rasa's own default is 0.0.0.0: every address of the machine, its HTTP API included.
    """
    if len(argv) < 2 or argv[1] != "run" or any(a in ("-i", "--interface") or a.startswith("--interface=")
                                                 for a in argv):
        return argv
    return [*argv, f"--interface={env.get('HELPLINE_RASA_HOST') or '127.0.0.1'}"]


def main() -> None:
    os.umask(0o077)
    from helpline.settings import Settings

    settings = Settings.from_env()
    if os.environ.get("HELPLINE_RASA_PATCHES", "1") != "0":
        install()
    install_server_limits(settings.header_timeout_seconds, settings.body_timeout_seconds,
                          settings.keep_alive_seconds)
    from rasa.__main__ import main as rasa_main

    # Changing sys.argv does not change what `ps` shows: the token never reaches the command line.
    sys.argv = with_loopback_default(with_token_from_env(sys.argv, os.environ), os.environ)
    sys.argv[0] = "rasa"
    rasa_main()


if __name__ == "__main__":
    main()
