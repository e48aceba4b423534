"""The python-telegram-bot sender against the fake Bot API: mapping, errors, webhook set-up, no token in logs."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from helpline.channels.config import TelegramConfig
from helpline.channels.store import ChannelStore
from helpline.channels.telegram import TelegramSender
from helpline.errors import SendFailed
from tests.fakes.telegram import SECRET_TOKEN, TOKEN, FakeTelegram


@pytest.fixture
def fake() -> Iterator[FakeTelegram]:
    with FakeTelegram(timeout_delay=2.5) as platform:
        yield platform  # type: ignore[misc]


def sender_for(fake: FakeTelegram, tmp_path: Path) -> TelegramSender:
    cfg = TelegramConfig.from_env({**fake.env(), "HELPLINE_CHANNEL_TIMEOUT": "1"})
    return TelegramSender(cfg, ChannelStore.from_url(f"sqlite:///{tmp_path / 'h.db'}"))


def send(sender: TelegramSender, chat: str, message: dict) -> None:
    """Send to Telegram chat ``chat``: the outbox holds its conversation key, ``telegram:<chat>``."""
    async def go() -> None:
        try:
            await sender.send(f"telegram:{chat}", message)
        finally:
            await sender.aclose()

    asyncio.run(go())


def test_text_with_inline_keyboard_and_no_token_in_logs(fake: FakeTelegram, tmp_path: Path,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG):
        buttons = [{"title": "111", "payload": "/ask_hotline"}]
        send(sender_for(fake, tmp_path), "42", {"text": "Chọn:", "buttons": buttons})
    [delivered] = fake.to("42")
    assert delivered.text == "Chọn:"
    assert delivered.extra["reply_markup"] == {"inline_keyboard": [[{"text": "111", "callback_data": "/ask_hotline"}]]}
    assert caplog.records, "the libraries did log"
    assert TOKEN not in caplog.text and TOKEN.split(":")[1] not in caplog.text


def test_flood_control_is_waited_out_inline(fake: FakeTelegram, tmp_path: Path) -> None:
    fake.fail_next("rate_limit")
    send(sender_for(fake, tmp_path), "42", {"text": "x"})
    assert fake.texts_to("42") == ["x"]


@pytest.mark.parametrize(("mode", "permanent"), [("rate_limit", False), ("5xx", False), ("timeout", False),
                                                 ("forbidden", True)])
def test_failures(fake: FakeTelegram, tmp_path: Path, mode: str, permanent: bool) -> None:
    fake.fail_next(mode, times=3)
    with pytest.raises(SendFailed) as caught:
        send(sender_for(fake, tmp_path), "42", {"text": "x"})
    assert caught.value.permanent is permanent
    if mode == "rate_limit":
        assert caught.value.retry_after == 1


def test_set_webhook_with_secret_and_polling(fake: FakeTelegram, tmp_path: Path) -> None:
    sender = sender_for(fake, tmp_path)
    fake.updates.append({"update_id": 5, "message": {"message_id": 1, "date": 1751328000, "text": "hi",
                                                     "chat": {"id": 7, "type": "private"}}})

    async def go() -> list[dict]:
        try:
            assert await sender.set_webhook("https://example.org/webhooks/telegram/webhook")
            assert await sender.delete_webhook()
            return await sender.get_updates(None, timeout=0)
        finally:
            await sender.aclose()

    updates = asyncio.run(go())
    assert updates[0]["update_id"] == 5
    set_call = next(r for r in fake.requests if r.path.endswith("/setWebhook"))
    assert set_call.body["secret_token"] == SECRET_TOKEN
    assert set_call.body["url"] == "https://example.org/webhooks/telegram/webhook"
