"""The shared connector pipeline for every channel: verify -> dedupe -> 200 -> turn -> outbox -> platform."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from connectors import facebook as fbc
from connectors.base import SignedWebhookInput
from connectors.facebook import FacebookInput
from connectors.runtime import ChannelRuntime
from connectors.telegram import TelegramInput
from connectors.zalo import ZaloInput
from connectors.zalobot import ZaloBotInput
from helpline import replies
from helpline.channels import facebook
from helpline.channels.inbound import Inbound
from helpline.channels.store import ChannelStore
from helpline.handoff import HandoffStore
from helpline.settings import Settings
from tests.fakes.base import FakePlatform
from tests.fakes.facebook import VERIFY_TOKEN, FakeFacebook
from tests.fakes.telegram import FakeTelegram
from tests.fakes.webhooks import choose, forged, load, new_mid, new_sender, readdress, signed, text_event
from tests.fakes.zalo import FakeZalo
from tests.fakes.zalobot import FakeZaloBot
from tests.rasa_env.conftest import APP, ScriptedBot, until

CONNECTORS: dict[str, tuple[type[SignedWebhookInput], type[FakePlatform]]] = {
    "zalo": (ZaloInput, FakeZalo), "zalobot": (ZaloBotInput, FakeZaloBot),
    "facebook": (FacebookInput, FakeFacebook), "telegram": (TelegramInput, FakeTelegram),
}
NAMES = {"sticker": {"zalo": "user_send_sticker", "zalobot": "sticker", "facebook": "sticker", "telegram": "sticker"},
         "image": {"zalo": "user_send_image", "zalobot": "image", "facebook": "image", "telegram": "photo"},
         "silent": {"zalo": "user_seen_message", "zalobot": "group_text", "facebook": "read",
                    "telegram": "edited_message"}}


@pytest.fixture(params=list(CONNECTORS))
def channel(request: pytest.FixtureRequest, data_env: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    name = request.param
    connector_cls, fake_cls = CONNECTORS[name]
    with fake_cls() as fake:
        for key, value in fake.env().items():  # type: ignore[attr-defined]
            monkeypatch.setenv(key, value)
        connector = connector_cls.from_credentials(None)
        assert connector.enabled
        yield name, connector, fake


def run(coro: Any) -> Any:
    async def wrapper() -> Any:
        try:
            return await coro
        finally:
            if ChannelRuntime._instance is not None:
                await ChannelRuntime._instance.stop()

    return asyncio.run(wrapper())


async def post(connector: SignedWebhookInput, bot: ScriptedBot, body: bytes, headers: dict[str, str]) -> int:
    status, _ = await connector.handle_post(body, headers, APP, bot)
    return status


def test_forged_and_unsigned_requests_never_reach_the_bot(channel: Any) -> None:
    name, connector, fake = channel
    bot = ScriptedBot()
    data = text_event(name, new_sender(name, 1), new_mid(name, 1), "xin chào")

    async def go() -> tuple[int, int]:
        body, headers = forged(name, data)
        bad = await post(connector, bot, body, headers)
        body, headers = signed(name, data)
        unsigned = {k: v for k, v in headers.items() if k == "Content-Type"}
        missing = await post(connector, bot, body, unsigned)
        await asyncio.sleep(0.3)
        return bad, missing

    assert run(go()) == (403, 401)
    assert bot.received == [] and fake.delivered == []


def test_text_is_acknowledged_fast_answered_once_through_the_platform(channel: Any) -> None:
    name, connector, fake = channel
    bot = ScriptedBot()
    sender, mid = new_sender(name, 2), new_mid(name, 2)
    body, headers = signed(name, text_event(name, sender, mid, "Tội mua bán người bị phạt mấy năm?"))

    bot.delay = 3.0  # a slow turn (action server, model)

    async def go() -> None:
        assert await post(connector, bot, body, headers) == 200
        assert fake.delivered == [], "acknowledged before the turn has answered"
        assert await post(connector, bot, body, headers) == 200  # the platform redelivers
        await until(lambda: fake.texts_to(sender))
        await asyncio.sleep(0.5)

    run(go())
    assert bot.texts == ["Tội mua bán người bị phạt mấy năm?"]
    assert fake.texts_to(sender) == ["Bạn hỏi: Tội mua bán người bị phạt mấy năm?. Gọi 111."]
    assert bot.received[0].input_channel == name


def test_a_failing_bot_still_answers_with_111(channel: Any) -> None:
    name, connector, fake = channel
    bot = ScriptedBot()
    bot.fail = True
    sender = new_sender(name, 3)
    body, headers = signed(name, text_event(name, sender, new_mid(name, 3), "hỏi"))

    async def go() -> None:
        assert await post(connector, bot, body, headers) == 200
        await until(lambda: fake.texts_to(sender))

    run(go())
    assert fake.texts_to(sender) == [replies.SERVICE_FALLBACK]


@pytest.mark.parametrize("what", ["sticker", "image"])
def test_media_gets_a_polite_answer_without_the_bot(channel: Any, what: str) -> None:
    name, connector, fake = channel
    bot = ScriptedBot()
    sender = new_sender(name, 4)
    data = readdress(name, load(name, NAMES[what][name]), sender, new_mid(name, 4))
    body, headers = signed(name, data)

    async def go() -> None:
        assert await post(connector, bot, body, headers) == 200
        await until(lambda: fake.texts_to(sender))

    run(go())
    assert bot.received == [] and fake.texts_to(sender) == [replies.NON_TEXT_REPLY]


def test_seen_receipts_and_unknown_events_are_ignored(channel: Any) -> None:
    name, connector, fake = channel
    bot = ScriptedBot()
    body, headers = signed(name, load(name, NAMES["silent"][name]))

    async def go() -> None:
        assert await post(connector, bot, body, headers) == 200
        await asyncio.sleep(0.5)

    run(go())
    assert bot.received == [] and fake.delivered == []


def test_malformed_body_is_a_400(channel: Any) -> None:
    name, connector, _ = channel
    body, headers = signed(name, {"hello": "world"})
    if name == "zalo":  # Zalo's MAC covers app_id: a body without ours fails verification first
        assert run(post(connector, ScriptedBot(), body, headers)) == 403
    else:
        assert run(post(connector, ScriptedBot(), body, headers)) == 400


def test_buttons_map_to_the_native_form_and_taps_reach_the_bot(channel: Any) -> None:
    name, connector, fake = channel
    bot = ScriptedBot()
    long_payload = '/ask_faq{"faq_id": "bao-tin-tong-dai-111-mien-phi", "faq_part": "more"}'
    buttons = [{"title": "Người lao động bị giữ hộ chiếu thì phải làm gì?", "payload": "/ask_hotline"},
               {"title": "Xem thêm", "payload": long_payload}]
    bot.answer = lambda m: [{"text": "Có phải bạn muốn hỏi:", "buttons": buttons}]
    sender = new_sender(name, 5)
    body, headers = signed(name, text_event(name, sender, new_mid(name, 5), "ho chieu"))

    async def go() -> None:
        assert await post(connector, bot, body, headers) == 200
        await until(lambda: fake.to(sender))
        bot.answer = lambda m: [{"text": "Gọi 111."}]
        await post(connector, bot, *signed(name, choose(name, fake.to(sender)[0], sender, new_mid(name, 6), 1)))
        await until(lambda: len(bot.received) == 2)

    run(go())
    delivered = fake.to(sender)[0]
    if name == "zalo":
        assert [b["type"] for b in delivered.extra["buttons"]] == ["oa.query.hide"] * 2
    elif name == "facebook":
        assert all(len(q["title"]) <= 20 for q in delivered.extra["quick_replies"])
    elif name == "telegram":
        keyboard = delivered.extra["reply_markup"]["inline_keyboard"]
        assert keyboard[0][0]["callback_data"] == "/ask_hotline"
    else:
        assert "2. Xem thêm" in delivered.text
    assert bot.texts[1] == long_payload, "the second button's payload reaches the bot"


def test_location_goes_to_the_open_ticket(channel: Any) -> None:
    name, connector, fake = channel
    if name == "zalobot":
        pytest.skip("the Zalo Bot Platform delivers no location events")
    sender = new_sender(name, 7)
    store = HandoffStore.from_url(Settings.from_env().handoff_db_url)
    ticket = store.open_ticket(name, f"{name}:{sender}", "immediate", ("lexicon:bi_nhot",), [("user", "cứu tôi")])
    fixture = {"zalo": "user_send_location", "facebook": "location", "telegram": "location"}[name]
    body, headers = signed(name, readdress(name, load(name, fixture), sender, new_mid(name, 7)))

    async def go() -> None:
        assert await post(connector, ScriptedBot(), body, headers) == 200
        await until(lambda: fake.texts_to(sender))

    run(go())
    assert fake.texts_to(sender) == [replies.LOCATION_ATTACHED]
    saved = store.get(ticket.id)
    assert saved is not None and saved.location is not None and saved.location["source"] == name
    assert "latitude" in saved.location and any("Vị trí" in m.text for m in saved.messages)


def test_location_before_the_ticket_is_attached_when_it_opens(channel: Any) -> None:
    name, connector, fake = channel
    if name == "zalobot":
        pytest.skip("the Zalo Bot Platform delivers no location events")
    sender = new_sender(name, 8)
    store = HandoffStore.from_url(Settings.from_env().handoff_db_url)
    bot = ScriptedBot()

    def emergency(message: Any) -> list[dict[str, Any]]:  # what action_emergency does
        store.open_ticket(name, message.sender_id, "immediate", ("intent:emergency",))
        return [{"text": replies.EMERGENCY_REPLY}]

    bot.answer = emergency
    fixture = {"zalo": "user_send_location", "facebook": "location", "telegram": "location"}[name]

    async def go() -> None:
        await post(connector, bot, *signed(name, readdress(name, load(name, fixture), sender, new_mid(name, 8))))
        await until(lambda: fake.texts_to(sender))
        await post(connector, bot, *signed(name, text_event(name, sender, new_mid(name, 9), "cuu toi")))
        await until(lambda: len(fake.texts_to(sender)) == 2)

    run(go())
    assert fake.texts_to(sender)[0].startswith(replies.LOCATION_NO_TICKET)
    ticket = store.open_ticket_for(name, f"{name}:{sender}")
    assert ticket is not None and ticket.location is not None


def test_disabled_channel_logs_one_line_and_answers_503(data_env: Any, monkeypatch: pytest.MonkeyPatch,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    for var in ("ZALO_OA_SECRET_KEY", "ZALO_APP_ID"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("ZALO_ACCESS_TOKEN", "secret-access-token-value")
    with caplog.at_level(logging.WARNING):
        connector = ZaloInput.from_credentials(None)
    assert not connector.enabled
    lines = [r.getMessage() for r in caplog.records if "zalo disabled" in r.getMessage()]
    assert len(lines) == 1 and "ZALO_OA_SECRET_KEY" in lines[0] and "secret-access-token-value" not in lines[0]
    assert run(post(connector, ScriptedBot(), b"{}", {})) == 503


def test_facebook_subscription_check(data_env: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    with FakeFacebook() as fake:
        for key, value in fake.env().items():
            monkeypatch.setenv(key, value)
        connector = FacebookInput.from_credentials(None)
        ok = {"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "CHALLENGE_ACCEPTED"}
        assert asyncio.run(connector.subscription(ok)) == (200, "CHALLENGE_ACCEPTED")
        assert asyncio.run(connector.subscription({**ok, "hub.verify_token": "x"}))[0] == 403


def test_telegram_button_tap_is_acknowledged(data_env: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    with FakeTelegram() as fake:
        for key, value in fake.env().items():
            monkeypatch.setenv(key, value)
        connector = TelegramInput.from_credentials(None)
        body, headers = signed("telegram", load("telegram", "callback_query"))

        async def go() -> None:
            assert await post(connector, ScriptedBot(), body, headers) == 200
            await until(lambda: fake.answered_callbacks and fake.texts_to("987654321"))

        run(go())
        assert fake.answered_callbacks == ["4382bfdwdsb323b2d9"]


def test_a_number_maps_to_an_option_only_right_after_the_list(data_env: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    with FakeZaloBot() as fake:
        for key, value in fake.env().items():
            monkeypatch.setenv(key, value)
        connector = ZaloBotInput.from_credentials(None)
        bot = ScriptedBot()
        bot.answer = lambda m: [{"text": "Chọn:", "buttons": [{"title": "A", "payload": "/ask_hotline"}]}]
        sender = new_sender("zalobot", 20)

        async def say(n: int, text: str, replies_expected: int) -> None:
            event = readdress("zalobot", load("zalobot", "text"), sender, new_mid("zalobot", n), text)
            assert await post(connector, bot, *signed("zalobot", event)) == 200
            await until(lambda: len(fake.texts_to(sender)) >= replies_expected)

        async def go() -> None:
            await say(21, "hỏi", 1)
            bot.answer = lambda m: [{"text": "Không có lựa chọn."}]
            await say(22, "1", 2)
            await say(23, "1", 3)

        run(go())
        assert bot.texts == ["hỏi", "/ask_hotline", "1"], "a number is plain text once the list is stale"


@pytest.fixture
def zalobot_channel(data_env: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[ZaloBotInput, FakeZaloBot]]:
    with FakeZaloBot() as fake:
        for key, value in fake.env().items():
            monkeypatch.setenv(key, value)
        yield ZaloBotInput.from_credentials(None), fake


def test_zalobot_protected_user_gets_their_own_reply_counted_and_noted(zalobot_channel: Any,
                                                                       caplog: pytest.LogCaptureFixture) -> None:
    connector, fake = zalobot_channel
    bot = ScriptedBot()
    store = HandoffStore.from_url(Settings.from_env().handoff_db_url)
    sender, other = new_sender("zalobot", 30), new_sender("zalobot", 31)
    ticket = store.open_ticket("zalobot", f"zalobot:{sender}", "urgent", ("lexicon:x",), [("user", "giúp")])

    async def go() -> None:
        for who, n in ((sender, 30), (other, 31)):
            event = readdress("zalobot", load("zalobot", "unsupported"), who, new_mid("zalobot", n))
            assert await post(connector, bot, *signed("zalobot", event)) == 200
        await until(lambda: fake.texts_to(sender) and fake.texts_to(other))

    with caplog.at_level(logging.WARNING):
        run(go())
    assert bot.received == [], "nothing reaches the bot: Zalo hid the text"
    assert fake.texts_to(sender) == fake.texts_to(other) == [replies.PROTECTED_USER_REPLY]
    assert replies.PROTECTED_USER_REPLY.index("111") < replies.PROTECTED_USER_REPLY.index("113")
    counted = [e for e in store.audit_entries() if e.action == "protected_user channel=zalobot"]
    assert len(counted) == 2
    saved = store.get(ticket.id)
    assert saved is not None and any("nhóm được bảo vệ" in m.text for m in saved.messages)
    lines = [r.getMessage() for r in caplog.records if "protected group" in r.getMessage()]
    assert len(lines) == 2 and all(sender not in line and other not in line for line in lines)


def test_zalobot_caption_is_a_normal_turn_and_the_ticket_notes_the_photo(zalobot_channel: Any) -> None:
    connector, fake = zalobot_channel
    store = HandoffStore.from_url(Settings.from_env().handoff_db_url)
    bot = ScriptedBot()
    caption = "Họ nhốt tôi trong phòng, cứu tôi"

    def emergency(message: Any) -> list[dict[str, Any]]:  # what action_emergency does
        store.open_ticket("zalobot", message.sender_id, "immediate", ("intent:emergency",),
                          [("user", message.text)])
        return [{"text": replies.EMERGENCY_REPLY}]

    bot.answer = emergency
    sender = new_sender("zalobot", 32)

    async def go() -> None:
        event = readdress("zalobot", load("zalobot", "image_caption"), sender, new_mid("zalobot", 32))
        event["message"]["caption"] = caption
        assert await post(connector, bot, *signed("zalobot", event)) == 200
        await until(lambda: fake.texts_to(sender))

    run(go())
    assert bot.texts == [caption] and bot.received[0].metadata["media"] == "image"
    assert fake.texts_to(sender) == [replies.EMERGENCY_REPLY]
    ticket = store.open_ticket_for("zalobot", f"zalobot:{sender}")
    assert ticket is not None
    noted = [m.text for m in ticket.messages if m.text.startswith("[ảnh] ")]
    assert noted == [f"[ảnh] {caption}\nhttps://photo-stal-15.zadn.vn/redacted-3.jpg"]


def test_zalobot_caption_emergency_is_caught_when_the_bot_fails(zalobot_channel: Any) -> None:
    connector, fake = zalobot_channel
    bot = ScriptedBot()
    bot.fail = True
    sender = new_sender("zalobot", 33)

    async def go() -> None:
        event = readdress("zalobot", load("zalobot", "image_caption"), sender, new_mid("zalobot", 33))
        event["message"]["caption"] = "cứu tôi, họ đang đánh tôi, tôi bị nhốt"
        assert await post(connector, bot, *signed("zalobot", event)) == 200
        await until(lambda: len(fake.texts_to(sender)) >= 2)

    run(go())
    assert fake.texts_to(sender)[0] == replies.EMERGENCY_REPLY


def test_zalobot_voice_gets_a_polite_reply_and_a_note_on_the_open_ticket(zalobot_channel: Any) -> None:
    connector, fake = zalobot_channel
    bot = ScriptedBot()
    store = HandoffStore.from_url(Settings.from_env().handoff_db_url)
    sender = new_sender("zalobot", 34)
    ticket = store.open_ticket("zalobot", f"zalobot:{sender}", "urgent", ("lexicon:x",), [("user", "giúp")])

    async def go() -> None:
        event = readdress("zalobot", load("zalobot", "voice"), sender, new_mid("zalobot", 34))
        assert await post(connector, bot, *signed("zalobot", event)) == 200
        await until(lambda: fake.texts_to(sender))

    run(go())
    assert bot.received == [] and fake.texts_to(sender) == [replies.NON_TEXT_REPLY]
    assert "113" in replies.NON_TEXT_REPLY and "111" in replies.NON_TEXT_REPLY
    saved = store.get(ticket.id)
    assert saved is not None
    assert any("tin nhắn thoại" in m.text and "redacted.aac" in m.text for m in saved.messages)


@pytest.mark.parametrize("typed", ["2", "số 2", "so 2", "câu 2", "cau 2", "lựa chọn 2", "3"])
def test_choice_numbers_pick_the_option_on_every_channel(channel: Any, typed: str) -> None:
    """Short button titles too (native buttons, quick replies, inline keyboards): a typed number picks."""
    name, connector, fake = channel
    bot = ScriptedBot()
    options = [{"title": "A", "payload": "/ask_hotline"}, {"title": "B", "payload": "/ask_human"},
               {"title": "C", "payload": "/affirm"}]
    bot.answer = lambda m: [{"text": "Chọn:", "buttons": options}]
    sender = new_sender(name, 40)

    async def go() -> None:
        assert await post(connector, bot, *signed(name, text_event(name, sender, new_mid(name, 40), "hỏi"))) == 200
        await until(lambda: fake.texts_to(sender))
        bot.answer = lambda m: [{"text": "Gọi 111."}]
        assert await post(connector, bot, *signed(name, text_event(name, sender, new_mid(name, 41), typed))) == 200
        await until(lambda: len(bot.received) == 2)
        # The list is used once: the same number again is plain text.
        assert await post(connector, bot, *signed(name, text_event(name, sender, new_mid(name, 42), typed))) == 200
        await until(lambda: len(bot.received) == 3)

    run(go())
    picked = options[int(typed[-1]) - 1]["payload"]
    assert bot.texts == ["hỏi", picked, typed]
    if name == "zalo":  # options are always numbered in the Zalo OA text, besides the buttons
        assert "1. A\n2. B\n3. C" in fake.texts_to(sender)[0]


@pytest.mark.parametrize(("fixture", "tag"), [("photo_caption", "[ảnh]"), ("document_caption", "[tệp]")])
def test_telegram_caption_is_the_message_and_the_ticket_notes_the_media(data_env: Any, monkeypatch: pytest.MonkeyPatch,
                                                                         fixture: str, tag: str) -> None:
    with FakeTelegram() as fake:
        for key, value in fake.env().items():
            monkeypatch.setenv(key, value)
        connector = TelegramInput.from_credentials(None)
        store = HandoffStore.from_url(Settings.from_env().handoff_db_url)
        sender = new_sender("telegram", 35 if fixture == "photo_caption" else 36)
        ticket = store.open_ticket("telegram", f"telegram:{sender}", "urgent", ("lexicon:x",), [("user", "giúp")])
        bot = ScriptedBot()
        event = readdress("telegram", load("telegram", fixture), sender, new_mid("telegram", int(sender) % 1000))
        caption = event["message"]["caption"]

        async def go() -> None:
            assert await post(connector, bot, *signed("telegram", event)) == 200
            await until(lambda: fake.texts_to(sender))

        run(go())
        assert bot.texts == [caption] and bot.received[0].metadata["media"] in ("image", "file")
        assert fake.texts_to(sender) == [f"Bạn hỏi: {caption}. Gọi 111."]
        saved = store.get(ticket.id)
        assert saved is not None and any(m.text == f"{tag} {caption}" for m in saved.messages)


@pytest.fixture
def facebook_channel(data_env: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[FacebookInput, FakeFacebook]]:
    with FakeFacebook() as fake:
        for key, value in fake.env().items():
            monkeypatch.setenv(key, value)
        monkeypatch.setenv("FACEBOOK_HANDOVER_INBOX", "1")
        yield FacebookInput.from_credentials(None), fake


def paused_agent(*keys: str) -> Any:
    """Rasa's own in-memory tracker store, with these conversations paused (as action_emergency leaves them)."""
    from rasa.core.tracker_store import InMemoryTrackerStore
    from rasa.shared.core.domain import Domain
    from rasa.shared.core.events import ConversationPaused
    from rasa.shared.core.trackers import DialogueStateTracker

    store = InMemoryTrackerStore(Domain.empty())
    for key in keys:
        tracker = DialogueStateTracker(key, [])
        tracker.update(ConversationPaused())
        asyncio.run(store.save(tracker))
    return SimpleNamespace(ctx=SimpleNamespace(agent=SimpleNamespace(tracker_store=store)))


