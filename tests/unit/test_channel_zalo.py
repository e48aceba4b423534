"""Zalo OA: signature, parsing of documented events, mapping, and the sender against a fake Zalo."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from helpline import replies
from helpline.channels import zalo
from helpline.channels.config import ZaloConfig
from helpline.channels.store import ChannelStore
from helpline.channels.zalo_oauth import TOKEN_CHANNEL
from helpline.errors import ConfigError, SendFailed
from tests.fakes.webhooks import forged, load, signed
from tests.fakes.zalo import FakeZalo


@pytest.fixture
def fake() -> Iterator[FakeZalo]:
    with FakeZalo(timeout_delay=1.5) as platform:
        yield platform  # type: ignore[misc]


def config_for(fake: FakeZalo, **extra: str) -> ZaloConfig:
    return ZaloConfig.from_env({**fake.env(), "HELPLINE_CHANNEL_TIMEOUT": "0.5", **extra})


@pytest.fixture
def store(tmp_path: Path) -> ChannelStore:
    return ChannelStore.from_url(f"sqlite:///{tmp_path / 'handoff.db'}")


def test_missing_settings_name_every_variable() -> None:
    with pytest.raises(ConfigError, match="ZALO_OA_SECRET_KEY, ZALO_REFRESH_TOKEN not set"):
        ZaloConfig.from_env({"ZALO_APP_ID": "1", "ZALO_ACCESS_TOKEN": "a", "ZALO_APP_SECRET": "s"})


def test_secrets_stay_out_of_repr(fake: FakeZalo) -> None:
    text = repr(config_for(fake))
    assert fake.access_token not in text and "test-oa-secret-key" not in text


def test_signature_is_checked_over_the_raw_body(fake: FakeZalo) -> None:
    cfg = config_for(fake)
    body, headers = signed("zalo", load("zalo", "user_send_text"))
    assert zalo.verify(cfg, body, headers["X-ZEvent-Signature"])
    assert zalo.verify(cfg, body, headers["X-ZEvent-Signature"].removeprefix("mac="))
    assert not zalo.verify(cfg, body, None)
    assert not zalo.verify(cfg, body.replace("phạt".encode(), "xử".encode()), headers["X-ZEvent-Signature"])
    bad_body, bad_headers = forged("zalo", load("zalo", "user_send_text"))
    assert not zalo.verify(cfg, bad_body, bad_headers["X-ZEvent-Signature"])
    other_app = dict(load("zalo", "user_send_text"), app_id="999")
    body, headers = signed("zalo", other_app)
    assert not zalo.verify(cfg, body, headers["X-ZEvent-Signature"])


@pytest.mark.parametrize(("name", "kind"), [
    ("user_send_text", "text"), ("user_send_sticker", "sticker"), ("user_send_image", "image"),
    ("user_send_location", "location"), ("button_payload", "text"), ("user_seen_message", "seen"),
    ("user_received_message", "seen"),
    ("follow", "unknown"),
])
def test_documented_events_parse(name: str, kind: str) -> None:
    [event] = zalo.parse(json.dumps(load("zalo", name)).encode())
    assert event.kind == kind and event.channel == "zalo"
    if kind != "unknown":
        assert event.sender_id == "2468458835296117922"


def test_event_details() -> None:
    [text] = zalo.parse(json.dumps(load("zalo", "user_send_text")).encode())
    assert text.message_id == "96d3cdf3af150460909" and "phạt" in text.text
    [loc] = zalo.parse(json.dumps(load("zalo", "user_send_location")).encode())
    assert loc.location is not None and (loc.location.latitude, loc.location.longitude) == (10.7642473, 106.6564313)
    [img] = zalo.parse(json.dumps(load("zalo", "user_send_image")).encode())
    assert img.url and img.url.startswith("https://")
    [tap] = zalo.parse(json.dumps(load("zalo", "button_payload")).encode())
    assert tap.user_text == "/ask_hotline"
    with pytest.raises(ValueError):
        zalo.parse(b"[1, 2]")


def test_buttons_become_oa_query_buttons_on_the_last_part() -> None:
    long_text = " ".join(f"Câu số {i} nói về luật phòng, chống mua bán người." for i in range(80))
    message = {"text": long_text, "buttons": [{"title": "Xem thêm", "payload": '/ask_faq{"faq_id": "a"}'}]}
    bodies, choices = zalo.request_bodies("u1", message)
    assert len(bodies) >= 2 and choices == ('/ask_faq{"faq_id": "a"}',)
    assert all(len(b["message"]["text"]) <= 2000 for b in bodies)
    assert all(b["message"]["text"].endswith(".") for b in bodies[:-1]), "split on sentence boundaries"
    assert bodies[-1]["message"]["text"].endswith("1. Xem thêm\n" + replies.CHOOSE_BY_NUMBER), "numbered as well"
    assert "attachment" not in bodies[0]["message"]
    buttons = bodies[-1]["message"]["attachment"]["payload"]["buttons"]
    assert buttons == [{"title": "Xem thêm", "type": "oa.query.hide", "payload": '/ask_faq{"faq_id": "a"}'}]
    assert bodies[-1]["recipient"] == {"user_id": "u1"}


def test_too_many_buttons_fall_back_to_numbered_text() -> None:
    message = {"text": "Chọn:", "buttons": [{"title": f"Lựa chọn {i}", "payload": f"/p{i}"} for i in range(7)]}
    bodies, choices = zalo.request_bodies("u1", message)
    assert choices == tuple(f"/p{i}" for i in range(7))
    assert "1. Lựa chọn 0" in bodies[-1]["message"]["text"] and "attachment" not in bodies[-1]["message"]


def test_send_uses_the_access_token_header(fake: FakeZalo, store: ChannelStore) -> None:
    sender = zalo.ZaloSender(config_for(fake), store)
    asyncio.run(sender.send("zalo:u1", {"text": "Gọi 111"}))
    assert fake.texts_to("u1") == ["Gọi 111"]
    assert fake.requests[-1].headers["access_token"] == "zalo-access-1"


def test_expired_token_is_refreshed_once_and_the_pair_persisted(fake: FakeZalo, store: ChannelStore,
                                                                tmp_path: Path) -> None:
    cfg = config_for(fake)
    fake.fail_next("expired_token")

    async def run() -> None:
        sender = zalo.ZaloSender(cfg, store)
        await sender.send("zalo:u1", {"text": "một"})
        await sender.aclose()

    asyncio.run(run())
    assert fake.texts_to("u1") == ["một"] and fake.refreshes == 1
    assert fake.spent_refresh_tokens == ["zalo-refresh-1"]
    # A new process (same configured, now spent, pair) reads the stored pair.
    again = ChannelStore.from_url(f"sqlite:///{tmp_path / 'handoff.db'}")
    pair = again.tokens(TOKEN_CHANNEL)
    assert pair is not None and pair.access_token == fake.access_token and pair.refresh_token == fake.refresh_token
    assert pair.expires_at is not None
    fake.expire_token()

    async def restart() -> None:
        sender = zalo.ZaloSender(cfg, again)
        await sender.send("zalo:u1", {"text": "hai"})
        await sender.aclose()

    asyncio.run(restart())
    assert fake.texts_to("u1") == ["một", "hai"] and fake.refreshes == 2


def test_concurrent_token_expiry_spends_the_refresh_token_once(fake: FakeZalo, store: ChannelStore) -> None:
    cfg = config_for(fake)

    async def run() -> None:
        first, second = zalo.ZaloSender(cfg, store), zalo.ZaloSender(cfg, store)
        await first.send("zalo:warm", {"text": "x"})
        await second.send("zalo:warm", {"text": "x"})
        fake.expire_token()
        await asyncio.gather(first.send("zalo:u1", {"text": "a"}), second.send("zalo:u2", {"text": "b"}))

    asyncio.run(run())
    assert fake.refreshes == 1
    assert fake.texts_to("u1") == ["a"] and fake.texts_to("u2") == ["b"]


def test_operator_supplied_new_pair_replaces_the_stored_one(fake: FakeZalo, store: ChannelStore) -> None:
    fake.fail_next("expired_token")
    asyncio.run(zalo.ZaloSender(config_for(fake), store).send("zalo:u1", {"text": "a"}))
    fake.access_token, fake.refresh_token = "re-authorised-access", "re-authorised-refresh"
    cfg = config_for(fake)  # the operator put the new pair in the environment
    asyncio.run(zalo.ZaloSender(cfg, store).send("zalo:u1", {"text": "b"}))
    assert fake.texts_to("u1") == ["a", "b"] and fake.refreshes == 1


def test_no_interaction_in_7_days_is_permanent(fake: FakeZalo, store: ChannelStore) -> None:
    fake.fail_next("no_interaction")
    with pytest.raises(SendFailed) as caught:
        asyncio.run(zalo.ZaloSender(config_for(fake), store).send("zalo:u1", {"text": "x"}))
    assert caught.value.permanent and "-230" in str(caught.value)


@pytest.mark.parametrize("mode", ["5xx", "timeout", "rate_limit", "quota"])
def test_outages_are_transient(fake: FakeZalo, store: ChannelStore, mode: str) -> None:
    fake.fail_next(mode, times=3)
    with pytest.raises(SendFailed) as caught:
        asyncio.run(zalo.ZaloSender(config_for(fake), store).send("zalo:u1", {"text": "x"}))
    assert not caught.value.permanent
    if mode in ("rate_limit", "quota"):
        assert caught.value.retry_after
    assert fake.texts_to("u1") == []


def test_a_blip_is_retried_inline(fake: FakeZalo, store: ChannelStore) -> None:
    fake.fail_next("5xx", times=2)
    asyncio.run(zalo.ZaloSender(config_for(fake), store).send("zalo:u1", {"text": "x"}))
    assert fake.texts_to("u1") == ["x"]


def test_refused_refresh_keeps_the_message_for_later(fake: FakeZalo, store: ChannelStore) -> None:
    cfg = config_for(fake)
    fake.refresh_token = "already-rotated-elsewhere"
    fake.expire_token()
    with pytest.raises(SendFailed) as caught:
        asyncio.run(zalo.ZaloSender(cfg, store).send("zalo:u1", {"text": "x"}))
    assert not caught.value.permanent and caught.value.retry_after and "refresh refused" in str(caught.value)


def test_access_token_expired_220_is_refreshed_like_216(fake: FakeZalo, store: ChannelStore) -> None:
    fake.fail_next("expired_token_220")

    async def run() -> None:
        sender = zalo.ZaloSender(config_for(fake), store)
        await sender.send("zalo:u1", {"text": "một"})
        await sender.aclose()

    asyncio.run(run())
    assert fake.texts_to("u1") == ["một"] and fake.refreshes == 1
    assert fake.spent_refresh_tokens == ["zalo-refresh-1"]


@pytest.mark.parametrize(("code", "words"), [
    (-227, "locked, or inactive for more than 45 days"), (-232, "interaction has expired"),
    (-244, "blocked this type of message"), (-248, "platform policy"),
    (-320, "no Zalo Cloud Account is linked"), (-321, "out of credit"),
])
def test_permanent_codes_are_not_retried_and_say_why(fake: FakeZalo, store: ChannelStore, code: int,
                                                     words: str) -> None:
    fake.fail_next(f"code:{code}", times=5)
    with pytest.raises(SendFailed) as caught:
        asyncio.run(zalo.ZaloSender(config_for(fake), store).send("zalo:u1", {"text": "x"}))
    assert caught.value.permanent and f"zalo {code}: " in str(caught.value) and words in str(caught.value)
    sends = [r for r in fake.requests if r.path == "/v3.0/oa/message/cs"]
    assert len(sends) == 1, "a permanent refusal is not retried inline"


@pytest.mark.parametrize(("utc", "hours"), [
    (dt.datetime(2026, 12, 3, 15, 0, tzinfo=dt.timezone.utc), 8.0),    # 22:00 in Vietnam
    (dt.datetime(2026, 12, 3, 22, 30, tzinfo=dt.timezone.utc), 0.5),   # 05:30 in Vietnam
    (dt.datetime(2026, 12, 3, 17, 0), 6.0),                            # naive = UTC: midnight in Vietnam
    (dt.datetime(2026, 12, 3, 23, 0, tzinfo=dt.timezone.utc), 24.0),   # 06:00 sharp: the next morning
])
def test_seconds_until_six_in_the_morning_in_vietnam(utc: dt.datetime, hours: float) -> None:
    assert zalo.seconds_until_morning(utc) == hours * 3600


def test_quiet_hours_234_holds_the_message_until_six(fake: FakeZalo, store: ChannelStore) -> None:
    night = dt.datetime(2026, 12, 3, 16, 30, tzinfo=dt.timezone.utc)  # 23:30 in Vietnam
    fake.fail_next("code:-234", times=5)
    with pytest.raises(SendFailed) as caught:
        asyncio.run(zalo.ZaloSender(config_for(fake), store, now=lambda: night).send("zalo:u1", {"text": "x"}))
    assert not caught.value.permanent and caught.value.retry_after == 6.5 * 3600
    assert "-234" in str(caught.value) and "06:00" in str(caught.value)
    assert len([r for r in fake.requests if r.path == "/v3.0/oa/message/cs"]) == 1, "not retried in the night"


def test_the_outbox_refuses_a_message_once_the_7_day_window_closed(fake: FakeZalo, store: ChannelStore) -> None:
    from helpline.channels.inbound import Inbound

    store.claim_inbound(Inbound("zalo", "u9", "m9", "text", text="chào"))
    last = store.last_inbound_at("zalo", "u9")
    assert last is not None
    now = {"t": last + dt.timedelta(days=3)}  # paid window: still sent (Zalo charges the Cloud Account)
    sender = zalo.ZaloSender(config_for(fake), store, now=lambda: now["t"])

    async def go() -> tuple[int, SendFailed | None]:
        await sender.send("zalo:u9", {"text": "Nhân viên đây"})
        now["t"] = last + dt.timedelta(days=7, minutes=1)
        calls = len(fake.requests)
        refused = None
        try:
            await sender.send("zalo:u9", {"text": "muộn"})
        except SendFailed as exc:
            refused = exc
        calls = len(fake.requests) - calls
        await sender.send("zalo:u10", {"text": "x"})  # unknown history (nothing journaled): Zalo decides
        return calls, refused

    calls, refused = asyncio.run(go())
    assert fake.texts_to("u9") == ["Nhân viên đây"]
    assert refused is not None and refused.permanent and "7-day reply window closed" in str(refused)
    assert calls == 0, "no call to Zalo once the window is closed"
    assert fake.texts_to("u10") == ["x"]
