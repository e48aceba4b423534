"""bot.rasa_server: the cached validator accepts and rejects exactly what jsonschema.validate does."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import jsonschema
import pytest
from rasa.core.actions.action import RemoteAction

from bot import rasa_server

VALID: list[dict[str, Any]] = [
    {"events": [], "responses": [{"text": "Tổng đài 111 miễn phí.",
                                  "buttons": [{"title": "Có", "payload": "/affirm"}]}]},
    {"events": [{"event": "pause", "timestamp": None}], "responses": [{"text": "a"}, {"text": "b"}]},
    {"events": [{"event": "slot", "name": "x", "value": 1, "timestamp": None}], "responses": []},
    {},
]
INVALID: list[dict[str, Any]] = [
    {"events": [{"event": "no_such_event"}], "responses": []},
    {"events": "pause", "responses": []},
    {"events": [], "responses": "text"},
]


@pytest.fixture
def patched() -> Iterator[RemoteAction]:
    original = RemoteAction._validate_action_result
    rasa_server.install()
    yield RemoteAction("action_answer_faq", None)
    RemoteAction._validate_action_result = original  # type: ignore[method-assign]


@pytest.mark.parametrize("response", VALID)
def test_valid_responses_pass(patched: RemoteAction, response: dict[str, Any]) -> None:
    jsonschema.validate(response, RemoteAction.action_response_format_spec())
    assert patched._validate_action_result(response) is True


@pytest.mark.parametrize("response", INVALID)
def test_invalid_responses_fail_with_jsonschemas_error(patched: RemoteAction, response: dict[str, Any]) -> None:
    with pytest.raises(jsonschema.ValidationError) as expected:
        jsonschema.validate(response, RemoteAction.action_response_format_spec())
    with pytest.raises(jsonschema.ValidationError) as got:
        patched._validate_action_result(response)
    assert got.value.message.startswith(expected.value.message)
    assert "Failed to validate Action server response" in got.value.message
