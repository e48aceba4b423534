"""The shared base of the platform connectors: verify -> parse -> dedupe -> 200 -> turn in the background.

Each webhook request is verified in constant time over the raw body (401
without a signature, 403 with a wrong one) and answered 200 as soon as its
events are journaled, because the platforms retry slow webhooks. The Rasa turn
runs in a background task; its replies go to the durable outbox with a dedupe
key derived from the platform's message id, and the process-wide worker
delivers them (see :mod:`connectors.runtime`).

A channel whose settings are missing still loads: it logs one line
("zalo disabled: ZALO_OA_SECRET_KEY not set") and answers its webhook with 503.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from types import SimpleNamespace
from typing import Any, ClassVar

from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, OutputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from connectors import choices
from connectors.guard import client_ip, guards, limit_request_size
from connectors.runtime import ChannelRuntime
from connectors.turn import (
    attach_pending_location,
    finish_turn,
    limited_turn,
    location_turn,
    media_note,
    media_turn,
    protected_turn,
    remember_offered,
    run_turn,
    screen_payload,
)
from helpline.channels.inbound import MEDIA_KINDS, Inbound
from helpline.channels.messages import reply_from_message, split_message_dict
from helpline.channels.outbox import Sender
from helpline.channels.store import ChannelStore
from helpline.errors import ConfigError, HelplineError
from helpline.ratelimit import retry_after_header
from helpline.text import clean, mask_id

logger = logging.getLogger(__name__)

OnNewMessage = Callable[[UserMessage], Awaitable[Any]]
MAX_BODY_BYTES = 1_000_000
MAX_TEXT_CHARS = 4096
ENQUEUE_TRIES = 4


def header(headers: Mapping[str, str], name: str) -> str | None:
    """A header value by case-insensitive name (Sanic's headers are; plain dicts in tests are not)."""
    value = headers.get(name)
    if value is None:
        wanted = name.lower()
        value = next((v for k, v in headers.items() if k.lower() == wanted), None)
    return value


class SenderLocks:
    """One FIFO lock per person, dropped when nobody holds or waits for it (memory stays bounded)."""

    def __init__(self) -> None:
        self._locks: dict[tuple[str, str], tuple[asyncio.Lock, int]] = {}

    @contextlib.asynccontextmanager
    async def hold(self, key: tuple[str, str]) -> AsyncIterator[None]:
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users <= 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)


_sender_locks = SenderLocks()


class OutboxOutputChannel(CollectingOutputChannel):
    """Messages Rasa sends outside a webhook turn (e.g. ``trigger_intent``) go through the outbox too."""

    def __init__(self, channel: str) -> None:
        super().__init__()
        self._channel = channel

    @classmethod
    def name(cls) -> str:
        return "outbox"

    async def _persist_message(self, message: dict[str, Any]) -> None:
        await super()._persist_message(message)
        runtime = ChannelRuntime.get()
        body = {k: v for k, v in message.items() if k != "recipient_id"}
        # The recipient is the tracker's sender id, i.e. the conversation key (``telegram:123``).
        await asyncio.to_thread(runtime.outbox.enqueue, self._channel, message["recipient_id"], body)
        await remember_offered(self._channel, message["recipient_id"], [message])
        runtime.worker.wake()


