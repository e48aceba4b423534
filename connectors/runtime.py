"""What the channel connectors share inside one Rasa process: the outbox, its worker, the channel store.

One worker delivers for every enabled channel, bot replies and staff replies
(``kind="staff"``, enqueued by the handoff service) alike, so it keeps polling
for as long as the server runs. A maintenance loop replays messages that were
acknowledged but never answered (the process died mid-turn) and purges old
dedupe rows.

The machine is protected by a cap on bot turns running at once (``HELPLINE_CHANNEL_MAX_TURNS``),
not by refusing the platforms: a signed message over the cap is acknowledged, journaled and waits
for a free slot (:meth:`ChannelRuntime.turn_slot`); beyond ``HELPLINE_CHANNEL_BACKLOG`` waiting
messages it stays in the journal only and the replay loop takes it up later.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from typing import Any

from helpline.channels.inbound import Inbound
from helpline.channels.outbox import Outbox, OutboxWorker, Sender
from helpline.channels.store import ChannelStore
from helpline.settings import Settings
from helpline.text import mask_id

logger = logging.getLogger(__name__)

Handler = Callable[[Inbound], Awaitable[None]]
REPLAY_AFTER = dt.timedelta(seconds=120)
FIRST_REPLAY_AFTER = dt.timedelta(seconds=20)
DEDUPE_KEEP = dt.timedelta(days=14)  # longer than any platform's redelivery window
MAINTENANCE_SECONDS = 60.0
POLL_SECONDS = 2.0


class ChannelRuntime:
    _instance: ChannelRuntime | None = None

    def __init__(self, db_url: str, poll_seconds: float = POLL_SECONDS, max_turns: int = 8,
                 backlog: int = 20_000) -> None:
        self.outbox = Outbox.from_url(db_url)
        self.store = ChannelStore.from_url(db_url)
        self.worker = OutboxWorker(self.outbox, {})
        self.handlers: dict[str, Handler] = {}
        self.in_flight: set[tuple[str, str]] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._main: list[asyncio.Task[Any]] = []
        self._poll_seconds = poll_seconds
        self.max_turns = max(1, max_turns)
        self.backlog = max(1, backlog)
        self.deferred = 0  # messages left to the replay loop because the backlog was full (for logs and tests)
        self._slots: tuple[Any, asyncio.Semaphore] | None = None

    @classmethod
    def get(cls) -> ChannelRuntime:
        if cls._instance is None:
            settings = Settings.from_env()
            cls._instance = cls(settings.handoff_db_url, max_turns=settings.channel_max_turns,
                                backlog=settings.channel_backlog)
        return cls._instance

    @contextlib.asynccontextmanager
    async def turn_slot(self) -> AsyncIterator[None]:
        """Wait for one of the ``max_turns`` slots (first come, first served), and hold it for one turn."""
        loop = asyncio.get_running_loop()
        if self._slots is None or self._slots[0] is not loop:  # a semaphore belongs to one event loop
            self._slots = (loop, asyncio.Semaphore(self.max_turns))
        async with self._slots[1]:
            yield

    def schedule(self, inbound: Inbound, handler: Handler) -> bool:
        """Start (or queue) one journaled message's turn; False if the backlog is full (the replay loop will)."""
        key = (inbound.channel, inbound.message_id)
        if key in self.in_flight:
            return True
        if len(self.in_flight) >= self.backlog:
            self.deferred += 1
            logger.warning("%s: %d messages waiting; one from %s is left to the replay loop", inbound.channel,
                           len(self.in_flight), mask_id(inbound.sender_id))
            return False
        self.in_flight.add(key)  # queued counts as in flight: the replay loop must not start it twice
        self.spawn(handler(inbound))
        return True

    @classmethod
    def reset(cls) -> None:
        """Forget the process-wide runtime (tests)."""
        cls._instance = None

    def add_channel(self, name: str, sender: Sender, handler: Handler) -> bool:
        """Register a channel's sender and turn handler; False if it was already registered."""
        if name in self.handlers:
            return False
        self.worker.senders[name] = sender
        self.handlers[name] = handler
        logger.info("%s channel enabled; replies go through the outbox", name)
        return True

    def sender(self, name: str) -> Sender | None:
        return self.worker.senders.get(name)

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Run in the background, keeping a reference so the task is not garbage-collected."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    @property
    def running(self) -> bool:
        return any(not t.done() for t in self._main)

    def ensure_started(self) -> None:
        """Start the delivery worker and the maintenance loop once (needs a running event loop)."""
        if self.running:
            return
        loop = asyncio.get_running_loop()
        self._main = [loop.create_task(self.worker.run_forever(self._poll_seconds)),
                      loop.create_task(self._maintain())]

    async def _maintain(self) -> None:
        first = True
        while True:
            try:
                await self.replay_unfinished(FIRST_REPLAY_AFTER if first else REPLAY_AFTER)
                await asyncio.to_thread(self.store.purge_inbound, DEDUPE_KEEP)
            except Exception:
                logger.exception("channel maintenance round failed; retrying")
            first = False
            await asyncio.sleep(MAINTENANCE_SECONDS)

    async def replay_unfinished(self, older_than: dt.timedelta) -> int:
        """Handle again the messages whose turn never finished; returns how many were started."""
        rows = await asyncio.to_thread(self.store.unfinished_inbound, list(self.handlers), older_than)
        started = 0
        for inbound in rows:
            if (inbound.channel, inbound.message_id) in self.in_flight:
                continue
            logger.warning("%s: replaying an unanswered message from %s", inbound.channel,
                           mask_id(inbound.sender_id))
            if self.schedule(inbound, self.handlers[inbound.channel]):
                started += 1
        return started

    async def stop(self) -> None:
        for task in [*self._main, *self._tasks]:
            task.cancel()
        await asyncio.gather(*self._main, *self._tasks, return_exceptions=True)
        self._main = []
        for sender in self.worker.senders.values():
            close = getattr(sender, "aclose", None)
            if close is not None:
                try:
                    await close()
                except Exception:
                    logger.exception("could not close a channel sender")
