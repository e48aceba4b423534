"""Replies survive platform outages and a process restart: outbox + real senders + fake platforms."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import pytest

from helpline.channels import facebook, zalo, zalobot
from helpline.channels.config import FacebookConfig, ZaloBotConfig, ZaloConfig
from helpline.channels.outbox import Outbox, OutboxWorker
from helpline.channels.store import ChannelStore
from tests.conftest import Clock
from tests.fakes.facebook import FakeFacebook
from tests.fakes.zalo import FakeZalo
from tests.fakes.zalobot import FakeZaloBot

PLATFORMS: dict[str, Any] = {
    "zalo": (FakeZalo, ZaloConfig, zalo.ZaloSender),
    "zalobot": (FakeZaloBot, ZaloBotConfig, zalobot.ZaloBotSender),
    "facebook": (FakeFacebook, FacebookConfig, facebook.FacebookSender),
}


class Process:
    """What one Rasa process holds: its own outbox, store and sender over the shared database."""

    def __init__(self, url: str, clock: Clock, channel: str, fake: Any) -> None:
        _, config_cls, self.sender_cls = PLATFORMS[channel]
        self.channel = channel
        self.outbox = Outbox.from_url(url, now=clock)
        self.store = ChannelStore.from_url(url, now=clock)
        self.config = config_cls.from_env({**fake.env(), "HELPLINE_CHANNEL_TIMEOUT": "0.5"})

    def deliver(self) -> int:
        """One delivery round in its own event loop (as the worker would run one)."""
        async def go() -> int:
            sender = self.sender_cls(self.config, self.store)
            try:
                return await OutboxWorker(self.outbox, {self.channel: sender}).run_once()
            finally:
                await sender.aclose()

        return asyncio.run(go())


@pytest.mark.parametrize("channel", list(PLATFORMS))
def test_reply_survives_an_outage_and_a_restart(channel: str, tmp_path: Path, clock: Clock) -> None:
    url = f"sqlite:///{tmp_path / 'handoff.db'}"
    with PLATFORMS[channel][0](timeout_delay=1.0) as fake:
        first = Process(url, clock, channel, fake)
        item = first.outbox.enqueue(channel, f"{channel}:person-1", {"text": "Gọi 111"}, dedupe_key=f"{channel}:m1:0")
        assert item is not None
        fake.fail_next("5xx", times=3)
        assert first.deliver() == 0
        kept = first.outbox.get(item)
        assert kept is not None and kept.status == "pending" and "503" in (kept.last_error or "")
        fake.fail_next("timeout", times=3)
        clock.advance(seconds=5)
        assert first.deliver() == 0
        del first  # the process dies; the row stays in the database
        clock.advance(seconds=5)
        second = Process(url, clock, channel, fake)
        assert second.deliver() == 1
        assert second.deliver() == 0
        assert fake.texts_to("person-1") == ["Gọi 111"]
        sent = second.outbox.get(item)
        assert sent is not None and sent.status == "sent" and sent.attempts == 3


def test_permanent_failures_are_recorded_with_their_reason(tmp_path: Path, clock: Clock) -> None:
    url = f"sqlite:///{tmp_path / 'handoff.db'}"
    with FakeZalo() as fake:
        proc = Process(url, clock, "zalo", fake)
        item = proc.outbox.enqueue("zalo", "zalo:person-2", {"text": "x"})
        fake.fail_next("no_interaction")
        proc.deliver()
        failed = proc.outbox.get(item)  # type: ignore[arg-type]
        assert failed is not None and failed.status == "failed" and "-230" in (failed.last_error or "")
        assert "7 days" in (failed.last_error or "")
    with FakeFacebook() as fb:
        fb.closed_window.add("psid-9")
        proc = Process(url, clock, "facebook", fb)
        item = proc.outbox.enqueue("facebook", "facebook:psid-9", {"text": "x"})
        proc.deliver()
        failed = proc.outbox.get(item)  # type: ignore[arg-type]
        assert failed is not None and failed.status == "failed" and "24 h" in (failed.last_error or "")


def test_staff_reply_outside_the_window_goes_with_the_human_agent_tag(tmp_path: Path, clock: Clock) -> None:
    with FakeFacebook() as fb:
        fb.closed_window.add("psid-10")
        proc = Process(f"sqlite:///{tmp_path / 'h.db'}", clock, "facebook", fb)
        proc.outbox.enqueue("facebook", "facebook:psid-10", {"text": "Nhân viên 111 đây."}, kind="staff")
        assert proc.deliver() == 1
        assert fb.to("psid-10")[0].extra["request"]["tag"] == "HUMAN_AGENT"


def test_token_refresh_logs_no_secret(tmp_path: Path, clock: Clock, caplog: pytest.LogCaptureFixture) -> None:
    with FakeZalo() as fake, caplog.at_level(logging.DEBUG):
        proc = Process(f"sqlite:///{tmp_path / 'h.db'}", clock, "zalo", fake)
        proc.outbox.enqueue("zalo", "zalo:person-3", {"text": "x"})
        fake.fail_next("expired_token")
        assert proc.deliver() == 1
        secrets = [fake.access_token, fake.refresh_token, "zalo-access-1", "zalo-refresh-1", fake.app_secret]
    assert "refreshed" in caplog.text
    assert not any(secret in caplog.text for secret in secrets)
