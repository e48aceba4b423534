"""Faults and restarts: the user always gets an answer with 111, and data survives."""

from __future__ import annotations

import uuid

from helpline.stack import Stack
from tests.integration.conftest import Bot


def test_action_server_down_still_answers_with_111(stack: Stack, bot: Bot) -> None:
    stack.stop("actions")
    try:
        for message in ("Tội mua bán người bị phạt mấy năm?", "cuu toi voi toi bi nhot"):
            reply = bot.text(f"down-{uuid.uuid4().hex[:8]}", message)
            assert "111" in reply, message
        assert "113" in bot.text(f"down-{uuid.uuid4().hex[:8]}", "cuu toi voi toi bi nhot")
    finally:
        stack.start("actions")
        stack.wait_healthy(["actions"])


def test_conversation_survives_a_rasa_restart(stack: Stack, bot: Bot) -> None:
    sender = f"restart-{uuid.uuid4().hex[:8]}"
    bot.text(sender, "chào bạn")
    stack.stop("rasa")
    stack.start("rasa")
    stack.wait_healthy(["rasa"], timeout=300)
    events = bot.tracker(sender)["events"]
    assert any(e.get("event") == "user" and e.get("text") == "chào bạn" for e in events)
