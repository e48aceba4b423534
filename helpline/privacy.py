"""Privacy commands passed from actions to the channel layer."""

from __future__ import annotations

from typing import Any

# An action cannot delete the Rasa tracker it is part of (Rasa saves the turn
# after the action returns), so it asks the channel to do it once the turn is saved.
FORGET_COMMAND: dict[str, Any] = {"helpline_command": "forget_sender"}


def is_command(message: dict[str, Any]) -> bool:
    custom = message.get("custom") or message.get("json_message")
    return isinstance(custom, dict) and "helpline_command" in custom


def command_name(message: dict[str, Any]) -> str | None:
    custom = message.get("custom") or message.get("json_message")
    if isinstance(custom, dict):
        return custom.get("helpline_command")
    return None