def fb_event(name: str, sender: str, n: int) -> dict[str, Any]:
    data = readdress("facebook", load("facebook", name), sender)
    for entry in data["entry"]:
        for event in [*entry.get("messaging", []), *entry.get("standby", [])]:
            event["timestamp"] = 1751328100000 + n
            if isinstance(event.get("message"), dict):
                event["message"]["mid"] = new_mid("facebook", n)
    return data


def test_facebook_handover_the_bot_stays_quiet_while_the_inbox_owns_the_thread(facebook_channel: Any) -> None:
    connector, fake = facebook_channel
    sender = new_sender("facebook", 60)
    key = f"facebook:{sender}"
    store = HandoffStore.from_url(Settings.from_env().handoff_db_url)
    ticket = store.open_ticket("facebook", key, "urgent", ("lexicon:x",), [("user", "giúp em")])
    bot = ScriptedBot()

    async def go() -> None:
        # The Page inbox takes the thread: nothing is sent; the person's standby texts reach the ticket.
        assert await post(connector, bot, *signed("facebook", fb_event("take_thread_control", sender, 1))) == 200
        assert await post(connector, bot, *signed("facebook", fb_event("standby_text", sender, 2))) == 200
        await until(lambda: len((store.get(ticket.id) or ticket).messages) >= 3)
        runtime = ChannelRuntime.get()
        assert await facebook.thread_elsewhere(runtime.store, key)
        # The thread comes back: the bot answers again.
        assert await post(connector, bot, *signed("facebook", fb_event("pass_thread_control", sender, 3))) == 200
        await until(lambda: len((store.get(ticket.id) or ticket).messages) >= 4)
        assert not await facebook.thread_elsewhere(runtime.store, key)
        assert await post(connector, bot, *signed("facebook", text_event("facebook", sender, new_mid("facebook", 4),
                                                                         "còn đó không"))) == 200
        await until(lambda: fake.texts_to(sender))

    run(go())
    assert bot.texts == ["còn đó không"], "standby and handover events never reach the bot"
    assert fake.texts_to(sender) == ["Bạn hỏi: còn đó không. Gọi 111."]
    lines = [m.text for m in (store.get(ticket.id) or ticket).messages]
    assert "Chị ơi em vẫn chưa về được" in lines
    assert lines.index(fbc.TAKEN_NOTE) < lines.index("Chị ơi em vẫn chưa về được") < lines.index(fbc.PASSED_BACK_NOTE)


