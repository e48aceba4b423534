"""Telegram protocol code that needs no python-telegram-bot: secret, updates, reply mapping.

The PTB-based sender is tested in the Rasa environment (tests/rasa_env), where PTB is installed.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpline.channels import telegram
from helpline.channels.config import TelegramConfig
from helpline.channels.store import ChannelStore
from helpline.errors import ConfigError
from tests.fakes.telegram import SECRET_TOKEN
from tests.fakes.webhooks import load


def test_secret_token_header() -> None:
    cfg = TelegramConfig.from_env({"TELEGRAM_BOT_TOKEN": "1:x", "TELEGRAM_SECRET_TOKEN": SECRET_TOKEN})
    assert telegram.verify(cfg, SECRET_TOKEN)
    assert not telegram.verify(cfg, "wrong") and not telegram.verify(cfg, None) and not telegram.verify(cfg, "")
    with pytest.raises(ConfigError, match="TELEGRAM_SECRET_TOKEN must be"):
        TelegramConfig.from_env({"TELEGRAM_BOT_TOKEN": "1:x", "TELEGRAM_SECRET_TOKEN": "has spaces"})


@pytest.mark.parametrize(("name", "kind"), [
    ("text", "text"), ("sticker", "sticker"), ("photo", "image"), ("location", "location"),
    ("callback_query", "postback"), ("edited_message", "unknown"), ("group_text", "unknown"),
])
def test_updates_parse(name: str, kind: str) -> None:
    [event] = telegram.parse(json.dumps(load("telegram", name)).encode())
    assert event.kind == kind
    if kind != "unknown":
        assert event.sender_id == "987654321"


def test_update_details() -> None:
    [query] = telegram.parse(json.dumps(load("telegram", "callback_query")).encode())
    assert query.user_text == "/ask_hotline" and query.extra["callback_query_id"] == "4382bfdwdsb323b2d9"
    assert query.message_id == "u700000005"
    [loc] = telegram.parse(json.dumps(load("telegram", "location")).encode())
    assert loc.location is not None and loc.location.longitude == 104.9282
    with pytest.raises(ValueError):
        telegram.parse(b'{"message": {}}')


def test_buttons_become_an_inline_keyboard_with_short_callback_data(tmp_path: Path) -> None:
    store = ChannelStore.from_url(f"sqlite:///{tmp_path / 'handoff.db'}")
    long_payload = '/ask_faq{"faq_id": "bao-tin-tong-dai-111-mien-phi", "faq_part": "more"}'
    calls = telegram.requests_for("42", {"text": "Xem:", "buttons": [
        {"title": "Đường dây nóng", "payload": "/ask_hotline"}, {"title": "Xem thêm", "payload": long_payload}]},
        store)
    [(method, params)] = calls
    keyboard = params["reply_markup"]["inline_keyboard"]
    assert method == "sendMessage" and params["chat_id"] == "42"
    assert keyboard[0] == [{"text": "Đường dây nóng", "callback_data": "/ask_hotline"}]
    key = keyboard[1][0]["callback_data"]
    assert len(key.encode()) <= 64 and store.payload_for(key) == long_payload


def test_long_text_split_at_4096_keyboard_last() -> None:
    text = " ".join(f"Câu thứ {i} của một câu trả lời rất dài về luật." for i in range(200))
    calls = telegram.requests_for("42", {"text": text, "buttons": [{"title": "Có", "payload": "/affirm"}]})
    assert len(calls) >= 2 and all(len(p["text"]) <= 4096 for _, p in calls)
    assert "reply_markup" in calls[-1][1] and all("reply_markup" not in p for _, p in calls[:-1])


@pytest.mark.parametrize(("name", "media"), [("photo_caption", "image"), ("document_caption", "file")])
def test_a_caption_on_a_photo_or_document_is_the_message_text(name: str, media: str) -> None:
    data = load("telegram", name)
    [event] = telegram.parse(json.dumps(data).encode())
    assert event.kind == "text" and event.media == media
    assert event.user_text == data["message"]["caption"]
    # Without the caption the same media is answered as media, not as an empty text.
    del data["message"]["caption"]
    [bare] = telegram.parse(json.dumps(data).encode())
    assert bare.kind == media and bare.media is None


def test_a_blank_caption_is_not_a_message() -> None:
    data = load("telegram", "photo_caption")
    data["message"]["caption"] = "   "
    [event] = telegram.parse(json.dumps(data).encode())
    assert event.kind == "image"
