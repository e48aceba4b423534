"""Two Rasa replicas share one outbox and one inbound journal: nothing is sent or replayed twice.

Each replica runs an outbox worker and a replay loop (connectors/runtime.py). Here two
independent store objects (separate connections, as in two processes) race on the same
database from two threads.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
import time
from collections import Counter
from collections.abc import Mapping
from typing import Any

from helpline.channels.inbound import Inbound
from helpline.channels.outbox import Outbox, OutboxWorker
from helpline.channels.store import ChannelStore
from tests.conftest import Clock

RECIPIENTS = 12
PER_RECIPIENT = 8


class RecordingSender:
    def __init__(self, name: str, log: list[tuple[str, str, int]], lock: threading.Lock) -> None:
        self.name = name
        self.log = log
        self.lock = lock

    async def send(self, recipient_id: str, message: Mapping[str, Any]) -> None:
        await asyncio.sleep(0.001)  # let the other worker interleave
        with self.lock:
            self.log.append((self.name, recipient_id, int(message["n"])))


def _drain(worker: OutboxWorker, deadline: float) -> None:
    async def run() -> None:
        idle = 0
        while time.monotonic() < deadline and idle < 5:
            idle = 0 if await worker.run_once(limit=5) else idle + 1
            await asyncio.sleep(0.01)

    asyncio.run(run())


def test_two_workers_deliver_each_message_once_and_in_order(db_url: str) -> None:
    setup = Outbox.from_url(db_url)
    for n in range(PER_RECIPIENT):
        for r in range(RECIPIENTS):
            setup.enqueue("zalo", f"user-{r}", {"text": f"part {n}", "n": n}, dedupe_key=f"zalo:m{r}:{n}")
    log: list[tuple[str, str, int]] = []
    lock = threading.Lock()
    workers = [OutboxWorker(Outbox.from_url(db_url), {"zalo": RecordingSender(name, log, lock)})
               for name in ("replica-1", "replica-2")]
    deadline = time.monotonic() + 60
    threads = [threading.Thread(target=_drain, args=(w, deadline)) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    delivered = Counter((recipient, n) for _, recipient, n in log)
    assert len(delivered) == RECIPIENTS * PER_RECIPIENT, "every message was delivered"
    assert max(delivered.values()) == 1, "no message was delivered twice"
    for r in range(RECIPIENTS):
        order = [n for _, recipient, n in log if recipient == f"user-{r}"]
        assert order == sorted(order), "per person, strictly in order across both workers"
    assert {name for name, _, _ in log} == {"replica-1", "replica-2"}, "both workers took a share"
    assert setup.list(status="pending") == []


def test_an_unanswered_message_is_replayed_by_one_replica_only(db_url: str, clock: Clock) -> None:
    setup = ChannelStore.from_url(db_url, now=clock)
    for i in range(40):
        setup.claim_inbound(Inbound("zalo", f"user-{i}", f"mid-{i}", "text", text="cứu tôi với"))
    clock.advance(seconds=30)  # every message is now overdue for both replicas
    stores = [ChannelStore.from_url(db_url, now=clock) for _ in range(2)]
    claimed: list[list[str]] = [[], []]
    barrier = threading.Barrier(2)

    def replay(k: int) -> None:
        barrier.wait()
        for _ in range(5):  # several maintenance rounds in a row: the lease holds
            claimed[k].extend(m.message_id for m in stores[k].unfinished_inbound(["zalo"], dt.timedelta(seconds=20)))

    threads = [threading.Thread(target=replay, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    everything = claimed[0] + claimed[1]
    assert sorted(everything) == sorted(f"mid-{i}" for i in range(40)), "each message replayed exactly once"
    clock.advance(seconds=21)
    again = stores[0].unfinished_inbound(["zalo"], dt.timedelta(seconds=20))
    assert len(again) == 40, "still unanswered after the lease: due again (until MAX_REPLAYS)"


class SlowSender:
    def __init__(self) -> None:
        self.active = 0
        self.most = 0
        self.order: list[tuple[str, int]] = []

    async def send(self, recipient_id: str, message: Mapping[str, Any]) -> None:
        self.active += 1
        self.most = max(self.most, self.active)
        await asyncio.sleep(0.05)
        self.order.append((recipient_id, int(message["n"])))
        self.active -= 1


def test_a_batch_goes_out_concurrently_but_each_person_in_order(db_url: str) -> None:
    outbox = Outbox.from_url(db_url)
    for n in range(3):
        for r in range(5):
            outbox.enqueue("zalo", f"user-{r}", {"text": f"part {n}", "n": n})
    sender = SlowSender()
    worker = OutboxWorker(outbox, {"zalo": sender})

    async def drain() -> None:
        while await worker.run_once():
            pass

    asyncio.run(drain())
    assert len(sender.order) == 15
    assert sender.most == 5, "one message per person at a time, the five people at once"
    for r in range(5):
        assert [n for who, n in sender.order if who == f"user-{r}"] == [0, 1, 2]