def test_facebook_a_handed_over_person_is_passed_to_the_page_inbox(facebook_channel: Any) -> None:
    connector, fake = facebook_channel
    sender = new_sender("facebook", 61)
    key = f"facebook:{sender}"
    store = HandoffStore.from_url(Settings.from_env().handoff_db_url)
    ticket = store.open_ticket("facebook", key, "immediate", ("intent:emergency",), [("user", "cứu")])
    bot = ScriptedBot()
    bot.answer = lambda m: []  # paused: Rasa says nothing
    app = paused_agent(key)

    async def go() -> None:
        body, headers = signed("facebook", text_event("facebook", sender, new_mid("facebook", 61), "em sợ quá"))
        status, _ = await connector.handle_post(body, headers, app, bot)
        assert status == 200
        await until(lambda: fake.controls and fake.texts_to(sender))
        await asyncio.sleep(0.3)

    run(go())
    assert fake.controls == [("pass_thread_control", sender)]
    assert fake.thread_owner[sender] == facebook.PAGE_INBOX_APP_ID
    assert fake.texts_to(sender) == [replies.WAITING_FOR_STAFF]
    lines = [m.text for m in (store.get(ticket.id) or ticket).messages]
    assert "em sợ quá" in lines and fbc.HANDED_NOTE in lines