class SignedWebhookInput(InputChannel):
    """Base of the Zalo, Zalo Bot, Messenger and Telegram connectors."""

    channel: ClassVar[str]
    text_limit: ClassVar[int]
    config_type: ClassVar[Any]  # a frozen dataclass with from_env()

    def __init__(self, config: Any | None = None, problem: str | None = None) -> None:
        self.config = config
        self.problem = problem
        self._on_new_message: OnNewMessage | None = None
        self._app: Any = None

    @classmethod
    def name(cls) -> str:
        return cls.channel

    @classmethod
    def from_credentials(cls, credentials: Mapping[str, Any] | None) -> SignedWebhookInput:
        # Settings come from the environment only (see docs/channels.md), never from credentials.yml.
        try:
            config = cls.config_type.from_env()
        except ConfigError as exc:
            logger.warning("%s disabled: %s", cls.channel, exc)
            return cls(None, str(exc))
        return cls(config)

    # -- per platform ----------------------------------------------------------------------

    def signature_present(self, headers: Mapping[str, str]) -> bool:
        raise NotImplementedError

    def verify(self, body: bytes, headers: Mapping[str, str]) -> bool:
        raise NotImplementedError

    def parse(self, body: bytes) -> list[Inbound]:
        raise NotImplementedError

    def registration_probe(self, body: bytes, headers: Mapping[str, str]) -> bool:
        """An unsigned request the platform sends to check the URL, to answer 200 without processing."""
        return False

    def make_sender(self, store: ChannelStore) -> Sender:
        raise NotImplementedError

    async def subscription(self, args: Mapping[str, str]) -> tuple[int, str]:
        """The answer to ``GET /webhook`` (Messenger's subscription check); 405 elsewhere."""
        return 405, "method not allowed"

    async def acknowledge(self, inbound: Inbound, sender: Sender) -> None:
        """Anything the platform wants at once besides the 200 (Telegram's callback answer)."""

    async def on_start(self, sender: Sender) -> None:
        """Once per process after the sender exists (e.g. register the webhook when configured)."""

    # -- shared pipeline --------------------------------------------------------------------

    @property
    def enabled(self) -> bool:
        return self.config is not None

    def activate(self, app: Any, on_new_message: OnNewMessage) -> ChannelRuntime:
        """Register this channel with the process runtime and make sure its worker runs."""
        runtime = ChannelRuntime.get()
        self._app = app
        self._on_new_message = on_new_message
        if self.channel not in runtime.handlers:
            sender = self.make_sender(runtime.store)
            if runtime.add_channel(self.channel, sender, self.process):
                runtime.spawn(self._start_hook(sender))
        runtime.ensure_started()
        return runtime

    async def _start_hook(self, sender: Sender) -> None:
        try:
            await self.on_start(sender)
        except Exception:
            logger.exception("%s: start-up step failed", self.channel)

    async def handle_post(self, body: bytes, headers: Mapping[str, str], app: Any,
                          on_new_message: OnNewMessage, client: str = "") -> tuple[int, dict[str, Any]]:
        """Everything a webhook POST does before the 200: returns (status, JSON body).

        ``client`` is the caller's address, for the per-IP limit; a 429 body carries ``retry_after``.
        """
        if not self.enabled:
            return 503, {"error": f"the {self.channel} channel is disabled on this server"}
        if len(body) > MAX_BODY_BYTES:
            return 413, {"error": "body too large"}
        present = self.signature_present(headers)
        if not (present and self.verify(body, headers)):
            # Only requests that fail verification are limited per address: the platforms send
            # everyone's signed messages from a few addresses (see connectors.guard).
            wait = guards().webhook_ip.hit(client or "?")
            if wait:
                logger.warning("%s: unverified webhook requests over the per-address limit", self.channel)
                return 429, {"error": "too many requests", "retry_after": retry_after_header(wait)}
            if not present and self.registration_probe(body, headers):
                logger.info("%s: answered the platform's webhook registration check", self.channel)
                return 200, {"ok": True, "accepted": 0}
            if not present:
                logger.warning("%s: rejected a webhook request without a signature", self.channel)
                return 401, {"error": "missing signature"}
            logger.warning("%s: rejected a webhook request with an invalid signature", self.channel)
            return 403, {"error": "invalid signature"}
        try:
            events = self.parse(body)
        except (ValueError, TypeError, KeyError, AttributeError):
            return 400, {"error": "malformed body"}
        runtime = self.activate(app, on_new_message)
        accepted = 0
        for inbound in events:
            if not inbound.needs_reply:
                continue
            inbound = self.sender_limit(inbound)
            try:
                fresh = await asyncio.to_thread(runtime.store.claim_inbound, inbound)
            except HelplineError as exc:
                # Not journaled, so not acknowledged: the platform will deliver it again.
                logger.error("%s: could not record an inbound message: %s", self.channel, exc)
                return 503, {"error": "temporarily unavailable"}
            if not fresh:
                logger.info("%s: duplicate delivery of a message from %s ignored", self.channel,
                            mask_id(inbound.sender_id))
                continue
            accepted += 1
            sender = runtime.sender(self.channel)
            if sender is not None:
                runtime.spawn(self.acknowledge(inbound, sender))
            # Under overload the turn waits for a slot (or, past the backlog, for the replay loop):
            # the platform still gets its 200, so it never disables the webhook.
            runtime.schedule(inbound, self.process)
        return 200, {"ok": True, "accepted": accepted}

    def sender_limit(self, inbound: Inbound) -> Inbound:
        """Take the sender's rate-limit token when the message arrives (not when its queued turn runs).

        The verdict travels in the journaled event, so a backlog drained in a burst is not mistaken
        for a flood, and a replay keeps it.
        """
        if inbound.kind not in ("text", "postback") or "over_limit" in inbound.extra:
            return inbound
        over = guards().sender_over_limit(inbound.key, clean(inbound.user_text)[:MAX_TEXT_CHARS])
        return dataclasses.replace(inbound, extra={**inbound.extra, "over_limit": over})

    async def process(self, inbound: Inbound) -> None:
        """One message's turn and the enqueueing of its replies; on failure it stays to be replayed.

        One person's messages are handled one at a time, in the order they arrived, so their
        replies and the lines on their ticket keep that order.
        """
        runtime = ChannelRuntime.get()
        key = (inbound.channel, inbound.message_id)
        runtime.in_flight.add(key)
        try:
            async with _sender_locks.hold((inbound.channel, inbound.sender_id)), runtime.turn_slot():
                messages = await self.turn(inbound)
                await self.enqueue(runtime, inbound, messages)
                await asyncio.to_thread(runtime.store.finish_inbound, inbound.channel, inbound.message_id)
            runtime.worker.wake()
        except Exception:
            logger.exception("%s: could not answer a message from %s; it will be replayed", self.channel,
                             mask_id(inbound.sender_id))
        finally:
            runtime.in_flight.discard(key)

    async def _user_text(self, store: ChannelStore, inbound: Inbound) -> str:
        key = inbound.key
        text = clean(inbound.user_text)[:MAX_TEXT_CHARS]
        if inbound.kind == "postback" and text.startswith("k:"):
            text = await asyncio.to_thread(store.payload_for, text) or ""
        if inbound.kind != "text":
            return text
        return await choices.pick(store, self.channel, key, text)

    async def turn(self, inbound: Inbound) -> list[dict[str, Any]]:
        app = self._app or SimpleNamespace(ctx=SimpleNamespace())
        agent = getattr(app.ctx, "agent", None)
        sender_id = inbound.key  # the conversation key: Rasa's sender id and every store's
        if inbound.kind == "location" and inbound.location is not None:
            return await location_turn(self.channel, sender_id, inbound.location.as_ticket_location(self.channel))
        if inbound.kind in MEDIA_KINDS:
            return await media_turn(agent, self.channel, sender_id, inbound.kind, inbound.url)
        if inbound.kind == "protected":
            return await protected_turn(self.channel, sender_id)
        if inbound.kind not in ("text", "postback"):
            return []
        text = await screen_payload(self.channel, sender_id, await self._user_text(ChannelRuntime.get().store, inbound))
        note = media_note(inbound.media, text, inbound.url)  # what the ticket shows: a caption notes its media
        limits = guards()
        over = inbound.extra.get("over_limit")
        if over if over is not None else limits.sender_over_limit(sender_id, text):
            return await limited_turn(self.channel, sender_id, note, limits.notify_sender(sender_id))
        collector = CollectingOutputChannel()
        failed = False
        if text and self._on_new_message is not None:
            message = UserMessage(text, collector, sender_id, input_channel=self.channel,
                                  message_id=f"{self.channel}:{inbound.message_id}",
                                  metadata={"platform_message_id": inbound.message_id, "event": inbound.event,
                                            **({"media": inbound.media} if inbound.media else {})})
            failed = not await run_turn(self._on_new_message, message, self.channel, sender_id)
        messages = await finish_turn(agent, self.channel, sender_id, note, list(collector.messages), failed)
        await choices.keep(ChannelRuntime.get().store, self.channel, sender_id, messages)
        await attach_pending_location(self.channel, sender_id)
        return messages

    async def enqueue(self, runtime: ChannelRuntime, inbound: Inbound, messages: list[dict[str, Any]]) -> int:
        """Store each reply (split at the platform's limit) in the outbox, idempotently per inbound message."""
        count = 0
        for message in messages:
            body = {k: v for k, v in message.items() if k != "recipient_id"}
            for part in split_message_dict(body, self.text_limit):
                if reply_from_message(part, self.channel).empty:
                    continue
                dedupe = f"{self.channel}:{inbound.message_id}:{count}"
                await self._enqueue_one(runtime, inbound.key, part, dedupe)
                count += 1
        return count

    async def _enqueue_one(self, runtime: ChannelRuntime, recipient: str, part: dict[str, Any], dedupe: str) -> None:
        for attempt in range(ENQUEUE_TRIES):
            try:
                await asyncio.to_thread(runtime.outbox.enqueue, self.channel, recipient, part, kind="bot",
                                        dedupe_key=dedupe)
                return
            except HelplineError as exc:
                if attempt == ENQUEUE_TRIES - 1:
                    raise
                logger.warning("%s: outbox unavailable (%s); retrying", self.channel, exc)
                await asyncio.sleep(0.5 * 2**attempt)

    def get_output_channel(self) -> OutputChannel | None:
        return OutboxOutputChannel(self.channel) if self.enabled else None

    def blueprint(self, on_new_message: OnNewMessage) -> Blueprint:
        hook = Blueprint(f"helpline_{self.channel}_webhook", __name__)

        @hook.listener("after_server_start")
        async def start(app: Any, loop: Any) -> None:
            if self.enabled:
                self.activate(app, on_new_message)

        @hook.listener("before_server_start")
        async def limit_size(app: Any, loop: Any) -> None:
            limit_request_size(app)

        @hook.listener("before_server_stop")
        async def stop(app: Any, loop: Any) -> None:
            if ChannelRuntime._instance is not None:
                await ChannelRuntime._instance.stop()

        @hook.route("/", methods=["GET"])
        async def health(request: Request) -> HTTPResponse:
            # Which settings are missing is for the operator's log (written at start-up), not for callers.
            return response.json({"status": "ok" if self.enabled else "disabled"})

        @hook.route("/webhook", methods=["GET"])
        async def subscribe(request: Request) -> HTTPResponse:
            args = {k: v[0] for k, v in request.args.items() if v}
            status, text = await self.subscription(args)
            return response.text(text, status=status)

        @hook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            status, payload = await self.handle_post(request.body or b"", request.headers, request.app,
                                                     on_new_message, client_ip(request))
            headers = {"Retry-After": payload.pop("retry_after")} if "retry_after" in payload else None
            return response.json(payload, status=status, headers=headers)

        return hook
