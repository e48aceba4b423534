"""Durable outbox: every reply to a platform is stored before it is sent.

Bot replies (from the Rasa process) and staff replies (from the handoff
service) go through the same table, in the same database as the tickets. A
delivery worker claims due rows with a lease, sends them, and either marks
them sent, schedules a retry with backoff, or records a permanent failure with
its reason. Nothing is dropped silently; a row is sent at most once per claim,
and a claim lease keeps two workers from sending the same row.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from helpline.db import Database, from_db_ts
from helpline.errors import SendFailed
from helpline.text import mask_id

logger = logging.getLogger(__name__)

STATUSES = ("pending", "sent", "failed")
MAX_ATTEMPTS = 300  # with the 10-minute backoff cap: about two days of retries
MAX_BACKOFF_SECONDS = 600

SCHEMA: tuple[str, ...] = (
    """CREATE TABLE IF NOT EXISTS outbox (
        id {id}, channel TEXT NOT NULL, recipient_id TEXT NOT NULL, kind TEXT NOT NULL,
        payload TEXT NOT NULL, status TEXT NOT NULL CHECK (status IN ('pending', 'sent', 'failed')),
        attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT, dedupe_key TEXT UNIQUE,
        created_at {ts} NOT NULL, next_attempt_at {ts} NOT NULL, claimed_until {ts}, sent_at {ts})""",
    "CREATE INDEX IF NOT EXISTS outbox_due ON outbox (status, next_attempt_at)",
    "CREATE INDEX IF NOT EXISTS outbox_recipient ON outbox (channel, recipient_id, status, id)",
)


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


@dataclass(frozen=True)
class OutboxItem:
    id: int
    channel: str
    recipient_id: str
    kind: str
    message: dict[str, Any]
    status: str
    attempts: int
    last_error: str | None
    created_at: dt.datetime
    sent_at: dt.datetime | None


class Sender(Protocol):
    """Delivers one message to one platform user; raises SendFailed on failure.

    A sender that needs more than the message (e.g. whether staff wrote it) may
    also define ``async send_item(item: OutboxItem)``, which the worker then calls instead.
    """

    async def send(self, recipient_id: str, message: Mapping[str, Any]) -> None: ...


def backoff_seconds(attempts: int) -> float:
    return float(min(MAX_BACKOFF_SECONDS, 2 ** max(0, attempts - 1)))


# Sent and failed messages created before the cutoff (the one parameter); pending ones are still being delivered.
PURGE_WHERE = "status <> 'pending' AND created_at < ?"
_COLUMNS = "id, channel, recipient_id, kind, payload, status, attempts, last_error, created_at, sent_at"


class Outbox:
    def __init__(self, database: Database, now: Any = utc_now) -> None:
        self._db = database
        self._d = database.dialect
        self._now = now

    @classmethod
    def from_url(cls, url: str, *, now: Any = utc_now, timeout: float = 10.0) -> Outbox:
        return cls(Database.from_url(url, timeout=timeout, schema=SCHEMA), now=now)

    def _item(self, row: Sequence[Any]) -> OutboxItem:
        return OutboxItem(
            id=int(row[0]), channel=row[1], recipient_id=row[2], kind=row[3], message=json.loads(row[4]),
            status=row[5], attempts=int(row[6]), last_error=row[7], created_at=from_db_ts(row[8]),
            sent_at=from_db_ts(row[9]) if row[9] is not None else None,
        )

    def enqueue(
        self, channel: str, recipient_id: str, message: Mapping[str, Any], *, kind: str = "bot",
        dedupe_key: str | None = None,
    ) -> int | None:
        """Store a message for delivery. With a dedupe key, a second enqueue is a no-op (returns None)."""
        if not channel or not recipient_id:
            raise ValueError("channel and recipient_id are required")
        now = self._d.ts(self._now())
        with self._db.transaction("enqueue an outgoing message") as q:
            if dedupe_key is not None and q.one("SELECT id FROM outbox WHERE dedupe_key = ?", (dedupe_key,)):
                return None
            return q.insert(
                "INSERT INTO outbox (channel, recipient_id, kind, payload, status, attempts, dedupe_key, "
                "created_at, next_attempt_at) VALUES (?, ?, ?, ?, 'pending', 0, ?, ?, ?)",
                (channel, recipient_id, kind, json.dumps(dict(message), ensure_ascii=False), dedupe_key, now, now),
            )

    def claim_due(self, limit: int = 20, lease_seconds: float = 60, channels: Sequence[str] | None = None
                  ) -> list[OutboxItem]:
        """Lease up to ``limit`` due messages, oldest first, so no other worker sends them meanwhile."""
        now = self._now()
        until = self._d.ts(now + dt.timedelta(seconds=lease_seconds))
        # Per person, strictly in order: a message is due only when no older one of theirs is still pending,
        # so a retried part never arrives after the parts that followed it.
        where = ("status = 'pending' AND next_attempt_at <= ? AND (claimed_until IS NULL OR claimed_until <= ?) "
                 "AND NOT EXISTS (SELECT 1 FROM outbox AS earlier WHERE earlier.channel = outbox.channel "
                 "AND earlier.recipient_id = outbox.recipient_id AND earlier.status = 'pending' "
                 "AND earlier.id < outbox.id)")
        params: list[Any] = [self._d.ts(now), self._d.ts(now)]
        if channels:
            where += f" AND channel IN ({', '.join('?' for _ in channels)})"
            params.extend(channels)
        lock = "" if self._d.is_sqlite else " FOR UPDATE SKIP LOCKED"
        with self._db.transaction("claim outgoing messages") as q:
            rows = q.all(f"SELECT {_COLUMNS} FROM outbox WHERE {where} ORDER BY id LIMIT ?{lock}",
                         (*params, limit))
            for row in rows:
                q.run("UPDATE outbox SET claimed_until = ? WHERE id = ?", (until, row[0]))
        return [self._item(r) for r in rows]

    def mark_sent(self, item_id: int) -> None:
        with self._db.transaction("mark a message sent") as q:
            q.run("UPDATE outbox SET status = 'sent', sent_at = ?, claimed_until = NULL, attempts = attempts + 1 "
                  "WHERE id = ?", (self._d.ts(self._now()), item_id))

    def mark_retry(self, item_id: int, error: str, retry_after: float | None = None) -> str:
        """Schedule another try; after MAX_ATTEMPTS the failure becomes permanent. Returns the new status."""
        with self._db.transaction("schedule a retry") as q:
            row = q.one("SELECT attempts FROM outbox WHERE id = ?", (item_id,))
            attempts = (int(row[0]) if row else 0) + 1
            if attempts >= MAX_ATTEMPTS:
                q.run("UPDATE outbox SET status = 'failed', attempts = ?, last_error = ?, claimed_until = NULL "
                      "WHERE id = ?", (attempts, f"gave up after {attempts} attempts: {error}"[:500], item_id))
                return "failed"
            delay = max(retry_after or 0.0, backoff_seconds(attempts))
            due = self._d.ts(self._now() + dt.timedelta(seconds=delay))
            q.run("UPDATE outbox SET attempts = ?, last_error = ?, next_attempt_at = ?, claimed_until = NULL "
                  "WHERE id = ?", (attempts, error[:500], due, item_id))
            return "pending"

    def mark_failed(self, item_id: int, reason: str) -> None:
        """A permanent failure (e.g. Zalo -230, outside Facebook's 24 h window), kept with its reason."""
        with self._db.transaction("record a failed message") as q:
            q.run("UPDATE outbox SET status = 'failed', attempts = attempts + 1, last_error = ?, "
                  "claimed_until = NULL WHERE id = ?", (reason[:500], item_id))

    def get(self, item_id: int) -> OutboxItem | None:
        with self._db.transaction("read a message", write=False) as q:
            row = q.one(f"SELECT {_COLUMNS} FROM outbox WHERE id = ?", (item_id,))
        return self._item(row) if row else None

    def list(self, status: str | None = None, channel: str | None = None, limit: int = 100) -> list[OutboxItem]:
        where, params = [], []
        if status is not None:
            if status not in STATUSES:
                raise ValueError(f"status must be one of {STATUSES}")
            where.append("status = ?")
            params.append(status)
        if channel is not None:
            where.append("channel = ?")
            params.append(channel)
        clause = f"WHERE {' AND '.join(where)} " if where else ""
        with self._db.transaction("list messages", write=False) as q:
            rows = q.all(f"SELECT {_COLUMNS} FROM outbox {clause}ORDER BY id LIMIT ?", (*params, limit))
        return [self._item(r) for r in rows]

    def take_pending(self, channel: str, recipient_id: str, limit: int = 20) -> list[OutboxItem]:
        """Hand over a person's due messages and mark them sent, for channels without push (REST)."""
        now = self._d.ts(self._now())
        # Nearly always nothing waits: a read-only look first spares every REST turn a write
        # transaction (SQLite's write lock and commit).
        with self._db.transaction("look for pending messages", write=False) as q:
            if q.one("SELECT 1 FROM outbox WHERE channel = ? AND recipient_id = ? AND status = 'pending' LIMIT 1",
                     (channel, recipient_id)) is None:
                return []
        with self._db.transaction("hand over pending messages") as q:
            rows = q.all(
                f"SELECT {_COLUMNS} FROM outbox WHERE channel = ? AND recipient_id = ? AND status = 'pending' "
                "AND (claimed_until IS NULL OR claimed_until <= ?) ORDER BY id LIMIT ?",
                (channel, recipient_id, now, limit),
            )
            for row in rows:
                q.run("UPDATE outbox SET status = 'sent', sent_at = ?, attempts = attempts + 1 WHERE id = ?",
                      (now, row[0]))
        return [self._item(r) for r in rows]

    def delete_recipient(self, channel: str | None, recipient_id: str) -> int:
        with self._db.transaction("delete a person's messages") as q:
            if channel is None:
                return q.run("DELETE FROM outbox WHERE recipient_id = ?", (recipient_id,))
            return q.run("DELETE FROM outbox WHERE channel = ? AND recipient_id = ?", (channel, recipient_id))

    def purge(self, older_than: dt.timedelta) -> int:
        """Delete sent and failed messages older than the retention period."""
        cutoff = self._d.ts(self._now() - older_than)
        with self._db.transaction("purge old messages") as q:
            return q.run(f"DELETE FROM outbox WHERE {PURGE_WHERE}", (cutoff,))


class OutboxWorker:
    """Delivers due messages through one Sender per channel."""

    def __init__(self, outbox: Outbox, senders: Mapping[str, Sender]) -> None:
        self.outbox = outbox
        self.senders = dict(senders)
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """Ask a running loop to deliver now instead of at its next tick."""
        self._wake.set()

    async def run_once(self, limit: int = 20) -> int:
        """Deliver what is due for the channels this worker can send to; returns how many were sent."""
        if not self.senders:
            return 0
        items = await asyncio.to_thread(self.outbox.claim_due, limit, 60, list(self.senders))
        # A claim holds at most one message per person (their oldest pending one), so a batch goes
        # out concurrently without reordering anyone's messages.
        return sum(await asyncio.gather(*(self._deliver(item) for item in items)))

    async def _deliver(self, item: OutboxItem) -> int:
        try:
            sender = self.senders[item.channel]
            send_item = getattr(sender, "send_item", None)
            if send_item is not None:
                await send_item(item)
            else:
                await sender.send(item.recipient_id, item.message)
        except SendFailed as exc:
            if getattr(exc, "permanent", False):
                await asyncio.to_thread(self.outbox.mark_failed, item.id, str(exc))
                logger.warning("outbox %d to %s failed permanently: %s", item.id, mask_id(item.recipient_id), exc)
            else:
                status = await asyncio.to_thread(
                    self.outbox.mark_retry, item.id, str(exc), getattr(exc, "retry_after", None)
                )
                logger.info("outbox %d to %s will be retried (%s): %s", item.id, mask_id(item.recipient_id),
                            status, exc)
            return 0
        except Exception as exc:  # an unexpected bug must not lose the message
            logger.exception("outbox %d: unexpected error while sending", item.id)
            await asyncio.to_thread(self.outbox.mark_retry, item.id, f"{type(exc).__name__}: {exc}")
            return 0
        await asyncio.to_thread(self.outbox.mark_sent, item.id)
        return 1

    async def run_forever(self, interval: float = 2.0) -> None:
        while True:
            try:
                while await self.run_once():
                    pass
            except Exception:
                logger.exception("outbox delivery round failed; retrying")
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=interval)
            except asyncio.TimeoutError:
                pass