@pytest.mark.parametrize("fixture", ["fallback_link", "referral"])
def test_facebook_a_shared_link_and_a_referral_are_answered(facebook_channel: Any, fixture: str) -> None:
    connector, fake = facebook_channel
    sender = new_sender("facebook", 62 if fixture == "referral" else 63)
    bot = ScriptedBot()

    async def go() -> None:
        assert await post(connector, bot, *signed("facebook", fb_event(fixture, sender, 62))) == 200
        await until(lambda: fake.texts_to(sender))

    run(go())
    [reply] = fake.texts_to(sender)
    if fixture == "referral":
        assert reply == replies.REFERRAL_WELCOME and "111" in reply and "113" in reply and not bot.received
    else:
        assert bot.texts == ["Tuyển lao động đi Campuchia lương 2000 USD https://example.com/tuyen-dung"]
        assert bot.received[0].metadata["media"] == "link"


def test_zalo_registration_probe_gets_200_and_nothing_else_unsigned_does(data_env: Any,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    with FakeZalo() as fake:
        for key, value in fake.env().items():
            monkeypatch.setenv(key, value)
        connector = ZaloInput.from_credentials(None)
        bot = ScriptedBot()
        event = text_event("zalo", new_sender("zalo", 70), new_mid("zalo", 70), "xin chào")
        body, _ = signed("zalo", event)

        async def go() -> list[tuple[int, dict[str, Any]]]:
            out = [await connector.handle_post(b"{}", {"Content-Type": "application/json"}, APP, bot)]
            out.append(await connector.handle_post(b'{"event_name": "x"}', {}, APP, bot))
            out.append(await connector.handle_post(body, {}, APP, bot))  # a real event without its signature
            out.append(await connector.handle_post(b"[]", {}, APP, bot))
            await asyncio.sleep(0.3)
            return out

        results = run(go())
    assert results[0] == (200, {"ok": True, "accepted": 0})
    assert [status for status, _ in results[1:]] == [401, 401, 401]
    assert not bot.received and not fake.delivered, "the probe is answered, never processed"
    assert ChannelStore.from_url(Settings.from_env().handoff_db_url).claim_inbound(
        Inbound("zalo", new_sender("zalo", 70), new_mid("zalo", 70), "text", text="x")), "nothing was journaled"


def test_zalo_a_person_waiting_for_staff_is_told_once_to_write_again(data_env: Any,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    with FakeZalo() as fake:
        for key, value in fake.env().items():
            monkeypatch.setenv(key, value)
        connector = ZaloInput.from_credentials(None)
        sender = new_sender("zalo", 75)
        key = f"zalo:{sender}"
        HandoffStore.from_url(Settings.from_env().handoff_db_url).open_ticket(
            "zalo", key, "immediate", ("intent:emergency",), [("user", "cứu")])
        bot = ScriptedBot()
        bot.answer = lambda m: []  # paused: Rasa says nothing
        app = paused_agent(key)
        free = ScriptedBot()  # a conversation nobody paused gets no reminder

        async def go() -> None:
            for n in range(2):
                body, headers = signed("zalo", text_event("zalo", sender, new_mid("zalo", 75 + n), f"còn đó không {n}"))
                assert (await connector.handle_post(body, headers, app, bot))[0] == 200
                await until(lambda n=n: len(fake.texts_to(sender)) >= 2 + n)
            other = new_sender("zalo", 77)
            body, headers = signed("zalo", text_event("zalo", other, new_mid("zalo", 77), "xin chào"))
            assert (await connector.handle_post(body, headers, app, free))[0] == 200
            await until(lambda: fake.texts_to(other))
            await asyncio.sleep(0.3)

        run(go())
    assert fake.texts_to(sender) == [replies.WAITING_FOR_STAFF, replies.ZALO_WRITE_AGAIN, replies.WAITING_FOR_STAFF]
    assert replies.ZALO_WRITE_AGAIN not in fake.texts_to(new_sender("zalo", 77))
