"""Channel state in the tickets database: inbound dedupe journal, OAuth tokens, button memory.

- ``channel_inbound``: one row per platform message id (unique), so a redelivered
  message is answered once. The parsed event is kept until its turn is done, so a
  crash between the 200 and the reply is replayed instead of lost.
- ``channel_tokens``: the Zalo token pair. The refresh token is single-use, so
  a refresh is claimed with a lease and the new pair replaces the old one in one
  compare-and-swap UPDATE.
- ``channel_memo``: small per-person values (numbered button choices, the button payloads
  offered, a location shared before a ticket existed), under the conversation key.
- ``channel_payloads``: button payloads too long for a platform (Telegram's
  callback_data holds 64 bytes), stored under a short key.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from helpline.channels.inbound import Inbound
from helpline.channels.keys import split_key
from helpline.db import Database, from_db_ts
from helpline.text import mask_id

logger = logging.getLogger(__name__)

SCHEMA: tuple[str, ...] = (
    """CREATE TABLE IF NOT EXISTS channel_inbound (
        channel TEXT NOT NULL, message_id TEXT NOT NULL, sender_id TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('received', 'done')), body TEXT, replays INTEGER NOT NULL DEFAULT 0,
        received_at {ts} NOT NULL, done_at {ts}, PRIMARY KEY (channel, message_id))""",
    "CREATE INDEX IF NOT EXISTS channel_inbound_status ON channel_inbound (status, received_at)",
    "CREATE INDEX IF NOT EXISTS channel_inbound_sender ON channel_inbound (channel, sender_id, received_at)",
    """CREATE TABLE IF NOT EXISTS channel_tokens (
        channel TEXT PRIMARY KEY, access_token TEXT NOT NULL, refresh_token TEXT NOT NULL, expires_at {ts},
        seed_hash TEXT NOT NULL, refreshing_until {ts}, updated_at {ts} NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS channel_memo (
        channel TEXT NOT NULL, recipient_id TEXT NOT NULL, kind TEXT NOT NULL, value TEXT NOT NULL,
        created_at {ts} NOT NULL, PRIMARY KEY (channel, recipient_id, kind))""",
    """CREATE TABLE IF NOT EXISTS channel_payloads (
        key TEXT PRIMARY KEY, payload TEXT NOT NULL, created_at {ts} NOT NULL)""",
)
MAX_REPLAYS = 3
CHOICES_MEMO = "choices"


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def fingerprint(secret: str) -> str:
    """A stable, non-reversible tag of a secret (to notice that the operator changed it)."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()[:32]


@dataclass(frozen=True)
class TokenPair:
    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    expires_at: dt.datetime | None = None


class ChannelStore:
    """Framework-free; each call is one short transaction (see :class:`helpline.db.Database`)."""

    def __init__(self, database: Database, now: Callable[[], dt.datetime] = utc_now) -> None:
        self._db = database
        self._d = database.dialect
        self._now = now

    @classmethod
    def from_url(cls, url: str, *, now: Callable[[], dt.datetime] = utc_now, timeout: float = 10.0) -> ChannelStore:
        return cls(Database.from_url(url, timeout=timeout, schema=SCHEMA), now=now)

    def _ts(self, value: dt.datetime | None = None) -> Any:
        return self._d.ts(value or self._now())

    # -- inbound journal ----------------------------------------------------------

    def claim_inbound(self, inbound: Inbound) -> bool:
        """Record a platform message; False if its id was seen before (a redelivery)."""
        with self._db.transaction("record an inbound message") as q:
            return q.run(
                "INSERT INTO channel_inbound (channel, message_id, sender_id, status, body, received_at) "
                "VALUES (?, ?, ?, 'received', ?, ?) ON CONFLICT (channel, message_id) DO NOTHING",
                (inbound.channel, inbound.message_id, inbound.sender_id, inbound.to_json(), self._ts()),
            ) == 1

    def finish_inbound(self, channel: str, message_id: str) -> None:
        """The turn is done and its replies are in the outbox: forget the message body."""
        with self._db.transaction("finish an inbound message") as q:
            q.run("UPDATE channel_inbound SET status = 'done', body = NULL, done_at = ? "
                  "WHERE channel = ? AND message_id = ?", (self._ts(), channel, message_id))

    def unfinished_inbound(self, channels: list[str], older_than: dt.timedelta) -> list[Inbound]:
        """Claim the messages acknowledged but never answered (the process died), for replay.

        Each call counts a replay; after :data:`MAX_REPLAYS` the message is closed,
        so one poisonous message cannot loop forever. The claim is a lease in the
        database: a claimed message's ``received_at`` moves to now, so it is due
        again only after another ``older_than``, and with several Rasa replicas
        (one maintenance loop each) a message is replayed by one of them only
        (PostgreSQL rows are taken with ``FOR UPDATE SKIP LOCKED``; SQLite write
        transactions are serial).
        """
        if not channels:
            return []
        marks = ", ".join("?" for _ in channels)
        cutoff = self._ts(self._now() - older_than)
        lock = "" if self._d.is_sqlite else " FOR UPDATE SKIP LOCKED"
        with self._db.transaction("find unanswered inbound messages") as q:
            q.run(f"UPDATE channel_inbound SET status = 'done', body = NULL, done_at = ? WHERE status = 'received' "
                  f"AND replays >= ? AND received_at <= ? AND channel IN ({marks})",
                  (self._ts(), MAX_REPLAYS, cutoff, *channels))
            rows = q.all(f"SELECT channel, message_id, body FROM channel_inbound WHERE status = 'received' "
                         f"AND received_at <= ? AND body IS NOT NULL AND channel IN ({marks}) "
                         f"ORDER BY received_at LIMIT 100{lock}", (cutoff, *channels))
            for channel, message_id, _ in rows:
                q.run("UPDATE channel_inbound SET replays = replays + 1, received_at = ? "
                      "WHERE channel = ? AND message_id = ?", (self._ts(), channel, message_id))
        return [Inbound.from_json(r[2]) for r in rows]

    def last_inbound_at(self, channel: str, sender_id: str) -> dt.datetime | None:
        """When this person's latest message arrived (platform id, not the key), or None if none is kept."""
        with self._db.transaction("find a person's last message", write=False) as q:
            row = q.one("SELECT MAX(received_at) FROM channel_inbound WHERE channel = ? AND sender_id = ?",
                        (channel, sender_id))
        return from_db_ts(row[0]) if row and row[0] is not None else None

    def purge_inbound(self, older_than: dt.timedelta) -> int:
        """Drop dedupe rows of answered messages past every platform's redelivery window."""
        with self._db.transaction("purge inbound records") as q:
            return q.run("DELETE FROM channel_inbound WHERE status = 'done' AND received_at < ?",
                         (self._ts(self._now() - older_than),))

    # -- OAuth token pair ------------------------------------------------------------

    def tokens(self, channel: str) -> TokenPair | None:
        with self._db.transaction("read a token pair", write=False) as q:
            row = q.one("SELECT access_token, refresh_token, expires_at FROM channel_tokens WHERE channel = ?",
                        (channel,))
        if row is None:
            return None
        return TokenPair(row[0], row[1], from_db_ts(row[2]) if row[2] is not None else None)

    def seed_tokens(self, channel: str, pair: TokenPair) -> TokenPair:
        """Use the stored pair, unless the operator configured a different one since it was seeded.

        The stored pair is newer than the configured one after any refresh (the
        configured refresh token is then already spent), so it wins; a changed
        configured refresh token means the operator re-authorised, so that wins.
        """
        seed = fingerprint(pair.refresh_token)
        with self._db.transaction("seed a token pair") as q:
            row = q.one("SELECT access_token, refresh_token, expires_at, seed_hash FROM channel_tokens "
                        "WHERE channel = ?", (channel,))
            if row is not None and row[3] == seed:
                return TokenPair(row[0], row[1], from_db_ts(row[2]) if row[2] is not None else None)
            expires = self._d.ts(pair.expires_at) if pair.expires_at else None
            q.run("INSERT INTO channel_tokens (channel, access_token, refresh_token, expires_at, seed_hash, "
                  "updated_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (channel) DO UPDATE SET "
                  "access_token = excluded.access_token, refresh_token = excluded.refresh_token, "
                  "expires_at = excluded.expires_at, seed_hash = excluded.seed_hash, refreshing_until = NULL, "
                  "updated_at = excluded.updated_at",
                  (channel, pair.access_token, pair.refresh_token, expires, seed, self._ts()))
        return pair

    def claim_refresh(self, channel: str, lease: dt.timedelta) -> bool:
        """Take the right to spend the refresh token for ``lease``; False if another process holds it."""
        now = self._now()
        with self._db.transaction("claim a token refresh") as q:
            return q.run("UPDATE channel_tokens SET refreshing_until = ? WHERE channel = ? AND "
                         "(refreshing_until IS NULL OR refreshing_until <= ?)",
                         (self._ts(now + lease), channel, self._ts(now))) == 1

    def release_refresh(self, channel: str) -> None:
        with self._db.transaction("release a token refresh") as q:
            q.run("UPDATE channel_tokens SET refreshing_until = NULL WHERE channel = ?", (channel,))

    def replace_tokens(self, channel: str, spent_refresh_token: str, new: TokenPair) -> bool:
        """Store a refreshed pair atomically, only over the pair whose refresh token was spent."""
        expires = self._d.ts(new.expires_at) if new.expires_at else None
        with self._db.transaction("store a refreshed token pair") as q:
            return q.run("UPDATE channel_tokens SET access_token = ?, refresh_token = ?, expires_at = ?, "
                         "refreshing_until = NULL, updated_at = ? WHERE channel = ? AND refresh_token = ?",
                         (new.access_token, new.refresh_token, expires, self._ts(), channel,
                          spent_refresh_token)) == 1

    # -- per-person memo and long payloads ----------------------------------------------

    def remember(self, channel: str, recipient_id: str, kind: str, value: Any) -> None:
        with self._db.transaction("remember a value") as q:
            q.run("INSERT INTO channel_memo (channel, recipient_id, kind, value, created_at) VALUES (?, ?, ?, ?, ?) "
                  "ON CONFLICT (channel, recipient_id, kind) DO UPDATE SET value = excluded.value, "
                  "created_at = excluded.created_at",
                  (channel, recipient_id, kind, json.dumps(value, ensure_ascii=False), self._ts()))

    def recall(self, channel: str, recipient_id: str, kind: str, max_age: dt.timedelta) -> Any:
        """A remembered value younger than ``max_age``, or None."""
        with self._db.transaction("recall a value", write=False) as q:
            row = q.one("SELECT value FROM channel_memo WHERE channel = ? AND recipient_id = ? AND kind = ? "
                        "AND created_at >= ?", (channel, recipient_id, kind, self._ts(self._now() - max_age)))
        return json.loads(row[0]) if row else None

    def forget(self, channel: str, recipient_id: str, kind: str) -> None:
        with self._db.transaction("forget a value") as q:
            q.run("DELETE FROM channel_memo WHERE channel = ? AND recipient_id = ? AND kind = ?",
                  (channel, recipient_id, kind))

    def payload_key(self, payload: str) -> str:
        """A short stable key for a payload, stored so :meth:`payload_for` can map it back."""
        key = "k:" + hashlib.sha256(payload.encode("utf-8")).hexdigest()[:24]
        with self._db.transaction("store a button payload") as q:
            q.run("INSERT INTO channel_payloads (key, payload, created_at) VALUES (?, ?, ?) "
                  "ON CONFLICT (key) DO NOTHING", (key, payload, self._ts()))
        return key

    def payload_for(self, key: str) -> str | None:
        with self._db.transaction("read a button payload", write=False) as q:
            row = q.one("SELECT payload FROM channel_payloads WHERE key = ?", (key,))
        return str(row[0]) if row else None

    def delete_recipient(self, key: str) -> int:
        """Erase what is kept about one person (privacy request): their memos and their inbound journal.

        ``key`` is the conversation key (``telegram:123``); only that channel's rows go.
        """
        channel, sender_id = split_key(key)
        with self._db.transaction("delete a person's channel data") as q:
            n = q.run("DELETE FROM channel_memo WHERE channel = ? AND recipient_id = ?", (channel, key))
            return n + q.run("DELETE FROM channel_inbound WHERE channel = ? AND sender_id = ?", (channel, sender_id))


async def remember_choices(store: ChannelStore, channel: str, recipient_id: str, choices: tuple[str, ...]) -> None:
    """Remember which payload each number stands for, so a typed "2" becomes the second option."""
    try:
        await asyncio.to_thread(store.remember, channel, recipient_id, CHOICES_MEMO, list(choices))
    except Exception:  # the message is out; a lost memo only means a typed number is read as text
        logger.exception("could not remember the numbered choices for %s", mask_id(recipient_id))
