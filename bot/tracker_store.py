"""Rasa's SQL tracker store with the same table and rows, read and written with precompiled Core SQL.

Profiling the Rasa process under load (docs/performance.md) put about a third of its CPU in the
tracker store, most of it in SQLAlchemy's ORM: building the query objects and the unit of work
for every message. This class keeps Rasa's ``events`` table, its columns and what goes in them,
and the same rules (the latest session is what follows the newest ``session_started``; a save
appends the events the table does not hold yet), but runs them as SQLAlchemy Core statements
built once, so their compiled form is cached. A SQLite file is switched to WAL with
``synchronous = NORMAL`` and its connections are kept open: a commit is then one append to the
log instead of a rollback journal written, synced and deleted, and the Rasa event loop (which
runs the tracker store's calls itself) no longer waits on the disk at every message.

Configured in ``bot/endpoints.yml`` as ``type: bot.tracker_store.CoreSQLTrackerStore`` with the
same keys as ``type: SQL``. ``tests/rasa_env/test_tracker_store.py`` checks it against Rasa's own.
A SQLite file (full transcripts) is created readable by its owner only (0600; SQLite gives its WAL
and shared-memory files the same mode), and an existing one is tightened to that.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.events import SessionStarted
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.constants import INTENT_NAME_KEY
from sqlalchemy.orm import sessionmaker

logger = logging.getLogger(__name__)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode = WAL")
        # No fsync per commit (WAL stays consistent; an OS crash may lose the last turns, not the file).
        cursor.execute("PRAGMA synchronous = NORMAL")
    finally:
        cursor.close()


def private_file(path: Path) -> None:
    """Create ``path`` (and its folder) readable by its owner only, or tighten it to that."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    for name in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if name.exists() and name.stat().st_mode & 0o077:
            name.chmod(0o600)


class CoreSQLTrackerStore(SQLTrackerStore):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if kwargs.get("dialect", "sqlite") == "sqlite" and kwargs.get("db") not in (None, "", ":memory:"):
            private_file(Path(str(kwargs["db"])).expanduser())  # before Rasa's engine creates it
        super().__init__(*args, **kwargs)
        if self.engine.dialect.name == "sqlite" and self.engine.url.database not in (None, "", ":memory:"):
            private_file(Path(str(self.engine.url.database)).expanduser())
            # Rasa's engine opens and closes a SQLite connection per operation; closing the last
            # connection of a WAL file checkpoints it. Keep connections open and set the pragmas once each.
            url = self.engine.url
            self.engine.dispose()
            self.engine = sa.create_engine(url, poolclass=sa.pool.QueuePool, pool_size=2, max_overflow=4,
                                           connect_args={"check_same_thread": False})
            sa.event.listen(self.engine, "connect", _sqlite_pragmas)
            self.sessionmaker = sessionmaker(bind=self.engine)
        table = self.SQLEvent.__table__
        sender = sa.bindparam("sender_id")
        session_start = (
            sa.select(sa.func.max(table.c.timestamp))
            .where(table.c.sender_id == sender, table.c.type_name == SessionStarted.type_name)
            .scalar_subquery()
        )
        in_latest_session = sa.or_(table.c.timestamp >= session_start, session_start.is_(None))
        self._all_events = sa.select(table.c.data).where(table.c.sender_id == sender).order_by(table.c.id)
        self._latest_events = (
            sa.select(table.c.data).where(table.c.sender_id == sender, in_latest_session).order_by(table.c.id)
        )
        self._count_latest = (
            sa.select(sa.func.count()).select_from(table).where(table.c.sender_id == sender, in_latest_session)
        )
        self._insert = table.insert()

    async def _retrieve(self, sender_id: str, fetch_events_from_all_sessions: bool) -> DialogueStateTracker | None:
        query = self._all_events if fetch_events_from_all_sessions else self._latest_events
        with self.engine.connect() as conn:
            rows = conn.execute(query, {"sender_id": sender_id}).fetchall()
        if not self.domain or not rows:
            return None
        return DialogueStateTracker.from_dict(sender_id, [json.loads(row[0]) for row in rows], self.domain.slots)

    async def save(self, tracker: DialogueStateTracker) -> None:
        await self.stream_events(tracker)
        with self.engine.begin() as conn:
            stored = int(conn.execute(self._count_latest, {"sender_id": tracker.sender_id}).scalar() or 0)
            rows = [self._row(tracker.sender_id, event) for event in itertools.islice(tracker.events, stored, None)]
            if rows:
                conn.execute(self._insert, rows)

    @staticmethod
    def _row(sender_id: str, event: Any) -> dict[str, Any]:
        data = event.as_dict()
        return {
            "sender_id": sender_id,
            "type_name": event.type_name,
            "timestamp": data.get("timestamp"),
            "intent_name": ((data.get("parse_data") or {}).get("intent") or {}).get(INTENT_NAME_KEY),
            "action_name": data.get("name"),
            "data": json.dumps(data),
        }
