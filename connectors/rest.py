"""REST channel (``/webhooks/rest/webhook``) that validates input and never answers with silence."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from connectors.guard import client_ip, guards, limit_request_size
from connectors.turn import finish_turn, limited_turn, run_turn, shared_outbox
from helpline import replies
from helpline.ratelimit import retry_after_header
from helpline.text import clean

logger = logging.getLogger(__name__)
MAX_MESSAGE_CHARS = 4096
MAX_SENDER_CHARS = 128


async def _mailbox(sender: str) -> list[dict[str, Any]]:
    try:
        items = await asyncio.to_thread(shared_outbox().take_pending, HelplineRestInput.name(), sender)
    except Exception:
        logger.exception("could not read the outbox for a REST user")
        return []
    return [{"recipient_id": sender, **item.message} for item in items]


def _error(status: int, message: str) -> HTTPResponse:
    return response.json({"error": message}, status=status)


def _json_content_type(request: Request) -> bool:
    """JSON bodies only; a missing type and text/plain (sent by simple web widgets) are accepted too."""
    kind = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    return kind in ("", "application/json", "text/plain") or kind.endswith("+json")


def _slow_down(sender: str | None, wait: float) -> HTTPResponse:
    """429 that still carries the hotlines, in the shape of a normal reply."""
    message = {"text": replies.RATE_LIMITED, **({"recipient_id": sender} if sender else {})}
    return response.json([message], status=429, headers={"Retry-After": retry_after_header(wait)})


class HelplineRestInput(InputChannel):
    @classmethod
    def name(cls) -> str:
        return "rest"

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        hook = Blueprint("helpline_rest_webhook", __name__)

        @hook.route("/", methods=["GET"])
        async def health(request: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @hook.listener("before_server_start")
        async def limit_size(app: Any, loop: Any) -> None:
            limit_request_size(app)

        @hook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            limits = guards()
            wait = limits.rest_ip.hit(client_ip(request))
            if wait:
                return _slow_down(None, wait)
            if not _json_content_type(request):
                return _error(415, "Content-Type must be application/json")
            try:
                body = request.json
            except Exception:
                return _error(400, "body must be JSON: {\"sender\": \"...\", \"message\": \"...\"}")
            if not isinstance(body, dict):
                return _error(400, "body must be a JSON object with 'sender' and 'message'")
            sender, text = body.get("sender"), body.get("message")
            if not isinstance(sender, str) or not sender.strip() or len(sender) > MAX_SENDER_CHARS:
                return _error(400, f"'sender' must be a non-empty string of at most {MAX_SENDER_CHARS} characters")
            if not isinstance(text, str):
                return _error(400, "'message' must be a string")
            if len(text) > MAX_MESSAGE_CHARS:
                return _error(413, f"'message' is longer than {MAX_MESSAGE_CHARS} characters")
            text = clean(text)
            if limits.sender_over_limit(self.name(), sender, text):
                messages = await limited_turn(self.name(), sender, text) + await _mailbox(sender)
                wait = limits.sender_wait(self.name(), sender)
                return response.json(messages, status=429, headers={"Retry-After": retry_after_header(wait)})
            metadata = body.get("metadata") if isinstance(body.get("metadata"), dict) else None
            collector = CollectingOutputChannel()
            failed = False
            if text:
                message = UserMessage(text, collector, sender, input_channel=self.name(), metadata=metadata)
                failed = not await run_turn(on_new_message, message, self.name(), sender)
            agent = getattr(request.app.ctx, "agent", None)
            messages = await finish_turn(agent, self.name(), sender, text, list(collector.messages), failed)
            # REST cannot push: staff replies and reminders waiting in the outbox ride on this response.
            messages.extend(await _mailbox(sender))
            return response.json(messages)

        return hook
