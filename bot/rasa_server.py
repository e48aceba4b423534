"""``python -m bot.rasa_server run ...``: Rasa's own ``rasa`` command, with one measured fix.

Rasa 3.6 checks every action-server response with ``jsonschema.validate(result, schema)``,
which first validates the schema itself against the JSON Schema meta-schema and builds a new
validator: 40-50 ms of CPU per custom action on the project machine, while checking the
response with a validator built once takes 0.05-0.5 ms (docs/performance.md). That was the
largest single cost of an FAQ or emergency message in the Rasa process. The response is
still validated against the same schema, with the same error when it does not match.

Set ``HELPLINE_RASA_PATCHES=0`` to run Rasa unchanged.
"""

from __future__ import annotations

import os
import sys
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


def main() -> None:
    if os.environ.get("HELPLINE_RASA_PATCHES", "1") != "0":
        install()
    from rasa.__main__ import main as rasa_main

    sys.argv[0] = "rasa"
    rasa_main()


if __name__ == "__main__":
    main()
