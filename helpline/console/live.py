"""Live updates for the console: a change feed over the store, served as Server-Sent Events.

Tickets and messages are written by other processes too (the Rasa process adds the user's
messages), so the feed polls a cheap fingerprint of the tables, only while someone listens,
and tells listeners which tickets changed. Pages then fetch fresh fragments.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
from collections.abc import AsyncIterator

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from helpline.console.auth import SESSION_COOKIE, staff_only
from helpline.console.web import ConsoleContext
from helpline.handoff.store import HandoffStore

log = logging.getLogger(__name__)
KEEPALIVE_SECONDS = 15.0
MAX_LISTENERS = 200


class ChangeFeed:
    """Fans out "tickets changed" events to every connected console page."""

    def __init__(self, store: HandoffStore, interval: float = 1.0) -> None:
        self.store = store
        self.interval = interval
        self._listeners: set[asyncio.Queue[dict[str, object]]] = set()
        self._marker: tuple[int, str, int] | None = None

    @property
    def listeners(self) -> int:
        return len(self._listeners)

    def subscribe(self) -> asyncio.Queue[dict[str, object]]:
        queue: asyncio.Queue[dict[str, object]] = asyncio.Queue(maxsize=50)
        self._listeners.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[dict[str, object]]) -> None:
        self._listeners.discard(queue)

    def publish(self, event: dict[str, object]) -> None:
        for queue in list(self._listeners):
            if queue.full():  # a stalled page: drop its backlog, a full refresh covers it
                while not queue.empty():
                    queue.get_nowait()
                event = {"tickets": [], "all": True}
            queue.put_nowait(event)

    async def ensure_baseline(self) -> None:
        """Take the fingerprint now if none is held (first listener): pages refresh everything on
        "hello", so a change between that refresh and the next poll must not become the baseline."""
        if self._marker is not None:
            return
        try:
            self._marker = await asyncio.to_thread(self.store.change_marker)
        except Exception:
            log.exception("console change feed: could not read the baseline; the next poll takes it")

    async def poll_once(self) -> bool:
        """Compare the fingerprint with the last one; publish what changed. True if something did."""
        marker = await asyncio.to_thread(self.store.change_marker)
        previous, self._marker = self._marker, marker
        if previous is None or marker == previous:
            return False
        ids = await asyncio.to_thread(self.store.changed_since, previous[1]) if previous[1] else []
        # A deletion or a clock oddity shows only in the count: ask pages for a full refresh.
        self.publish({"tickets": ids, "all": marker[0] != previous[0] or not ids})
        return True

    async def run_forever(self) -> None:
        while True:
            try:
                if self._listeners:
                    await self.poll_once()
                else:
                    self._marker = None  # the first listener sets a fresh baseline
            except Exception:
                log.exception("console change feed: poll failed; retrying")
            await asyncio.sleep(self.interval)


def routes(ctx: ConsoleContext, feed: ChangeFeed) -> list[Route]:
    @staff_only(ctx, page=False)
    async def events(request: Request) -> Response:
        if feed.listeners >= MAX_LISTENERS:
            return Response("Quá nhiều kết nối.", 503)
        session_id = request.cookies.get(SESSION_COOKIE, "")
        idle = dt.timedelta(minutes=ctx.settings.console_idle_minutes)

        async def stream() -> AsyncIterator[str]:
            queue = feed.subscribe()
            try:
                await feed.ensure_baseline()
                yield "retry: 3000\nevent: hello\ndata: {}\n\n"
                while True:
                    try:
                        event = await asyncio.wait_for(queue.get(), timeout=KEEPALIVE_SECONDS)
                    except asyncio.TimeoutError:
                        # Re-check the session: an expired or disabled one stops receiving at once.
                        if await asyncio.to_thread(ctx.accounts.session, session_id, idle) is None:
                            yield "event: logout\ndata: {}\n\n"
                            return
                        yield ": keepalive\n\n"
                        continue
                    yield f"event: tickets\ndata: {json.dumps(event)}\n\n"
            finally:
                feed.unsubscribe(queue)

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"X-Accel-Buffering": "no", "Cache-Control": "no-store"})

    return [Route("/console/events", events, methods=["GET"])]
