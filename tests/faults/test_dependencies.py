"""Each dependency killed or blocked in the middle of a conversation, on the real stack (tests/hardened.py).

For every fault: the person still gets a reply with 111 (or the reply waits in the outbox and is
delivered once the dependency is back), no ticket or staff reply is lost, and nothing is delivered
twice. The shared PostgreSQL and Redis servers are never touched: the proxies in front of them fail.
"""

from __future__ import annotations

import itertools
import os
import re
import signal
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from helpline import replies
from helpline.channels.outbox import Outbox
from helpline.handoff import HandoffStore
from helpline.handoff.spool import LATE_REASON
from tests.fakes.webhooks import new_mid, new_sender, signed, text_event
from tests.hardened import Hardened, until

_n = itertools.count(int(time.time() * 10) % 1_000_000)
FAQ = "Tội mua bán người bị phạt mấy năm?"
DANGER = "cuu toi voi, toi bi nhot o Campuchia, sdt cua em 0912 345 678"


def fresh(channel: str = "telegram") -> tuple[str, str]:
    n = next(_n)
    return new_sender(channel, n), new_mid(channel, n)


def next_mid(channel: str = "telegram") -> str:
    return new_mid(channel, next(_n))


def say(hard: Hardened, channel: str, sender: str, mid: str, text: str) -> httpx.Response:
    return hard.webhook(channel, *signed(channel, text_event(channel, sender, mid, text)))


def kill9(hard: Hardened, name: str) -> None:
    process = hard.stack.services[name].process
    assert process is not None
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(30)


def signal_group(hard: Hardened, name: str, sig: int) -> None:
    process = hard.stack.services[name].process
    assert process is not None
    os.killpg(process.pid, sig)


def store(hard: Hardened) -> HandoffStore:
    return HandoffStore.from_url(hard.direct_db_url)


def assert_delivered_once(hard: Hardened, channel: str, sender: str) -> list[str]:
    """Every message queued for this person was sent, and the platform got each exactly once."""
    rows = [i for i in Outbox.from_url(hard.direct_db_url).list(channel=channel, limit=10_000)
            if i.recipient_id == f"{channel}:{sender}"]  # the outbox holds conversation keys
    assert rows and all(i.status == "sent" for i in rows), [(i.status, i.last_error) for i in rows]
    texts = hard.platforms[channel].texts_to(sender)
    assert len(texts) == len(rows), f"{len(rows)} queued, {len(texts)} delivered"
    return texts


def csrf_of(client: httpx.Client, path: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).text)
    assert match
    return match.group(1)


@pytest.fixture(autouse=True)
def healthy(hardened: Hardened) -> Iterator[None]:
    """Each test starts and ends with every dependency up."""
    for fake in hardened.platforms.values():
        fake.clear_failures()
    yield
    hardened.pg.restore()
    hardened.redis.restore()
    for fake in hardened.platforms.values():
        fake.clear_failures()
    for name, service in hardened.stack.services.items():
        if service.process is not None and service.running:
            os.killpg(service.process.pid, signal.SIGCONT)
        elif not service.running:
            hardened.stack.start(name)
    hardened.stack.wait_healthy(timeout=300)
    warm_up(hardened)


def warm_up(hard: Hardened) -> None:
    """Wait until the bot answers normally again (a restarted action server loads its model first)."""
    until(lambda: replies.SERVICE_FALLBACK not in hard.rest_text(f"warm-{uuid.uuid4().hex[:8]}", FAQ), 180,
          "the bot answers normally")


def test_action_server_killed_or_hung_mid_conversation(hardened: Hardened) -> None:
    hard, tg = hardened, hardened.platforms["telegram"]
    rest_user = f"act-{uuid.uuid4().hex[:8]}"
    hard.rest_text(rest_user, "chào bạn")
    user, mid = fresh()
    assert say(hard, "telegram", user, mid, "chào bạn").status_code == 200
    tg.wait_texts(user, 1)
    time.sleep(1)  # the greeting may come in two parts
    before = len(tg.texts_to(user))

    kill9(hard, "actions")
    assert "111" in hard.rest_text(rest_user, FAQ)
    assert say(hard, "telegram", user, next_mid(), DANGER).status_code == 200
    texts = tg.wait_texts(user, before + 2)[before:]
    assert texts[0] == replies.EMERGENCY_REPLY and texts[1].startswith(replies.STAFF_JOINING)
    ticket = store(hard).open_ticket_for("telegram", f"telegram:{user}")
    assert ticket is not None and ticket.priority == "immediate" and "bot_unavailable" in ticket.reasons
    # A waiting ticket, as after action_emergency: the bot is not paused (it answers again once it can).
    assert not hard.tracker(f"telegram:{user}")["paused"]
    assert say(hard, "telegram", user, next_mid(), "họ đang đến").status_code == 200
    assert tg.wait_texts(user, before + 3)[-1] == replies.WAITING_FOR_STAFF
    until(lambda: any(m.text == "họ đang đến" for m in store(hard).get(ticket.id).messages), 30, "on the ticket")

    hard.stack.start("actions")
    hard.stack.wait_healthy(["actions"])
    signal_group(hard, "actions", signal.SIGSTOP)  # hung: accepts connections, never answers
    try:
        started = time.monotonic()
        reply = hard.rest_text(f"hang-{uuid.uuid4().hex[:8]}", FAQ)
        assert "111" in reply and time.monotonic() - started < 40
    finally:
        signal_group(hard, "actions", signal.SIGCONT)
    assert_delivered_once(hard, "telegram", user)


