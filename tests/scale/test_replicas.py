"""One person's conversation stays consistent while their messages land on different Rasa replicas.

Messages go directly to each replica's port (and through nginx), so nothing but the shared
PostgreSQL tracker store and the Redis lock store can keep the conversation together.
"""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections import Counter
from typing import Any

import httpx

from helpline import replies
from helpline.channels.outbox import Outbox
from helpline.stack_scaled import ScaledStack
from tests.fakes.webhooks import signed, text_event
from tests.fakes.zalo import FakeZalo

DELETE_CONFIRM = "Bạn có chắc muốn xóa toàn bộ dữ liệu"
CANCELLED = "Được rồi, mình không xóa gì cả."


def say(base: str, sender: str, text: str) -> str:
    resp = httpx.post(f"{base}/webhooks/rest/webhook", json={"sender": sender, "message": text}, timeout=60)
    resp.raise_for_status()
    return "\n".join(m.get("text", "") for m in resp.json())


def events(stack: ScaledStack, base: str, sender: str) -> list[dict[str, Any]]:
    # A REST sender's conversation key is rest:<sender>.
    resp = httpx.get(f"{base}/conversations/rest:{sender}/tracker", params={"token": stack.env["RASA_TOKEN"]},
                     timeout=30)
    resp.raise_for_status()
    return list(resp.json()["events"])


def redis_keys(stack: ScaledStack, pattern: str) -> list[str]:
    """KEYS over a raw socket (RESP), so the test needs no Redis client library."""
    env = stack.env
    with socket.create_connection((env["HELPLINE_REDIS_HOST"], int(env["HELPLINE_REDIS_PORT"])), timeout=2) as s:
        db = env["HELPLINE_REDIS_DB"]
        s.sendall(f"*2\r\n$6\r\nSELECT\r\n${len(db)}\r\n{db}\r\n".encode())
        s.sendall(f"*2\r\n$4\r\nKEYS\r\n${len(pattern)}\r\n{pattern}\r\n".encode())
        data = b""
        while not data.startswith(b"+OK\r\n*") or not data.endswith(b"\r\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    lines = data.split(b"\r\n")[2:]
    return [line.decode() for line in lines[1::2] if line]


def test_a_multi_turn_flow_continues_on_the_other_replica(scaled: ScaledStack) -> None:
    one, two = scaled.replica_urls()
    sender = f"scale-{uuid.uuid4().hex[:8]}"
    assert DELETE_CONFIRM in say(one, sender, "xóa dữ liệu của tôi")
    assert say(two, sender, "không") == CANCELLED, "replica 2 saw the question replica 1 asked"
    assert events(scaled, one, sender) == events(scaled, two, sender), "one tracker, whichever replica reads it"

    assert DELETE_CONFIRM in say(two, sender, "xoa du lieu cua toi")
    assert replies.DATA_DELETED in say(one, sender, "có")
    remaining = [e for e in events(scaled, two, sender) if e["event"] == "user"]
    assert remaining == [], "the data deleted through replica 1 is gone for replica 2 too"


def test_concurrent_messages_of_one_person_are_processed_one_at_a_time(scaled: ScaledStack) -> None:
    # Three bursts: with Rasa's own Redis lock store about one burst in three lost a message.
    for _ in range(3):
        _burst(scaled, f"burst-{uuid.uuid4().hex[:8]}")


def _burst(scaled: ScaledStack, sender: str) -> None:
    urls = [*scaled.replica_urls(), f"http://127.0.0.1:{scaled.ports.rasa}"]
    texts = ["chào bạn", "tong dai 111 la gi", "cảm ơn bạn", "bạn là người hay máy?", "tam biet",
             "số điện thoại đường dây nóng là gì", "chao ban", "cam on nhe"]
    answers: list[str] = [""] * len(texts)
    barrier = threading.Barrier(len(texts) + 1)
    seen_locks: set[str] = set()
    watching = threading.Event()

    def send(i: int) -> None:
        barrier.wait()
        answers[i] = say(urls[i % len(urls)], sender, texts[i])

    def watch() -> None:
        pattern = f"{scaled.env['HELPLINE_REDIS_PREFIX']}:lock:*"
        deadline = time.monotonic() + 60
        while watching.is_set() and time.monotonic() < deadline:
            seen_locks.update(redis_keys(scaled, pattern))
            time.sleep(0.01)

    watching.set()
    watcher = threading.Thread(target=watch)
    watcher.start()
    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(texts))]
    for t in threads:
        t.start()
    barrier.wait()
    for t in threads:
        t.join()
    watching.clear()
    watcher.join()

    assert all(answers), "every message got an answer"
    locked = any(key.endswith(f":lock:rest:{sender}") for key in seen_locks)
    assert locked, "the replicas locked the conversation in Redis"
    history = events(scaled, urls[0], sender)
    assert history == events(scaled, urls[1], sender)
    starts = [i for i, e in enumerate(history) if e["event"] == "user"]
    assert len(starts) == len(texts), "no message was lost"
    for start, end in zip(starts, [*starts[1:], len(history)], strict=True):
        turn = history[start:end]
        actions = [e.get("name") for e in turn if e["event"] == "action"]
        # Serialised turns: each message is answered and the bot listens again before the next one is read.
        assert any(e["event"] == "bot" for e in turn) and actions[-1:] == ["action_listen"], actions


def test_zalo_replies_from_both_replicas_are_delivered_once(scaled: ScaledStack, zalo: FakeZalo) -> None:
    lb = f"http://127.0.0.1:{scaled.ports.rasa}/webhooks/zalo/webhook"
    senders = [f"zalo-scale-{uuid.uuid4().hex[:6]}-{i}" for i in range(6)]
    for i, sender in enumerate(senders):
        body, headers = signed("zalo", text_event("zalo", sender, f"scale-mid-{uuid.uuid4().hex}", "chào bạn"))
        assert httpx.post(lb, content=body, headers=headers, timeout=10).status_code == 200, i
    for sender in senders:
        zalo.wait_texts(sender, timeout=60)
    time.sleep(4)  # both outbox workers poll every 2 s: a double delivery would have happened by now
    for sender in senders:
        texts = zalo.texts_to(sender)
        assert len(texts) == len(set(texts)), f"{sender} got a reply twice: {texts}"
    outbox = Outbox.from_url(scaled.env["DATABASE_URL"])
    keys = {f"zalo:{sender}" for sender in senders}
    mine = [i for i in outbox.list(channel="zalo", limit=500) if i.recipient_id in keys]
    assert Counter(i.status for i in mine) == Counter({"sent": len(mine)}) and mine
