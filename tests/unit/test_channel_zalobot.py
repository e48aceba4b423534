"""Zalo Bot Platform: secret token, updates (flat and wrapped), numbered choices, the sender."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from helpline.channels import zalobot
from helpline.channels.config import ZaloBotConfig
from helpline.channels.store import CHOICES_MEMO, ChannelStore
from helpline.errors import ConfigError, SendFailed
from tests.fakes.webhooks import load
from tests.fakes.zalobot import SECRET_TOKEN, FakeZaloBot


@pytest.fixture
def fake() -> Iterator[FakeZaloBot]:
    with FakeZaloBot(timeout_delay=1.5) as platform:
        yield platform  # type: ignore[misc]


@pytest.fixture
def store(tmp_path: Path) -> ChannelStore:
    return ChannelStore.from_url(f"sqlite:///{tmp_path / 'handoff.db'}")


def config_for(fake: FakeZaloBot) -> ZaloBotConfig:
    return ZaloBotConfig.from_env({**fake.env(), "HELPLINE_CHANNEL_TIMEOUT": "0.5"})


def test_secret_token_rules() -> None:
    cfg = ZaloBotConfig.from_env({"ZALO_BOT_TOKEN": "t", "ZALO_BOT_SECRET_TOKEN": SECRET_TOKEN})
    assert zalobot.verify(cfg, SECRET_TOKEN)
    assert not zalobot.verify(cfg, SECRET_TOKEN[:-1]) and not zalobot.verify(cfg, None)
    with pytest.raises(ConfigError, match="8 to 256"):
        ZaloBotConfig.from_env({"ZALO_BOT_TOKEN": "t", "ZALO_BOT_SECRET_TOKEN": "short"})


@pytest.mark.parametrize(("name", "kind"), [
    ("text", "text"), ("sticker", "sticker"), ("image", "image"), ("choice_number", "text"),
    ("unsupported", "protected"), ("group_text", "unknown"), ("voice", "audio"), ("image_photo_url", "image"),
    ("image_caption", "text"),
])
def test_updates_parse(name: str, kind: str) -> None:
    [event] = zalobot.parse(json.dumps(load("zalobot", name)).encode())
    assert event.kind == kind
    if kind != "unknown":
        assert event.sender_id == "e4ea2cd5189df1c3a88c"


def test_image_url_and_ids() -> None:
    [event] = zalobot.parse(json.dumps(load("zalobot", "image")).encode())
    assert event.url and event.message_id == "36f6366b3f02645a3d17"


def test_photo_url_is_read_and_photo_stays_the_legacy_field() -> None:
    [event] = zalobot.parse(json.dumps(load("zalobot", "image_photo_url")).encode())
    assert event.kind == "image" and event.url == "https://photo-stal-15.zadn.vn/redacted-2.jpg"
    [legacy] = zalobot.parse(json.dumps(load("zalobot", "image")).encode())
    assert legacy.url == "https://photo-stal-15.zadn.vn/redacted.jpg"


def test_a_caption_is_the_message_text_with_the_media_noted() -> None:
    [event] = zalobot.parse(json.dumps(load("zalobot", "image_caption")).encode())
    assert (event.kind, event.text, event.media) == ("text", "Họ giữ giấy tờ của tôi, không cho về", "image")
    assert event.url == "https://photo-stal-15.zadn.vn/redacted-3.jpg" and event.user_text == event.text
    [empty] = zalobot.parse(json.dumps(load("zalobot", "image_photo_url")).encode())
    assert empty.media is None and empty.text == "", "an empty caption leaves a plain image"


def test_voice_message_keeps_its_link_and_protected_users_are_not_files() -> None:
    [voice] = zalobot.parse(json.dumps(load("zalobot", "voice")).encode())
    assert voice.kind == "audio" and voice.url == "https://voice-stal.zadn.vn/redacted.aac"
    [hidden] = zalobot.parse(json.dumps(load("zalobot", "unsupported")).encode())
    assert hidden.kind == "protected" and hidden.needs_reply and hidden.text == ""


def test_inbound_with_media_survives_the_journal() -> None:
    [event] = zalobot.parse(json.dumps(load("zalobot", "image_caption")).encode())
    assert type(event).from_json(event.to_json()) == event


def test_buttons_become_a_numbered_list_remembered_per_person(fake: FakeZaloBot, store: ChannelStore) -> None:
    message = {"text": "Có phải bạn muốn hỏi:", "buttons": [
        {"title": "Tổng đài 111 là gì?", "payload": '/ask_faq{"faq_id": "a"}'},
        {"title": "Báo tin ở đâu?", "payload": '/ask_faq{"faq_id": "b"}'}]}
    asyncio.run(zalobot.ZaloBotSender(config_for(fake), store).send("zalobot:chat1", message))
    [text] = fake.texts_to("chat1")
    assert "1. Tổng đài 111 là gì?" in text and "2. Báo tin ở đâu?" in text
    assert store.recall("zalobot", "zalobot:chat1", CHOICES_MEMO, dt.timedelta(hours=1)) == [
        '/ask_faq{"faq_id": "a"}', '/ask_faq{"faq_id": "b"}']


def test_long_text_split_at_2000(fake: FakeZaloBot, store: ChannelStore) -> None:
    text = " ".join(f"Câu thứ {i} trong câu trả lời rất dài." for i in range(150))
    asyncio.run(zalobot.ZaloBotSender(config_for(fake), store).send("zalobot:chat2", {"text": text}))
    parts = fake.texts_to("chat2")
    assert len(parts) >= 3 and all(len(p) <= 2000 for p in parts)
    assert " ".join(parts) == text


def test_a_retry_does_not_resend_delivered_parts(fake: FakeZaloBot, store: ChannelStore) -> None:
    sender = zalobot.ZaloBotSender(config_for(fake), store)
    text = " ".join(f"Câu thứ {i} trong câu trả lời rất dài." for i in range(100))
    fake.fail_next("ok")  # the first part goes through, the second meets an outage
    fake.fail_next("5xx", times=3)

    async def run() -> None:
        with pytest.raises(SendFailed):
            await sender.send("zalobot:chat3", {"text": text})
        assert len(fake.texts_to("chat3")) == 1
        await sender.send("zalobot:chat3", {"text": text})  # the outbox's retry of the same message

    asyncio.run(run())
    parts = fake.texts_to("chat3")
    assert len(parts) >= 2 and " ".join(parts) == text, "every part exactly once, in order"


@pytest.mark.parametrize(("mode", "permanent"), [("5xx", False), ("timeout", False), ("rate_limit", False),
                                                 ("forbidden", True)])
def test_failures(fake: FakeZaloBot, store: ChannelStore, mode: str, permanent: bool) -> None:
    fake.fail_next(mode, times=3)
    with pytest.raises(SendFailed) as caught:
        asyncio.run(zalobot.ZaloBotSender(config_for(fake), store).send("zalobot:chat4", {"text": "x"}))
    assert caught.value.permanent is permanent


def test_set_webhook_and_get_updates(fake: FakeZaloBot) -> None:
    api = zalobot.ZaloBotApi(config_for(fake))
    fake.updates.append(load("zalobot", "text"))

    async def run() -> list[dict]:
        await api.set_webhook("https://example.org/webhooks/zalobot/webhook")
        return await api.get_updates(timeout=1)

    updates = asyncio.run(run())
    assert fake.webhook == {"url": "https://example.org/webhooks/zalobot/webhook", "secret_token": SECRET_TOKEN}
    assert updates[0]["message"]["message_id"] == "16f6366b3f02645a3d15"
