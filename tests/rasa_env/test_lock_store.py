"""bot.lock_store.AtomicRedisLockStore: one conversation locked from two processes at once.

Two store objects with their own Redis connections stand for two Rasa replicas; each
thread runs its own event loop, as each replica does. Needs Redis on 127.0.0.1:6379
(database 3, a fresh key prefix per test).
"""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator

import pytest

from bot.lock_store import AtomicRedisLockStore

REDIS_DB = 3


@pytest.fixture
def stores() -> Iterator[list[AtomicRedisLockStore]]:
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=2).close()
    except OSError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"Redis is not reachable on 127.0.0.1:6379: {exc}")
        pytest.skip(f"Redis is not reachable on 127.0.0.1:6379: {exc}")
    prefix = f"locktest{uuid.uuid4().hex[:10]}"
    made = [AtomicRedisLockStore(host="127.0.0.1", port=6379, db=REDIS_DB, key_prefix=prefix) for _ in range(2)]
    yield made
    for key in made[0].red.keys(f"{prefix}:*"):
        made[0].red.delete(key)


def test_tickets_issued_from_two_replicas_are_unique(stores: list[AtomicRedisLockStore]) -> None:
    issued: list[list[int]] = [[], []]
    barrier = threading.Barrier(2)

    def issue(k: int) -> None:
        barrier.wait()
        for _ in range(60):
            issued[k].append(stores[k].issue_ticket("conv"))

    threads = [threading.Thread(target=issue, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    everything = issued[0] + issued[1]
    assert sorted(everything) == list(range(120)), "no ticket lost or issued twice"
    lock = stores[0].get_lock("conv")
    assert lock is not None and len(lock.tickets) == 120


def test_turns_of_one_conversation_never_overlap_across_replicas(stores: list[AtomicRedisLockStore]) -> None:
    inside: list[int] = []
    overlaps: list[int] = []
    done: list[int] = []
    guard = threading.Lock()

    async def turns(k: int) -> None:
        async def one(n: int) -> None:
            async with stores[k].lock("conv", wait_time_in_seconds=0.005):
                with guard:
                    if inside:
                        overlaps.append(n)
                    inside.append(n)
                await asyncio.sleep(0.003)
                with guard:
                    inside.remove(n)
                    done.append(n)

        await asyncio.gather(*(one(k * 100 + n) for n in range(15)))

    threads = [threading.Thread(target=asyncio.run, args=(turns(k),)) for k in range(2)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert time.monotonic() - started < 60
    assert len(done) == 30, "every turn ran (no LockError)"
    assert overlaps == [], "never two turns of one conversation at once"
    assert stores[0].get_lock("conv") is None, "the lock is removed when nobody waits"
