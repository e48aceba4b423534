"""Every channel end to end: signed webhooks into the real Rasa process, replies out to the fake platforms."""

from __future__ import annotations

import itertools
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from helpline import replies
from helpline.channels.outbox import Outbox
from helpline.channels.store import ChannelStore
from helpline.handoff import HandoffStore
from helpline.stack import Stack
from tests.fakes.base import FakePlatform
from tests.fakes.facebook import VERIFY_TOKEN
from tests.fakes.webhooks import CHANNELS, forged, load, new_mid, new_sender, readdress, signed, text_event

_ids = itertools.count(1000)


def fresh(channel: str) -> tuple[str, str]:
    n = next(_ids)
    return new_sender(channel, n), new_mid(channel, n)


def db_url(stack: Stack) -> str:
    return f"sqlite:///{Path(stack.env['HELPLINE_DATA_DIR']) / 'handoff.db'}"


def webhook(stack: Stack, channel: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
    url = f"http://127.0.0.1:{stack.ports.rasa}/webhooks/{channel}/webhook"
    return httpx.post(url, content=body, headers=headers, timeout=10)


def say(stack: Stack, channel: str, sender: str, mid: str, text: str) -> httpx.Response:
    return webhook(stack, channel, *signed(channel, text_event(channel, sender, mid, text)))


@pytest.fixture(params=CHANNELS)
def channel(request: pytest.FixtureRequest, stack: Stack, platforms: dict[str, FakePlatform]) -> tuple[str, Any]:
    fake = platforms[request.param]
    fake.clear_failures()
    return request.param, fake


def test_every_channel_is_enabled(stack: Stack) -> None:
    for name in CHANNELS:
        resp = httpx.get(f"http://127.0.0.1:{stack.ports.rasa}/webhooks/{name}/", timeout=10)
        assert resp.json() == {"status": "ok"}, name


def test_question_is_answered_through_the_platform_once(stack: Stack, channel: tuple[str, Any]) -> None:
    name, fake = channel
    sender, mid = fresh(name)
    started = time.monotonic()
    assert say(stack, name, sender, mid, "cho mình xin số điện thoại đường dây nóng báo tin").status_code == 200
    assert time.monotonic() - started < 2.0, "acknowledged within Zalo's 2 s"
    assert say(stack, name, sender, mid, "cho mình xin số điện thoại đường dây nóng báo tin").status_code == 200
    fake.wait_texts(sender)
    time.sleep(3)  # the whole answer (it may have several messages) and any duplicate have arrived
    texts = fake.texts_to(sender)
    assert len(texts) == len(set(texts)), "the immediate redelivery was answered once"
    assert say(stack, name, sender, mid, "cho mình xin số điện thoại đường dây nóng báo tin").status_code == 200
    time.sleep(3)
    assert fake.texts_to(sender) == texts, "a later redelivery is not answered again"
    assert any("111" in t for t in texts)


def test_forged_webhook_is_rejected(stack: Stack, channel: tuple[str, Any]) -> None:
    name, fake = channel
    sender, mid = fresh(name)
    assert webhook(stack, name, *forged(name, text_event(name, sender, mid, "xin chào"))).status_code == 403
    body, _ = signed(name, text_event(name, sender, mid, "xin chào"))
    assert webhook(stack, name, body, {"Content-Type": "application/json"}).status_code == 401
    time.sleep(2)
    assert fake.texts_to(sender) == []


def test_reply_survives_a_platform_outage(stack: Stack, channel: tuple[str, Any]) -> None:
    name, fake = channel
    sender, mid = fresh(name)
    fake.fail_next("5xx", times=7)
    assert say(stack, name, sender, mid, "chào bạn").status_code == 200
    assert fake.wait_texts(sender, timeout=60)


def test_reply_survives_a_rasa_restart(stack: Stack, platforms: dict[str, FakePlatform]) -> None:
    outbox = Outbox.from_url(db_url(stack))
    senders = {}
    for name in CHANNELS:
        platforms[name].fail_next("5xx", times=10_000)
        sender, mid = fresh(name)
        senders[name] = sender
        assert say(stack, name, sender, mid, "chào bạn").status_code == 200
    keys = {f"{name}:{sender}" for name, sender in senders.items()}  # the outbox holds conversation keys
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        pending = {i.channel for i in outbox.list(status="pending") if i.recipient_id in keys}
        if pending == set(CHANNELS):
            break
        time.sleep(0.5)
    assert pending == set(CHANNELS), "each reply is kept while its platform is down"
    stack.stop("rasa")
    for fake in platforms.values():
        fake.clear_failures()
    stack.start("rasa")
    stack.wait_healthy(["rasa"], timeout=300)
    for name, sender in senders.items():
        assert platforms[name].wait_texts(sender, timeout=90), name


def test_staff_reply_is_delivered_and_split(stack: Stack, channel: tuple[str, Any]) -> None:
    name, fake = channel
    sender, _ = fresh(name)
    limit = {"zalo": 2000, "zalobot": 2000, "facebook": 2000, "telegram": 4096}[name]
    text = " ".join(f"Câu trả lời số {i} của nhân viên tổng đài 111." for i in range(limit // 20))
    # What the handoff service does: same database, kind "staff"; the Rasa process delivers it.
    Outbox.from_url(db_url(stack)).enqueue(name, f"{name}:{sender}", {"text": text}, kind="staff",
                                           dedupe_key=f"staff-test:{name}:{sender}")
    parts = fake.wait_for(lambda: (p := fake.texts_to(sender)) and " ".join(p) == text and p, timeout=30)
    assert len(parts) >= 2 and all(len(p) <= limit for p in parts)


def test_emergency_location_is_attached_to_the_ticket(stack: Stack, channel: tuple[str, Any]) -> None:
    name, fake = channel
    if name == "zalobot":
        pytest.skip("the Zalo Bot Platform delivers no location events")
    sender, mid = fresh(name)
    assert say(stack, name, sender, mid, "cuu toi voi, toi bi nhot o campuchia, ho lay mat ho chieu").status_code == 200
    fake.wait_for(lambda: any("113" in t for t in fake.texts_to(sender)), timeout=60)
    fixture = {"zalo": "user_send_location", "facebook": "location", "telegram": "location"}[name]
    _, mid2 = fresh(name)
    assert webhook(stack, name, *signed(name, readdress(name, load(name, fixture), sender, mid2))).status_code == 200
    store = HandoffStore.from_url(db_url(stack))
    # The location and its transcript line are written one after the other: wait for both.
    ticket = fake.wait_for(
        lambda: (t := store.open_ticket_for(name, f"{name}:{sender}")) and t.location
        and any("Vị trí" in m.text for m in t.messages) and t,
        timeout=30,
    )
    assert ticket.channel == name and ticket.location["source"] == name


def test_zalo_token_refresh_works_and_persists(stack: Stack, platforms: dict[str, FakePlatform]) -> None:
    fake: Any = platforms["zalo"]
    before = fake.refreshes
    fake.expire_token()
    sender, mid = fresh("zalo")
    assert say(stack, "zalo", sender, mid, "chào bạn").status_code == 200
    assert fake.wait_texts(sender, timeout=60)
    assert fake.refreshes == before + 1
    pair = ChannelStore.from_url(db_url(stack)).tokens("zalo")
    assert pair is not None and pair.access_token == fake.access_token and pair.refresh_token == fake.refresh_token


def test_facebook_subscription_check_over_http(stack: Stack) -> None:
    url = f"http://127.0.0.1:{stack.ports.rasa}/webhooks/facebook/webhook"
    params = {"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1158201444"}
    assert httpx.get(url, params=params, timeout=10).text == "1158201444"
    assert httpx.get(url, params={**params, "hub.verify_token": "guess"}, timeout=10).status_code == 403


def test_sticker_gets_a_polite_answer(stack: Stack, channel: tuple[str, Any]) -> None:
    name, fake = channel
    sender, mid = fresh(name)
    fixture = {"zalo": "user_send_sticker"}.get(name, "sticker")
    assert webhook(stack, name, *signed(name, readdress(name, load(name, fixture), sender, mid))).status_code == 200
    [text] = fake.wait_texts(sender)
    assert "111" in text and "113" in text


def test_zalobot_caption_emergency_reaches_the_real_bot_and_the_ticket_notes_the_photo(
        stack: Stack, platforms: dict[str, FakePlatform]) -> None:
    fake: Any = platforms["zalobot"]
    sender, mid = fresh("zalobot")
    event = readdress("zalobot", load("zalobot", "image_caption"), sender, mid)
    event["message"]["caption"] = "cuu toi voi, toi bi nhot o campuchia, ho lay mat ho chieu"
    assert webhook(stack, "zalobot", *signed("zalobot", event)).status_code == 200
    fake.wait_for(lambda: any("113" in t for t in fake.texts_to(sender)), timeout=60)
    store = HandoffStore.from_url(db_url(stack))
    ticket = fake.wait_for(lambda: (t := store.open_ticket_for("zalobot", f"zalobot:{sender}"))
                           and any(m.text.startswith("[ảnh] cuu toi voi") for m in t.messages) and t, timeout=30)
    assert ticket.channel == "zalobot"


def test_zalobot_protected_user_gets_the_simple_reply(stack: Stack, platforms: dict[str, FakePlatform]) -> None:
    fake: Any = platforms["zalobot"]
    sender, mid = fresh("zalobot")
    event = readdress("zalobot", load("zalobot", "unsupported"), sender, mid)
    assert webhook(stack, "zalobot", *signed("zalobot", event)).status_code == 200
    assert fake.wait_texts(sender) == [replies.PROTECTED_USER_REPLY]
    audit = HandoffStore.from_url(db_url(stack)).audit_entries()
    assert any(e.action == "protected_user channel=zalobot" for e in audit)


def test_telegram_caption_emergency_reaches_the_real_bot_and_the_ticket_notes_the_photo(
        stack: Stack, platforms: dict[str, FakePlatform]) -> None:
    fake: Any = platforms["telegram"]
    sender, mid = fresh("telegram")
    event = readdress("telegram", load("telegram", "photo_caption"), sender, mid)
    event["message"]["caption"] = "cuu toi voi, toi bi nhot o campuchia, ho lay mat ho chieu"
    assert webhook(stack, "telegram", *signed("telegram", event)).status_code == 200
    fake.wait_for(lambda: any("113" in t for t in fake.texts_to(sender)), timeout=60)
    store = HandoffStore.from_url(db_url(stack))
    ticket = fake.wait_for(lambda: (t := store.open_ticket_for("telegram", f"telegram:{sender}"))
                           and any(m.text.startswith("[ảnh] cuu toi voi") for m in t.messages) and t, timeout=30)
    assert ticket.channel == "telegram"


def test_messenger_standby_text_reaches_the_ticket_and_the_bot_stays_quiet(
        stack: Stack, platforms: dict[str, FakePlatform]) -> None:
    fake: Any = platforms["facebook"]
    sender, mid = fresh("facebook")
    key = f"facebook:{sender}"
    store = HandoffStore.from_url(db_url(stack))
    ticket = store.open_ticket("facebook", key, "urgent", ("lexicon:x",), [("user", "giúp em")])
    take = readdress("facebook", load("facebook", "take_thread_control"), sender)
    assert webhook(stack, "facebook", *signed("facebook", take)).status_code == 200
    standby = readdress("facebook", load("facebook", "standby_text"), sender, mid)
    assert webhook(stack, "facebook", *signed("facebook", standby)).status_code == 200
    fake.wait_for(lambda: any(m.text == "Chị ơi em vẫn chưa về được"
                              for m in (store.get(ticket.id) or ticket).messages), timeout=30)
    time.sleep(2)
    assert fake.texts_to(sender) == [], "the Page inbox has the thread: the bot says nothing"
