"""bot.tracker_store.CoreSQLTrackerStore against Rasa's own SQLTrackerStore, on SQLite and PostgreSQL.

The same conversations (several turns, a second session, a pause) are saved through both; the
tables must hold the same rows, each store must read back what the other wrote, and the
trackers must be equal event for event, for the latest session and for all sessions.
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (
    ActionExecuted,
    BotUttered,
    ConversationPaused,
    SessionStarted,
    SlotSet,
    UserUttered,
)
from rasa.shared.core.trackers import DialogueStateTracker

from bot.tracker_store import CoreSQLTrackerStore

ROOT = Path(__file__).resolve().parents[2]
PG_DB = "helpline_tracker_store_test"


@pytest.fixture(scope="module")
def domain() -> Domain:
    return Domain.load(str(ROOT / "bot" / "domain.yml"))


def _postgres_up() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 5432), timeout=2).close()
        return True
    except OSError:
        return False


@pytest.fixture(params=["sqlite", "postgresql"])
def stores(request: pytest.FixtureRequest, tmp_path: Path, domain: Domain) -> Iterator[tuple[Any, Any]]:
    if request.param == "sqlite":
        made = tuple(cls(domain=domain, dialect="sqlite", db=str(tmp_path / f"{name}.db"))
                     for cls, name in ((SQLTrackerStore, "rasa"), (CoreSQLTrackerStore, "ours")))
        yield made
        return
    if not _postgres_up():
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL is not reachable on 127.0.0.1:5432")
        pytest.skip("PostgreSQL is not reachable on 127.0.0.1:5432")
    admin = sa.create_engine("postgresql://postgres@127.0.0.1:5432/postgres", isolation_level="AUTOCOMMIT")
    names = [f"{PG_DB}_{uuid.uuid4().hex[:8]}_{n}" for n in ("rasa", "ours")]
    with admin.connect() as conn:
        for name in names:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    made = (SQLTrackerStore(domain=domain, dialect="postgresql", host="127.0.0.1", port=5432, db=names[0],
                            username="postgres"),
            CoreSQLTrackerStore(domain=domain, dialect="postgresql", host="127.0.0.1", port=5432, db=names[1],
                                username="postgres"))
    yield made
    for store in made:
        store.engine.dispose()
    with admin.connect() as conn:
        for name in names:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _turn(text: str, intent: str, reply: str, t: float) -> list[Any]:
    return [
        UserUttered(text, {"name": intent, "confidence": 0.9}, timestamp=t),
        ActionExecuted("utter_x", timestamp=t + 0.1),
        BotUttered(reply, timestamp=t + 0.2),
        ActionExecuted("action_listen", timestamp=t + 0.3),
    ]


def _session(t: float) -> list[Any]:
    # Rasa's order: the action's own event, then its ActionExecuted, stamped after it.
    return [SessionStarted(timestamp=t), ActionExecuted("action_session_start", timestamp=t + 0.01),
            ActionExecuted("action_listen", timestamp=t + 0.02)]


async def _conversation(store: Any, sender: str, domain: Domain) -> None:
    """Per step, as Rasa handles a message: read the latest session, add the step's events, save."""
    steps = [
        _session(1000.0),
        _turn("chào bạn", "greet", "Chào bạn! Gọi 111.", 1001.0),
        _turn("tong dai 111 la gi", "ask_faq", "Tổng đài 111 ...", 1002.0),
        [SlotSet("faq_choices", ["a", "b"], timestamp=1002.5)],
        _session(2000.0),  # a new session: the latest-session reads start here
        _turn("mua bán người là gì", "ask_faq", "Mua bán người là ...", 2001.0),
        [ConversationPaused(timestamp=2002.0)],
    ]
    for events in steps:
        tracker = await store.retrieve(sender) or DialogueStateTracker(sender, domain.slots)
        for event in events:
            tracker.update(event)
        await store.save(tracker)


def _rows(store: Any) -> list[tuple[Any, ...]]:
    with store.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text(
            "SELECT sender_id, type_name, timestamp, intent_name, action_name, data FROM events ORDER BY id"))]


def _events(tracker: DialogueStateTracker | None) -> list[dict[str, Any]]:
    assert tracker is not None
    return [e.as_dict() for e in tracker.events]


def test_same_rows_and_same_trackers_as_rasas_own_store(stores: tuple[Any, Any], domain: Domain) -> None:
    rasa, ours = stores
    sender = f"conv-{uuid.uuid4().hex[:6]}"

    async def scenario() -> None:
        await _conversation(rasa, sender, domain)
        await _conversation(ours, sender, domain)
        assert _rows(ours) == _rows(rasa) and len(_rows(ours)) == 20
        for read in ("retrieve", "retrieve_full_tracker"):
            expected = _events(await getattr(rasa, read)(sender))
            assert _events(await getattr(ours, read)(sender)) == expected, read
        latest = await ours.retrieve(sender)
        assert latest is not None and latest.is_paused()
        assert [e.as_dict()["event"] for e in latest.events][:2] == ["session_started", "action"]
        assert await ours.retrieve("nobody") is None

    asyncio.run(scenario())


def test_each_store_reads_what_the_other_wrote(stores: tuple[Any, Any], domain: Domain) -> None:
    rasa, ours = stores
    sender = f"cross-{uuid.uuid4().hex[:6]}"

    async def scenario() -> None:
        await _conversation(rasa, sender, domain)
        # Point our store at Rasa's database: a deployment can switch classes without losing conversations.
        ours.engine = rasa.engine
        assert _events(await ours.retrieve_full_tracker(sender)) == _events(await rasa.retrieve_full_tracker(sender))
        tracker = await ours.retrieve(sender)
        assert tracker is not None
        for event in _turn("cảm ơn", "thanks", "Không có gì. Gọi 111 khi cần.", 2100.0):
            tracker.update(event)
        await ours.save(tracker)
        assert _events(await rasa.retrieve(sender)) == _events(tracker)

    asyncio.run(scenario())
