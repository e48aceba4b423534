"""Integration tests run against the session's real stack: Rasa, the action server and the handoff service.

The ``stack``, ``bot`` and ``platforms`` fixtures live in tests/stacks.py and are registered in
tests/conftest.py, so tests/security shares the same stack instead of starting a second one.
"""

from __future__ import annotations

from tests.stacks import Bot
from tests.stacks import free_port as _free_port

__all__ = ["Bot", "_free_port"]
