"""Connector hardening on every channel: rate limits, constant-time signatures, the never-silence fallback with a
ticket when the bot fails, the turn timeout, a locked SQLite database, and "delete my data"."""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import hmac
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from unittest import mock

import pytest

from connectors import guard, turn
from helpline import replies
from helpline.channels.inbound import Inbound
from helpline.channels.outbox import Outbox
from helpline.channels.store import ChannelStore
from helpline.handoff import HandoffStore
from helpline.handoff.spool import TicketSpool
from helpline.privacy import FORGET_COMMAND
from helpline.settings import Settings
from tests.fakes.webhooks import forged, new_mid, new_sender, signed, text_event
from tests.rasa_env.conftest import ScriptedBot, until
from tests.rasa_env.test_connectors import CONNECTORS, post, run

EMERGENCY = "cuu toi voi toi bi nhot o campuchia"


@pytest.fixture(params=list(CONNECTORS))
def channel(request: pytest.FixtureRequest, data_env: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """(name, connector, fake platform) for each channel, as in test_connectors."""
    connector_cls, fake_cls = CONNECTORS[request.param]
    with fake_cls() as fake:
        for key, value in fake.env().items():  # type: ignore[attr-defined]
            monkeypatch.setenv(key, value)
        connector = connector_cls.from_credentials(None)
        assert connector.enabled
        yield request.param, connector, fake


@pytest.fixture(autouse=True)
def fresh_limits(monkeypatch: pytest.MonkeyPatch) -> Any:
    guard.reset()
    turn._turn_timeout.cache_clear()
    turn.shared_outbox.cache_clear()
    turn._spool.cache_clear()
    yield
    guard.reset()
    turn._turn_timeout.cache_clear()


def db_url() -> str:
    return Settings.from_env().handoff_db_url


def test_signed_webhooks_are_never_limited_per_address(channel: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A platform sends everyone's messages from a few addresses: over the per-address limit, signed ones pass."""
    name, connector, fake = channel
    monkeypatch.setenv("HELPLINE_RATE_LIMIT_WEBHOOK_IP", "2/60")
    bot = ScriptedBot()
    senders = [new_sender(name, 30 + n) for n in range(6)]

    async def go() -> list[int]:
        out = []
        for n, sender in enumerate(senders):
            body, headers = signed(name, text_event(name, sender, new_mid(name, 30 + n), f"hỏi {n}"))
            status, _ = await connector.handle_post(body, headers, SimpleNamespace(ctx=SimpleNamespace(agent=None)),
                                                    bot, client="203.0.113.5")
            out.append(status)
        await until(lambda: all(fake.texts_to(s) for s in senders))
        return out

    assert run(go()) == [200] * 6
    assert sorted(bot.texts) == [f"hỏi {n}" for n in range(6)]
    assert all(len(fake.texts_to(s)) == 1 for s in senders), "each answered once"


def test_unverified_webhooks_over_the_address_limit_get_429_and_nothing_is_kept(
        channel: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    name, connector, fake = channel
    monkeypatch.setenv("HELPLINE_RATE_LIMIT_WEBHOOK_IP", "2/60")
    bot = ScriptedBot()
    app = SimpleNamespace(ctx=SimpleNamespace(agent=None))

    async def go() -> list[tuple[int, dict[str, Any]]]:
        out = []
        for n in range(3):
            body, headers = forged(name, text_event(name, new_sender(name, 30), new_mid(name, 30 + n), "hỏi"))
            out.append(await connector.handle_post(body, headers, app, bot, client="203.0.113.5"))
        # The same address with a valid signature still gets through; another address is unaffected.
        body, headers = signed(name, text_event(name, new_sender(name, 31), new_mid(name, 40), "hỏi"))
        out.append(await connector.handle_post(body, headers, app, bot, client="203.0.113.5"))
        body, headers = forged(name, text_event(name, new_sender(name, 32), new_mid(name, 41), "hỏi"))
        out.append(await connector.handle_post(body, headers, app, bot, client="198.51.100.1"))
        await until(lambda: len(bot.received) == 1)
        return out

    results = run(go())
    assert [status for status, _ in results] == [403, 403, 429, 200, 403]
    assert int(results[2][1]["retry_after"]) >= 1
    store = ChannelStore.from_url(db_url())
    refused = Inbound(name, new_sender(name, 30), new_mid(name, 32), "text", text="x")
    assert store.claim_inbound(refused), "the refused message was not journaled"


def test_overload_acknowledges_and_queues_signed_webhooks(channel: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Over the machine's cap on turns at once, signed messages get 200 at once and wait their turn."""
    name, connector, fake = channel
    monkeypatch.setenv("HELPLINE_CHANNEL_MAX_TURNS", "2")
    bot = ScriptedBot()
    bot.delay = 0.2
    running = {"now": 0, "most": 0}
    inner = bot.__call__

    async def counting(message: Any) -> None:
        running["now"] += 1
        running["most"] = max(running["most"], running["now"])
        try:
            await inner(message)
        finally:
            running["now"] -= 1

    senders = [new_sender(name, 80 + n) for n in range(12)]

    async def go() -> list[int]:
        statuses = []
        for n, sender in enumerate(senders):
            body, headers = signed(name, text_event(name, sender, new_mid(name, 80 + n), f"câu {n}"))
            status, _ = await asyncio.wait_for(
                connector.handle_post(body, headers, SimpleNamespace(ctx=SimpleNamespace(agent=None)), counting,
                                      client="203.0.113.9"), timeout=1.0)
            statuses.append(status)
        await until(lambda: all(fake.texts_to(s) for s in senders), timeout=30)
        return statuses

    assert run(go()) == [200] * 12
    assert running["most"] == 2, "never more turns at once than the cap"
    assert all(len(fake.texts_to(s)) == 1 for s in senders), "every message answered, once"


def test_past_the_backlog_messages_wait_in_the_journal_for_the_replay(channel: Any,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    name, connector, fake = channel
    monkeypatch.setenv("HELPLINE_CHANNEL_MAX_TURNS", "1")
    monkeypatch.setenv("HELPLINE_CHANNEL_BACKLOG", "2")
    bot = ScriptedBot()
    bot.delay = 0.3
    senders = [new_sender(name, 90 + n) for n in range(4)]
    from connectors.runtime import ChannelRuntime

    async def go() -> tuple[list[int], int]:
        statuses = []
        for n, sender in enumerate(senders):
            body, headers = signed(name, text_event(name, sender, new_mid(name, 90 + n), f"câu {n}"))
            status, _ = await connector.handle_post(body, headers, SimpleNamespace(ctx=SimpleNamespace(agent=None)),
                                                    bot, client="203.0.113.9")
            statuses.append(status)
        runtime = ChannelRuntime.get()
        deferred = runtime.deferred
        await until(lambda: len(bot.received) == 2)
        await until(lambda: not runtime.in_flight)
        assert await runtime.replay_unfinished(dt.timedelta(0)) == 2
        await until(lambda: all(fake.texts_to(s) for s in senders))
        return statuses, deferred

    statuses, deferred = run(go())
    assert statuses == [200] * 4 and deferred == 2
    assert all(len(fake.texts_to(s)) == 1 for s in senders)


def test_a_flooding_sender_skips_the_bot_but_is_never_silenced(channel: Any,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    name, connector, fake = channel
    monkeypatch.setenv("HELPLINE_RATE_LIMIT_SENDER", "3/3600")
    bot = ScriptedBot()
    sender = new_sender(name, 50)

    async def go() -> None:
        for n in range(6):
            await post(connector, bot, *signed(name, text_event(name, sender, new_mid(name, 50 + n), f"hỏi {n}")))
        await until(lambda: len(fake.texts_to(sender)) >= 4)
        await post(connector, bot, *signed(name, text_event(name, sender, new_mid(name, 60), EMERGENCY)))
        await until(lambda: len(bot.received) == 4)
        await asyncio.sleep(0.5)

    run(go())
    assert bot.texts[:3] == ["hỏi 0", "hỏi 1", "hỏi 2"] and bot.texts[3] == EMERGENCY, "danger is never throttled"
    texts = fake.texts_to(sender)
    assert texts.count(replies.RATE_LIMITED) == 1, "one notice a minute, not one per flooded message"
    assert "113" in replies.RATE_LIMITED and "111" in replies.RATE_LIMITED


def test_over_the_limit_with_an_open_ticket_the_messages_reach_staff(channel: Any,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    name, connector, fake = channel
    monkeypatch.setenv("HELPLINE_RATE_LIMIT_SENDER", "1/3600")
    sender = new_sender(name, 70)
    store = HandoffStore.from_url(db_url())
    ticket = store.open_ticket(name, f"{name}:{sender}", "urgent", ("intent:emergency",), [("user", "cứu")])
    bot = ScriptedBot()

    async def go() -> None:
        for n in range(4):
            await post(connector, bot, *signed(name, text_event(name, sender, new_mid(name, 70 + n), f"tin {n}")))
        await until(lambda: len([m for m in store.get(ticket.id).messages if m.text.startswith("tin")]) == 4)

    run(go())
    # The first reached the bot too; all four are on the ticket, in the order they were sent.
    assert [m.text for m in store.get(ticket.id).messages if m.text.startswith("tin")] == [f"tin {n}" for n in range(4)]
    assert bot.texts == ["tin 0"]


@pytest.mark.parametrize("database_up", [True, False])
def test_when_the_bot_fails_on_danger_the_channel_opens_the_ticket(channel: Any, database_up: bool,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    name, connector, fake = channel
    bot = ScriptedBot()
    bot.fail = True  # the action server or the tracker store is down
    sender = new_sender(name, 80)
    spool = TicketSpool.in_data_dir(Settings.from_env().data_dir)
    if not database_up:
        down = HandoffStore.from_url("postgresql://postgres@127.0.0.1:1/handoff", timeout=1)
        monkeypatch.setattr(turn, "_handoff_store", functools.lru_cache(maxsize=1)(lambda: down))

    async def go() -> None:
        await post(connector, bot, *signed(name, text_event(name, sender, new_mid(name, 80), EMERGENCY)))
        await until(lambda: len(fake.texts_to(sender)) >= 2)

    run(go())
    texts = fake.texts_to(sender)
    assert texts[0] == replies.EMERGENCY_REPLY
    store = HandoffStore.from_url(db_url())
    if database_up:
        ticket = store.open_ticket_for(name, f"{name}:{sender}")  # tickets are kept under the conversation key
        assert ticket is not None and ticket.priority == "immediate" and "bot_unavailable" in ticket.reasons
        assert texts[1].startswith(replies.STAFF_JOINING)
    else:
        assert texts[1] == replies.STAFF_UNAVAILABLE
        [(_, ticket, _)] = spool.flush(store)  # the database is back
        assert ticket.sender_id == f"{name}:{sender}"


def test_a_bot_turn_that_hangs_is_answered_with_the_fallback(channel: Any,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    name, connector, fake = channel
    monkeypatch.setenv("HELPLINE_TURN_TIMEOUT_SECONDS", "1")
    bot = ScriptedBot()
    bot.delay = 30.0  # the action server stopped answering
    sender = new_sender(name, 90)

    async def go() -> None:
        await post(connector, bot, *signed(name, text_event(name, sender, new_mid(name, 90), "hỏi")))
        await until(lambda: fake.texts_to(sender), timeout=10)

    run(go())
    assert fake.texts_to(sender) == [replies.SERVICE_FALLBACK]


def test_forged_signatures_are_compared_in_constant_time(channel: Any) -> None:
    name, connector, _ = channel
    body, headers = forged(name, text_event(name, new_sender(name, 95), new_mid(name, 95), "hỏi"))
    with mock.patch.object(hmac, "compare_digest", wraps=hmac.compare_digest) as spy:
        assert connector.verify(body, headers) is False
    assert spy.call_count >= 1, "the secret is compared with hmac.compare_digest, never with =="
    assert run(post(connector, ScriptedBot(), body, headers)) == 403


def test_a_locked_sqlite_database_is_waited_for_or_refused_never_lost(channel: Any,
                                                                      data_env: Path) -> None:
    name, connector, fake = channel
    bot = ScriptedBot()
    sender = new_sender(name, 100)
    body, headers = signed(name, text_event(name, sender, new_mid(name, 100), "hỏi"))
    path = data_env / "handoff.db"

    async def go() -> list[int]:
        runtime = connector.activate(SimpleNamespace(ctx=SimpleNamespace(agent=None)), bot)
        runtime.store = ChannelStore.from_url(db_url(), timeout=0.5)
        await asyncio.to_thread(runtime.store.claim_inbound, Inbound(name, "warm-up", "w", "seen"))
        locker = sqlite3.connect(str(path), isolation_level=None)
        locker.execute("BEGIN EXCLUSIVE")  # another process holds the write lock
        try:
            locked = await post(connector, bot, body, headers)
        finally:
            locker.execute("ROLLBACK")
            locker.close()
        again = await post(connector, bot, body, headers)  # the platform retries
        duplicate = await post(connector, bot, body, headers)
        await until(lambda: fake.texts_to(sender))
        await asyncio.sleep(0.5)
        return [locked, again, duplicate]

    assert run(go()) == [503, 200, 200]
    assert bot.texts == ["hỏi"] and len(fake.texts_to(sender)) == 1, "answered once"


class FakeTrackerStore:
    def __init__(self, senders: list[str]) -> None:
        self.store: dict[str, object] = {s: object() for s in senders}

    async def retrieve(self, sender_id: str) -> None:
        return None


def test_delete_my_data_forgets_everything_kept_under_the_id(channel: Any) -> None:
    name, connector, fake = channel
    sender, other = new_sender(name, 110), new_sender(name, 111)
    me, them = f"{name}:{sender}", f"{name}:{other}"  # conversation keys
    url = db_url()
    outbox, channel_store = Outbox.from_url(url), ChannelStore.from_url(url)
    for who, key in ((sender, me), (other, them)):
        outbox.enqueue(name, key, {"text": "trả lời cũ"}, kind="bot")
        outbox.enqueue(name, key, {"text": "nhân viên"}, kind="staff")
        channel_store.remember(name, key, "choices", ["/ask_hotline"])
        channel_store.claim_inbound(Inbound(name, who, f"old-{who}", "text", text="tin cũ"))
    # The same platform id on another channel is another person: nothing of theirs goes.
    outbox.enqueue("rest", f"rest:{sender}", {"text": "người khác"}, kind="staff")
    agent = SimpleNamespace(tracker_store=FakeTrackerStore([me, them, sender]))
    app = SimpleNamespace(ctx=SimpleNamespace(agent=agent))

    async def forget(message: Any) -> None:  # what action_delete_my_data answers
        await message.output_channel.send_text_message(message.sender_id, replies.DATA_DELETED)
        await message.output_channel.send_custom_json(message.sender_id, FORGET_COMMAND)

    async def go() -> None:
        body, headers = signed(name, text_event(name, sender, new_mid(name, 112), "có, xóa đi"))
        status, _ = await connector.handle_post(body, headers, app, forget)
        assert status == 200
        await until(lambda: replies.DATA_DELETED in fake.texts_to(sender))

    run(go())
    assert me not in agent.tracker_store.store and them in agent.tracker_store.store
    assert sender in agent.tracker_store.store, "a bare id is not this conversation"
    mine = [i for i in outbox.list(limit=1000) if i.recipient_id == me]
    assert [i.message.get("text") for i in mine] == [replies.DATA_DELETED], "only the confirmation is left"
    assert "điện thoại" in replies.DATA_DELETED and "chọn Xóa" in replies.DATA_DELETED, "how to delete the chat"
    assert channel_store.recall(name, me, "choices", dt.timedelta(days=1)) is None
    assert channel_store.claim_inbound(Inbound(name, sender, f"old-{sender}", "text")), "journal row gone"
    assert len([i for i in outbox.list(limit=1000) if i.recipient_id == them]) == 2, "nobody else's data"
    assert [i.recipient_id for i in outbox.list(channel="rest", limit=1000)] == [f"rest:{sender}"]
    assert channel_store.recall(name, them, "choices", dt.timedelta(days=1)) == ["/ask_hotline"]


def test_request_size_limit_is_set_on_the_server(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HELPLINE_MAX_BODY_BYTES", "200000")
    app = SimpleNamespace(config=SimpleNamespace(REQUEST_MAX_SIZE=100_000_000))
    guard.limit_request_size(app)
    assert app.config.REQUEST_MAX_SIZE == 200_000
    lower = SimpleNamespace(config=SimpleNamespace(REQUEST_MAX_SIZE=50_000))  # SANIC_REQUEST_MAX_SIZE set lower
    guard.limit_request_size(lower)
    assert lower.config.REQUEST_MAX_SIZE == 50_000
