"""REST channel (``/webhooks/rest/webhook``): the local and test channel, on loopback only.

Its contract is Rasa's (``{"sender", "message"}`` in, a list of messages out), and it never
answers with silence. The caller chooses ``sender`` freely, so the channel trusts nobody but
the machine itself:

- it answers only loopback clients (403 otherwise, see :func:`connectors.guard.loopback_client`);
- it is off when Rasa runs behind a reverse proxy (``SANIC_PROXIES_COUNT`` or
  ``SANIC_REAL_IP_HEADER`` set: the scaled and production shape) unless ``HELPLINE_REST_ENABLED=1``
  (logged as a warning); ``HELPLINE_REST_ENABLED=0`` turns it off anywhere;
- ``Content-Type: application/json`` only, and a request carrying an ``Origin`` not listed in
  ``HELPLINE_REST_ORIGINS`` (default: none) is refused, so no web page can post to it;
- the conversation key is ``rest:<sender>``: a REST sender can never reach another channel's
  tracker, ticket or messages (``rest:123`` is not ``telegram:123``).

A public web chat uses :mod:`connectors.web` instead (server-issued session tokens).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from connectors import choices
from connectors.guard import (
    allowed_origins,
    client_ip,
    guards,
    json_content_type,
    limit_request_size,
    loopback_client,
    origin_ok,
)
from connectors.runtime import ChannelRuntime
from connectors.turn import finish_turn, limited_turn, run_turn, screen_payload, shared_outbox
from helpline import replies
from helpline.channels.keys import conversation_key
from helpline.ratelimit import retry_after_header
from helpline.text import clean

logger = logging.getLogger(__name__)
MAX_MESSAGE_CHARS = 4096
MAX_SENDER_CHARS = 128
CHANNEL = "rest"
PROXY_SETTINGS = ("SANIC_PROXIES_COUNT", "SANIC_REAL_IP_HEADER", "SANIC_FORWARDED_SECRET")


def rest_enabled(env: Mapping[str, str] | None = None) -> bool:
    """Whether this process serves the REST channel (see the module docstring)."""
    env = os.environ if env is None else env
    flag = env.get("HELPLINE_REST_ENABLED", "").strip().lower()
    proxied = any(env.get(name, "").strip() not in ("", "0") for name in PROXY_SETTINGS)
    if flag in ("0", "false", "no", "off"):
        logger.info("rest channel disabled (HELPLINE_REST_ENABLED=0)")
        return False
    if flag in ("1", "true", "yes", "on"):
        if proxied:
            logger.warning("!!! rest channel ENABLED behind a reverse proxy by HELPLINE_REST_ENABLED=1: "
                           "/webhooks/rest/webhook takes client-chosen sender ids; it still answers loopback "
                           "clients only. Never leave this on in production. !!!")
        return True
    if proxied:
        logger.warning("rest channel disabled: Rasa runs behind a reverse proxy (the public web chat is "
                       "/webhooks/web/); set HELPLINE_REST_ENABLED=1 to enable it for local clients")
        return False
    return True


async def mailbox(channel: str, key: str) -> list[dict[str, Any]]:
    """Messages waiting in the outbox for a channel without push (staff replies, reminders)."""
    try:
        items = await asyncio.to_thread(shared_outbox().take_pending, channel, key)
    except Exception:
        logger.exception("could not read the outbox for a %s user", channel)
        return []
    return [{"recipient_id": key, **item.message} for item in items]


def error(status: int, message: str, headers: Mapping[str, str] | None = None) -> HTTPResponse:
    return response.json({"error": message}, status=status, headers=dict(headers or {}))


def slow_down(wait: float, recipient: str | None = None, headers: Mapping[str, str] | None = None
              ) -> HTTPResponse:
    """429 that still carries the hotlines, in the shape of a normal reply."""
    message = {"text": replies.RATE_LIMITED, **({"recipient_id": recipient} if recipient else {})}
    return response.json([message], status=429, headers={"Retry-After": retry_after_header(wait), **(headers or {})})


def _shown(messages: list[dict[str, Any]], recipient: str | None) -> list[dict[str, Any]]:
    """Messages as the caller sees them: ``recipient_id`` is its own id (REST's contract), or absent."""
    out = []
    for message in messages:
        shown = {k: v for k, v in message.items() if k != "recipient_id"}
        out.append({"recipient_id": recipient, **shown} if recipient is not None else shown)
    return out


async def answer(on_new_message: Callable[[UserMessage], Awaitable[Any]], request: Request, channel: str,
                 key: str, text: str, metadata: dict[str, Any] | None = None,
                 headers: Mapping[str, str] | None = None, recipient: str | None = None,
                 count_new: bool = True) -> HTTPResponse:
    """One pull-channel turn (REST or web): limits, payload screening, the bot, the mailbox.

    ``recipient`` is the id shown back in each message's ``recipient_id`` (None: left out).
    ``count_new``: a key not seen recently counts against its address's new-conversation budget
    (the web channel counts when it issues the session instead).
    """
    limits = guards()
    wait = limits.new_conversation_wait(client_ip(request), key) if count_new else 0.0
    if wait:
        logger.warning("%s: too many new conversations from one address", channel)
        return slow_down(wait, recipient, headers)
    store = ChannelRuntime.get().store
    text = await screen_payload(channel, key, await choices.pick(store, channel, key, clean(text)))
    if limits.sender_over_limit(key, text, danger_exempt=False):
        messages = await limited_turn(channel, key, text) + await mailbox(channel, key)
        return response.json(_shown(messages, recipient), status=429,
                             headers={"Retry-After": retry_after_header(limits.sender_wait(key)), **(headers or {})})
    collector = CollectingOutputChannel()
    failed = False
    if text:
        message = UserMessage(text, collector, key, input_channel=channel, metadata=metadata)
        failed = not await run_turn(on_new_message, message, channel, key)
    agent = getattr(request.app.ctx, "agent", None)
    messages = await finish_turn(agent, channel, key, text, list(collector.messages), failed)
    await choices.keep(store, channel, key, messages)
    # No push here: staff replies and reminders waiting in the outbox ride on this response.
    messages.extend(await mailbox(channel, key))
    return response.json(_shown(messages, recipient), headers=dict(headers or {}))


class HelplineRestInput(InputChannel):
    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled

    @classmethod
    def name(cls) -> str:
        return CHANNEL

    @classmethod
    def from_credentials(cls, credentials: Mapping[str, Any] | None) -> HelplineRestInput:
        return cls(rest_enabled())

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        hook = Blueprint("helpline_rest_webhook", __name__)
        origins = allowed_origins("HELPLINE_REST_ORIGINS")

        @hook.route("/", methods=["GET"])
        async def health(request: Request) -> HTTPResponse:
            return response.json({"status": "ok" if self.enabled else "disabled"})

        @hook.listener("before_server_start")
        async def limit_size(app: Any, loop: Any) -> None:
            limit_request_size(app)

        @hook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            if not self.enabled:
                return error(403, "the REST channel is disabled on this server")
            if not loopback_client(request):
                logger.warning("rest: refused a request from a non-loopback client")
                return error(403, "the REST channel answers local clients only")
            if not origin_ok(request, origins):
                logger.warning("rest: refused a request from a web page origin that is not allowed")
                return error(403, "origin not allowed")
            limits = guards()
            wait = limits.rest_ip.hit(client_ip(request))
            if wait:
                return slow_down(wait)
            if not json_content_type(request):
                return error(415, "Content-Type must be application/json")
            try:
                body = request.json
            except Exception:
                return error(400, "body must be JSON: {\"sender\": \"...\", \"message\": \"...\"}")
            if not isinstance(body, dict):
                return error(400, "body must be a JSON object with 'sender' and 'message'")
            sender, text = body.get("sender"), body.get("message")
            if not isinstance(sender, str) or not sender.strip() or len(sender) > MAX_SENDER_CHARS:
                return error(400, f"'sender' must be a non-empty string of at most {MAX_SENDER_CHARS} characters")
            if not isinstance(text, str):
                return error(400, "'message' must be a string")
            if len(text) > MAX_MESSAGE_CHARS:
                return error(413, f"'message' is longer than {MAX_MESSAGE_CHARS} characters")
            metadata = body.get("metadata") if isinstance(body.get("metadata"), dict) else None
            sender = clean(sender) or "?"
            return await answer(on_new_message, request, CHANNEL, conversation_key(CHANNEL, sender), text, metadata,
                                recipient=sender)

        return hook