def test_redis_stopped_or_unreachable(hardened: Hardened) -> None:
    hard, tg = hardened, hardened.platforms["telegram"]
    hard.redis.kill()
    try:
        assert "111" in hard.rest_text(f"redis-{uuid.uuid4().hex[:8]}", FAQ)
        user, mid = fresh()
        assert say(hard, "telegram", user, mid, DANGER).status_code == 200
        texts = tg.wait_texts(user, 2)
        assert texts[0] == replies.EMERGENCY_REPLY
        ticket = store(hard).open_ticket_for("telegram", f"telegram:{user}")
        assert ticket is not None and "bot_unavailable" in ticket.reasons
    finally:
        hard.redis.restore()
    warm_up(hard)  # back to normal

    hard.redis.blackhole()
    try:
        started = time.monotonic()
        assert "111" in hard.rest_text(f"redis-{uuid.uuid4().hex[:8]}", FAQ)
        assert time.monotonic() - started < 40
    finally:
        hard.redis.restore()
    assert_delivered_once(hard, "telegram", user)


def test_postgresql_stopped(hardened: Hardened) -> None:
    hard, tg = hardened, hardened.platforms["telegram"]
    handoff = store(hard)
    user, mid = fresh()
    assert say(hard, "telegram", user, mid, DANGER).status_code == 200  # with staff before the outage
    tg.wait_texts(user, 2)
    ticket = until(lambda: handoff.open_ticket_for("telegram", f"telegram:{user}"), 30, "ticket")
    console = hard.console("agent")
    token = csrf_of(console, f"/console/tickets/{ticket.id}")
    chatter, chatter_mid = fresh()
    rest_user = f"pg-{uuid.uuid4().hex[:8]}"

    hard.pg.kill()
    try:
        reply = hard.rest_text(rest_user, "cuu em voi, em bi giu o Campuchia")
        assert "113" in reply and "111" in reply and replies.STAFF_UNAVAILABLE in reply
        # Not journaled, so refused: the platform delivers it again later.
        assert say(hard, "telegram", chatter, chatter_mid, "chào bạn").status_code == 503
        page = console.post(f"/console/tickets/{ticket.id}/reply", data={"text": "Chào bạn", "csrf_token": token})
        assert page.status_code == 503 and "111" in page.text, "staff see that nothing was sent"
    finally:
        hard.pg.restore()

    assert say(hard, "telegram", chatter, chatter_mid, "chào bạn").status_code == 200
    tg.wait_texts(chatter, 1)
    late = until(lambda: handoff.open_ticket_for("rest", f"rest:{rest_user}"), 60, "the spooled ticket")
    assert LATE_REASON in late.reasons and late.priority == "immediate"
    # The late ticket waits like any other: the person is told, and the bot keeps answering (with 111).
    assert handoff.open_ticket_state("rest", f"rest:{rest_user}").waiting
    reply = hard.rest_text(rest_user, "em vẫn ở đây")
    assert replies.LATE_TICKET_OPENED in reply and "111" in reply.replace(replies.LATE_TICKET_OPENED, "")
    page = console.post(f"/console/tickets/{ticket.id}/reply", data={"text": "Chào bạn, mình ở đây.",
                                                                    "csrf_token": token})
    assert page.status_code == 303 and page.headers["location"].endswith("msg=sent")
    until(lambda: "Chào bạn, mình ở đây." in tg.texts_to(user), 60, "staff reply delivered")
    time.sleep(2)
    assert_delivered_once(hard, "telegram", user)
    assert assert_delivered_once(hard, "telegram", chatter)


def test_postgresql_unreachable(hardened: Hardened) -> None:
    hard, tg = hardened, hardened.platforms["telegram"]
    chatter, chatter_mid = fresh()
    rest_user = f"pgx-{uuid.uuid4().hex[:8]}"
    hard.pg.blackhole()  # connections time out instead of being refused
    try:
        with ThreadPoolExecutor(2) as pool:
            rest = pool.submit(hard.rest, rest_user, "cuu em voi, em bi giu o Campuchia", None, 120)
            hook = pool.submit(say, hard, "telegram", chatter, chatter_mid, "chào bạn")
            started = time.monotonic()
            reply = rest.result(timeout=150)
            assert reply.status_code == 200
            text = "\n".join(m.get("text", "") for m in reply.json())
            assert "113" in text and "111" in text
            assert hook.result(timeout=150).status_code == 503
            assert time.monotonic() - started < 120, "bounded by the connection timeouts, never hangs"
    finally:
        hard.pg.restore()
    assert say(hard, "telegram", chatter, chatter_mid, "chào bạn").status_code == 200
    tg.wait_texts(chatter, 1)
    late = until(lambda: store(hard).open_ticket_for("rest", f"rest:{rest_user}"), 60, "the spooled ticket")
    assert LATE_REASON in late.reasons
    time.sleep(2)
    assert_delivered_once(hard, "telegram", chatter)


