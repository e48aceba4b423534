"""The durable outbox against SQLite and a real PostgreSQL."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Mapping
from typing import Any

import pytest

from helpline.channels.outbox import MAX_ATTEMPTS, Outbox, OutboxWorker
from helpline.errors import SendFailed
from tests.conftest import Clock


@pytest.fixture
def outbox(db_url: str, clock: Clock) -> Outbox:
    return Outbox.from_url(db_url, now=clock)


class Platform:
    """Records deliveries; can be told to fail."""

    def __init__(self) -> None:
        self.received: list[tuple[str, dict[str, Any]]] = []
        self.fail: SendFailed | Exception | None = None

    async def send(self, recipient_id: str, message: Mapping[str, Any]) -> None:
        if self.fail is not None:
            raise self.fail
        self.received.append((recipient_id, dict(message)))


def test_enqueue_and_deliver_once(outbox: Outbox) -> None:
    platform = Platform()
    worker = OutboxWorker(outbox, {"zalo": platform})
    item_id = outbox.enqueue("zalo", "u1", {"text": "Gọi 111"})
    assert asyncio.run(worker.run_once()) == 1
    assert asyncio.run(worker.run_once()) == 0
    assert platform.received == [("u1", {"text": "Gọi 111"})]
    item = outbox.get(item_id)
    assert item is not None and item.status == "sent" and item.sent_at is not None


def test_dedupe_key_makes_enqueue_idempotent(outbox: Outbox) -> None:
    assert outbox.enqueue("zalo", "u1", {"text": "a"}, dedupe_key="zalo:msg-1:0") is not None
    assert outbox.enqueue("zalo", "u1", {"text": "a"}, dedupe_key="zalo:msg-1:0") is None
    assert len(outbox.list()) == 1


def test_transient_failure_is_retried_with_backoff(outbox: Outbox, clock: Clock) -> None:
    platform = Platform()
    worker = OutboxWorker(outbox, {"facebook": platform})
    item_id = outbox.enqueue("facebook", "u1", {"text": "x"})
    platform.fail = SendFailed("HTTP 503", retry_after=30)
    assert asyncio.run(worker.run_once()) == 0
    item = outbox.get(item_id)
    assert item is not None and item.status == "pending" and item.attempts == 1 and "503" in (item.last_error or "")
    platform.fail = None
    assert asyncio.run(worker.run_once()) == 0, "not due before retry_after"
    clock.advance(seconds=31)
    assert asyncio.run(worker.run_once()) == 1
    assert platform.received == [("u1", {"text": "x"})]


def test_permanent_failure_is_recorded_not_retried(outbox: Outbox, clock: Clock) -> None:
    platform = Platform()
    worker = OutboxWorker(outbox, {"zalo": platform})
    item_id = outbox.enqueue("zalo", "u1", {"text": "x"})
    platform.fail = SendFailed("Zalo -230: user has not interacted in 7 days", permanent=True)
    asyncio.run(worker.run_once())
    clock.advance(days=1)
    platform.fail = None
    assert asyncio.run(worker.run_once()) == 0
    item = outbox.get(item_id)
    assert item is not None and item.status == "failed" and "-230" in (item.last_error or "")


def test_unexpected_error_keeps_the_message(outbox: Outbox) -> None:
    platform = Platform()
    platform.fail = KeyError("bug")
    item_id = outbox.enqueue("telegram", "42", {"text": "x"})
    asyncio.run(OutboxWorker(outbox, {"telegram": platform}).run_once())
    item = outbox.get(item_id)
    assert item is not None and item.status == "pending" and item.attempts == 1


def test_gives_up_visibly_after_max_attempts(outbox: Outbox, clock: Clock) -> None:
    item_id = outbox.enqueue("zalo", "u1", {"text": "x"})
    for _ in range(MAX_ATTEMPTS):
        outbox.mark_retry(item_id, "timeout")
    item = outbox.get(item_id)
    assert item is not None and item.status == "failed" and "gave up" in (item.last_error or "")


def test_a_claimed_message_is_not_claimed_twice(outbox: Outbox, clock: Clock) -> None:
    outbox.enqueue("zalo", "u1", {"text": "x"})
    assert len(outbox.claim_due()) == 1
    assert outbox.claim_due() == []
    clock.advance(seconds=61)  # the lease expired: a crashed worker's message comes back
    assert len(outbox.claim_due()) == 1


def test_worker_only_claims_its_own_channels(outbox: Outbox) -> None:
    outbox.enqueue("zalo", "u1", {"text": "x"})
    assert asyncio.run(OutboxWorker(outbox, {"facebook": Platform()}).run_once()) == 0
    assert outbox.list(status="pending")[0].channel == "zalo"


def test_delete_recipient_and_purge(outbox: Outbox, clock: Clock) -> None:
    platform = Platform()
    outbox.enqueue("zalo", "u1", {"text": "a"})
    outbox.enqueue("zalo", "u2", {"text": "b"})
    assert outbox.delete_recipient("zalo", "u1") == 1
    asyncio.run(OutboxWorker(outbox, {"zalo": platform}).run_once())
    clock.advance(days=31)
    assert outbox.purge(dt.timedelta(days=30)) == 1
    assert outbox.list() == []


def test_take_pending_hands_over_a_persons_messages_once(outbox: Outbox) -> None:
    outbox.enqueue("rest", "u1", {"text": "Nhân viên: bạn an toàn chưa?"}, kind="staff")
    outbox.enqueue("rest", "u2", {"text": "other person"}, kind="staff")
    taken = outbox.take_pending("rest", "u1")
    assert [i.message["text"] for i in taken] == ["Nhân viên: bạn an toàn chưa?"]
    assert outbox.take_pending("rest", "u1") == []
    assert outbox.get(taken[0].id).status == "sent"  # type: ignore[union-attr]
    assert len(outbox.list(status="pending")) == 1


def test_zalo_night_hold_234_keeps_the_message_until_six_in_vietnam(outbox: Outbox, clock: Clock,
                                                                    tmp_path: Any) -> None:
    from helpline.channels.config import ZaloConfig
    from helpline.channels.store import ChannelStore
    from helpline.channels.zalo import ZaloSender
    from tests.fakes.zalo import FakeZalo

    clock.now = dt.datetime(2026, 12, 3, 16, 30)  # the outbox's naive UTC clock: 23:30 in Vietnam
    with FakeZalo() as fake:
        store = ChannelStore.from_url(f"sqlite:///{tmp_path / 'channels.db'}")
        first = outbox.enqueue("zalo", "zalo:u1", {"text": "một"})
        second = outbox.enqueue("zalo", "zalo:u1", {"text": "hai"})
        fake.fail_next("code:-234")

        async def night_and_morning() -> list[int]:
            sender = ZaloSender(ZaloConfig.from_env(fake.env()), store, now=clock)
            worker = OutboxWorker(outbox, {"zalo": sender})
            counts = [await worker.run_once()]
            held = outbox.get(first)
            assert held is not None and held.status == "pending" and "held until 06:00" in (held.last_error or "")
            clock.now = dt.datetime(2026, 12, 3, 22, 59)  # 05:59 in Vietnam: still night, nothing goes out
            counts.append(await worker.run_once())
            clock.now = dt.datetime(2026, 12, 3, 23, 0, 1)
            counts += [await worker.run_once(), await worker.run_once()]  # the first, then the second in order
            await sender.aclose()
            return counts

        counts = asyncio.run(night_and_morning())
    assert counts[:2] == [0, 0] and sum(counts) == 2
    assert fake.texts_to("u1") == ["một", "hai"]
    assert [outbox.get(i).status for i in (first, second)] == ["sent", "sent"]  # type: ignore[union-attr]
