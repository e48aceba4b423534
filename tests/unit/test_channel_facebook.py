"""Messenger: subscription check, signature, documented events, quick replies, Send API errors."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from helpline.channels import facebook
from helpline.channels.config import FacebookConfig
from helpline.channels.store import CHOICES_MEMO, ChannelStore
from helpline.errors import SendFailed
from tests.fakes.facebook import VERIFY_TOKEN, FakeFacebook
from tests.fakes.webhooks import forged, load, signed

FAKE_CONFIG = FacebookConfig.from_env({"FACEBOOK_APP_SECRET": "test-facebook-app-secret",
                                       "FACEBOOK_VERIFY_TOKEN": VERIFY_TOKEN, "FACEBOOK_PAGE_ACCESS_TOKEN": "p"})


@pytest.fixture
def fake() -> Iterator[FakeFacebook]:
    with FakeFacebook(timeout_delay=1.5) as platform:
        yield platform  # type: ignore[misc]


@pytest.fixture
def store(tmp_path: Path) -> ChannelStore:
    return ChannelStore.from_url(f"sqlite:///{tmp_path / 'handoff.db'}")


def sender_for(fake: FakeFacebook, store: ChannelStore, **extra: str) -> facebook.FacebookSender:
    cfg = FacebookConfig.from_env({**fake.env(), "HELPLINE_CHANNEL_TIMEOUT": "0.5", **extra})
    return facebook.FacebookSender(cfg, store)


def test_subscription_check_echoes_the_challenge_only_for_our_token() -> None:
    ok = {"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1158201444"}
    assert facebook.verify_subscription(FAKE_CONFIG, ok) == "1158201444"
    assert facebook.verify_subscription(FAKE_CONFIG, {**ok, "hub.verify_token": "guess"}) is None
    assert facebook.verify_subscription(FAKE_CONFIG, {**ok, "hub.mode": "unsubscribe"}) is None
    assert facebook.verify_subscription(FAKE_CONFIG, {"hub.mode": "subscribe"}) is None


def test_signature_sha256_over_the_raw_body() -> None:
    body, headers = signed("facebook", load("facebook", "text"))
    assert facebook.verify_signature(FAKE_CONFIG, body, headers["X-Hub-Signature-256"])
    assert not facebook.verify_signature(FAKE_CONFIG, body + b" ", headers["X-Hub-Signature-256"])
    assert not facebook.verify_signature(FAKE_CONFIG, body, None)
    assert not facebook.verify_signature(FAKE_CONFIG, body, "sha1=" + "0" * 40)
    body, headers = forged("facebook", load("facebook", "text"))
    assert not facebook.verify_signature(FAKE_CONFIG, body, headers["X-Hub-Signature-256"])


@pytest.mark.parametrize(("name", "kinds"), [
    ("text", ["text"]), ("sticker", ["sticker"]), ("image", ["image"]), ("location", ["location"]),
    ("quick_reply", ["postback"]), ("postback", ["postback"]), ("read", ["seen"]), ("echo", ["unknown"]),
    ("batched_duplicate", ["text", "text"]), ("reaction", ["unknown"]), ("standby_text", ["text"]),
    ("take_thread_control", ["handover"]), ("pass_thread_control", ["handover"]), ("fallback_link", ["text"]),
    ("referral", ["referral"]),
])
def test_documented_events_parse(name: str, kinds: list[str]) -> None:
    events = facebook.parse(json.dumps(load("facebook", name)).encode())
    assert [e.kind for e in events] == kinds


def test_event_details() -> None:
    [quick] = facebook.parse(json.dumps(load("facebook", "quick_reply")).encode())
    assert quick.user_text == "/ask_hotline" and quick.sender_id == "6789012345678901"
    [postback] = facebook.parse(json.dumps(load("facebook", "postback")).encode())
    assert postback.user_text == "/ask_human" and postback.message_id == "m_AbCdEfGhIjKlMnOpQrStUv0006"
    [loc] = facebook.parse(json.dumps(load("facebook", "location")).encode())
    assert loc.location is not None and loc.location.latitude == 21.0285
    first, second = facebook.parse(json.dumps(load("facebook", "batched_duplicate")).encode())
    assert first.message_id == second.message_id
    assert facebook.parse(json.dumps({"object": "instagram", "entry": []}).encode()) == []


def test_short_buttons_become_quick_replies() -> None:
    objects, choices = facebook.message_objects(
        {"text": "Bạn cần gì?", "buttons": [{"title": "Đường dây nóng", "payload": "/ask_hotline"}]})
    assert objects == [{"text": "Bạn cần gì?", "quick_replies": [
        {"content_type": "text", "title": "Đường dây nóng", "payload": "/ask_hotline"}]}]
    assert choices == ()


def test_long_button_titles_are_numbered_in_the_text() -> None:
    title = "Người lao động bị giữ hộ chiếu thì phải làm gì?"
    objects, choices = facebook.message_objects({"text": "Có phải bạn muốn hỏi:", "buttons": [
        {"title": title, "payload": "/ask_faq{\"faq_id\": \"x\"}"}]})
    assert f"1. {title}" in objects[-1]["text"]
    quick = objects[-1]["quick_replies"][0]
    assert len(quick["title"]) <= 20 and quick["title"].startswith("1. ") and quick["payload"].startswith("/ask_faq")
    assert choices == ('/ask_faq{"faq_id": "x"}',)


def test_long_text_is_split_at_2000_with_quick_replies_last() -> None:
    text = " ".join(f"Đây là câu thứ {i} của câu trả lời dài." for i in range(120))
    objects, _ = facebook.message_objects({"text": text, "buttons": [{"title": "Xem thêm", "payload": "/more"}]})
    assert len(objects) >= 3 and all(len(o["text"]) <= 2000 for o in objects)
    assert "quick_replies" in objects[-1] and all("quick_replies" not in o for o in objects[:-1])


def test_send_and_numbered_choices_are_remembered(fake: FakeFacebook, store: ChannelStore) -> None:
    title = "Người lao động bị giữ hộ chiếu thì phải làm gì?"
    asyncio.run(sender_for(fake, store).send("facebook:psid1", {"text": "Chọn:", "buttons": [{"title": title,
                                                                                     "payload": "/p1"}]}))
    [delivered] = fake.to("psid1")
    assert delivered.extra["request"]["messaging_type"] == "RESPONSE"
    assert fake.requests[-1].query["access_token"] == fake.page_token
    assert store.recall("facebook", "facebook:psid1", CHOICES_MEMO, dt.timedelta(hours=1)) == ["/p1"]


def test_outside_the_window_a_bot_reply_fails_permanently(fake: FakeFacebook, store: ChannelStore) -> None:
    fake.closed_window.add("psid2")
    with pytest.raises(SendFailed) as caught:
        asyncio.run(sender_for(fake, store).send("facebook:psid2", {"text": "x"}))
    assert caught.value.permanent and "24 h" in str(caught.value)


def test_staff_replies_use_human_agent_outside_the_window(fake: FakeFacebook, store: ChannelStore) -> None:
    fake.closed_window.add("psid3")
    asyncio.run(sender_for(fake, store).send("facebook:psid3", {"text": "Nhân viên đây"}, kind="staff"))
    [delivered] = fake.to("psid3")
    assert delivered.extra["request"]["tag"] == "HUMAN_AGENT"
    with pytest.raises(SendFailed):  # not configured: not tagged
        untagged = sender_for(fake, store, FACEBOOK_HUMAN_AGENT="0")
        asyncio.run(untagged.send("facebook:psid3", {"text": "x"}, kind="staff"))


@pytest.mark.parametrize(("mode", "permanent"), [("5xx", False), ("timeout", False), ("rate_limit", False),
                                                 ("bad_token", False)])
def test_failures_map_to_send_failed(fake: FakeFacebook, store: ChannelStore, mode: str, permanent: bool) -> None:
    fake.fail_next(mode, times=3)
    with pytest.raises(SendFailed) as caught:
        asyncio.run(sender_for(fake, store).send("facebook:psid4", {"text": "x"}))
    assert caught.value.permanent is permanent


def test_rate_limit_codes_are_transient() -> None:
    import httpx

    response = httpx.Response(400, json={"error": {"code": 613, "message": "Calls exceeded"}})
    failed = facebook.error_for(response)
    assert not failed.permanent and failed.retry_after == 60.0
    gone = facebook.error_for(httpx.Response(400, json={"error": {"code": 551, "message": "unavailable"}}))
    assert gone.permanent


def test_standby_handover_link_and_referral_details() -> None:
    [standby] = facebook.parse(json.dumps(load("facebook", "standby_text")).encode())
    assert standby.extra["standby"] is True and standby.text == "Chị ơi em vẫn chưa về được"
    [take] = facebook.parse(json.dumps(load("facebook", "take_thread_control")).encode())
    assert take.extra["action"] == "take" and take.extra["owner"] == facebook.PAGE_INBOX_APP_ID
    assert take.sender_id == "6789012345678901" and take.needs_reply
    [back] = facebook.parse(json.dumps(load("facebook", "pass_thread_control")).encode())
    assert back.extra["action"] == "pass"
    [link] = facebook.parse(json.dumps(load("facebook", "fallback_link")).encode())
    assert link.media == "link" and link.url == "https://example.com/tuyen-dung"
    assert link.text == "Tuyển lao động đi Campuchia lương 2000 USD https://example.com/tuyen-dung"
    [ref] = facebook.parse(json.dumps(load("facebook", "referral")).encode())
    assert ref.kind == "referral" and ref.extra["source"] == "SHORTLINK"
    # A seen receipt in standby stays silent; an echo of the inbox's own reply is never answered.
    data = load("facebook", "standby_text")
    data["entry"][0]["standby"][0] = {**data["entry"][0]["standby"][0], "read": {"watermark": 1}}
    assert [e.kind for e in facebook.parse(json.dumps(data).encode())] == ["seen"]
    data["entry"][0]["standby"][0] = {"sender": {"id": "105123456789012"}, "recipient": {"id": "6789012345678901"},
                                      "timestamp": 1, "message": {"mid": "m_echo", "is_echo": True, "text": "Chào"}}
    assert not facebook.parse(json.dumps(data).encode())[0].needs_reply


@pytest.mark.parametrize("subcode", [2018278, 2534022])
def test_both_window_subcodes_fail_permanently(fake: FakeFacebook, store: ChannelStore, subcode: int) -> None:
    fake.closed_window.add("psid4")
    fake.window_subcode = subcode
    with pytest.raises(SendFailed) as caught:
        asyncio.run(sender_for(fake, store, FACEBOOK_HUMAN_AGENT="0").send("facebook:psid4", {"text": "x"}))
    assert caught.value.permanent and "24 h" in str(caught.value) and str(subcode) in str(caught.value)


def test_pass_and_take_thread_control(fake: FakeFacebook, store: ChannelStore) -> None:
    sender = sender_for(fake, store)

    async def go() -> tuple[bool, bool]:
        await sender.pass_thread("facebook:psid5", "handed to staff")
        elsewhere = await facebook.thread_elsewhere(store, "facebook:psid5")
        await sender.take_thread("facebook:psid5", "back")
        return elsewhere, await facebook.thread_elsewhere(store, "facebook:psid5")

    assert asyncio.run(go()) == (True, False)
    assert fake.controls == [("pass_thread_control", "psid5"), ("take_thread_control", "psid5")]
    passed = next(r for r in fake.requests if r.path.endswith("/pass_thread_control"))
    assert passed.body["target_app_id"] == facebook.PAGE_INBOX_APP_ID and passed.body["recipient"] == {"id": "psid5"}
    assert "psid5" not in fake.thread_owner


def test_a_staff_reply_to_a_thread_the_inbox_owns_takes_it_back_first(fake: FakeFacebook,
                                                                      store: ChannelStore) -> None:
    sender = sender_for(fake, store)
    item = type("Item", (), {"recipient_id": "facebook:psid6", "message": {"text": "Nhân viên đây"}, "kind": "staff"})

    async def go() -> None:
        await facebook.remember_thread(store, "facebook:psid6", facebook.PAGE_INBOX_APP_ID)
        await sender.send_item(item)
        item.kind = "bot"
        await sender.send_item(item)  # the thread is the bot's now: no second take

    asyncio.run(go())
    assert fake.controls == [("take_thread_control", "psid6")]
    assert [d.text for d in fake.to("psid6")] == ["Nhân viên đây", "Nhân viên đây"]
    order = [r.path.rsplit("/", 1)[1] for r in fake.requests if r.body and "psid6" in json.dumps(r.body)]
    assert order[:2] == ["take_thread_control", "messages"]