def test_platform_api_timeouts_and_server_errors(hardened: Hardened) -> None:
    hard = hardened
    senders: dict[str, str] = {}
    for name, fake in hard.platforms.items():
        fake.fail_next("timeout", 2)  # the client gives up after HELPLINE_CHANNEL_TIMEOUT (2 s)
        fake.fail_next("5xx", 2)
        sender, mid = fresh(name)
        senders[name] = sender
        assert say(hard, name, sender, mid, "chào bạn").status_code == 200
    for name, sender in senders.items():
        hard.platforms[name].wait_texts(sender, 1, timeout=120)
    time.sleep(3)
    for name, sender in senders.items():
        delivered = assert_delivered_once(hard, name, sender)
        attempts = [r for r in hard.platforms[name].requests if sender in str(r.body) or sender in r.path]
        assert len(attempts) >= len(delivered) + 4, f"{name}: retried through the failures"


def test_every_process_killed_mid_handoff_loses_nothing(hardened: Hardened) -> None:
    hard, tg = hardened, hardened.platforms["telegram"]
    handoff = store(hard)
    user, mid = fresh()
    assert say(hard, "telegram", user, mid, "cuu toi, em o ngõ 5 Kim Mã, sdt 0912 345 678").status_code == 200
    assert tg.wait_texts(user, 2)[0] == replies.EMERGENCY_REPLY
    ticket = until(lambda: handoff.open_ticket_for("telegram", f"telegram:{user}"), 30, "ticket")
    console = hard.console("agent")
    token = csrf_of(console, f"/console/tickets/{ticket.id}")

    tg.fail_next("5xx", 100_000)  # the platform is down too: everything waits in the outbox
    staff = ["Chào bạn, mình là nhân viên tổng đài 111.", "Bạn có đang ở nơi an toàn không?"]
    for text in staff:
        page = console.post(f"/console/tickets/{ticket.id}/reply", data={"text": text, "csrf_token": token})
        assert page.headers["location"].endswith("msg=sent")
    said = ["em đang ở khách sạn", "họ giữ hộ chiếu của em, CCCD 012345678901"]
    for text in said:
        assert say(hard, "telegram", user, next_mid(), text).status_code == 200
    until(lambda: all(any(m.text == t for m in handoff.get(ticket.id).messages) for t in said), 30, "on the ticket")
    # Someone else's message, caught in the middle of its turn (the action server is not answering).
    other, other_mid = fresh()
    signal_group(hard, "actions", signal.SIGSTOP)
    assert say(hard, "telegram", other, other_mid, FAQ).status_code == 200
    time.sleep(1)

    for name in ("rasa", "handoff", "actions"):
        kill9(hard, name)
    tg.clear_failures()
    hard.stack.start_all(timeout=300)

    until(lambda: all(t in tg.texts_to(user) for t in staff), 120, "staff replies delivered")
    until(lambda: tg.texts_to(other), 120, "the interrupted message answered")
    time.sleep(5)
    lines = [m.text for m in handoff.get(ticket.id).messages if m.author == "user"]
    assert all(lines.count(t) == 1 for t in said), lines
    texts = assert_delivered_once(hard, "telegram", user)
    assert all(texts.count(t) == 1 for t in staff)
    # The staff replies took the ticket: the person's messages went to staff only, with no bot reply.
    assert texts.count(replies.WAITING_FOR_STAFF) == 0 and texts.count(replies.STAFF_TOOK_OVER) == 0
    assert len(assert_delivered_once(hard, "telegram", other)) == 1


SECRET_SHAPES = [re.compile(p) for p in (r"(?<![\d\[])0912[ .]?345[ .]?678", r"012345678901", r"Kim Mã",
                                          r"Kim M\\u00e3")]


def test_zz_logs_of_every_process_hold_no_secret_and_no_personal_data(hardened: Hardened) -> None:
    """Runs last in this module: scans the logs of everything the fault tests did."""
    logs = hardened.logs()
    assert set(logs) == {"actions.log", "handoff.log", "rasa.log"}
    everything = "\n".join(logs.values())
    leaked = [s[:4] + "…" for s in hardened.secrets if s in everything]
    assert not leaked, f"secrets in the logs: {leaked}"
    for shape in SECRET_SHAPES:
        assert not shape.search(everything), shape.pattern
    # The scan means something: the user's texts did reach the (debug) logs, masked.
    assert "[sđt]" in logs["rasa.log"] and "[địa chỉ]" in logs["rasa.log"]
