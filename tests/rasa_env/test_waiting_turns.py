"""The waiting-ticket model through every real connector (fake platforms, a scripted bot, a real store).

A ticket opens waiting: the bot keeps answering (every reply with 111, all on the transcript) and the
safety question follows the emergency reply; its answer never reaches the bot. Once a staff member
holds the ticket the bot steps back; after resolve it answers again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from helpline import replies
from helpline.handoff import HandoffStore
from helpline.handoff.waiting import TICKET_COMMAND
from helpline.settings import Settings
from tests.fakes.webhooks import choose, new_mid, new_sender, signed, text_event
from tests.rasa_env import test_connectors
from tests.rasa_env.conftest import ScriptedBot, until
from tests.rasa_env.test_connectors import post, run

EMERGENCY = "cứu em, em bị nhốt ở Campuchia"


@pytest.fixture(params=list(test_connectors.CONNECTORS))
def channel(request: pytest.FixtureRequest, data_env: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Each real connector with its fake platform (as in test_connectors)."""
    connector_cls, fake_cls = test_connectors.CONNECTORS[request.param]
    with fake_cls() as fake:
        for key, value in fake.env().items():  # type: ignore[attr-defined]
            monkeypatch.setenv(key, value)
        yield request.param, connector_cls.from_credentials(None), fake


def scripted(store: HandoffStore, name: str) -> ScriptedBot:
    """A bot that does what action_emergency does for an emergency, and answers anything else without 111."""
    bot = ScriptedBot()

    def answer(message: Any) -> list[dict[str, Any]]:
        if message.text == EMERGENCY:
            ticket = store.open_ticket(name, message.sender_id, "urgent", ("help_call",),
                                       [("user", message.text), ("bot", replies.EMERGENCY_REPLY)])
            return [{"text": replies.EMERGENCY_REPLY},
                    {"custom": {"helpline_command": TICKET_COMMAND, "ticket": ticket.id}},
                    {"text": f"{replies.STAFF_JOINING}\n\n{replies.DELETE_CHAT_TIP}"}]
        return [{"text": f"Trả lời cho: {message.text}"}]

    bot.answer = answer
    return bot


def lines(store: HandoffStore, ticket_id: int) -> list[tuple[str, str]]:
    ticket = store.get(ticket_id)
    assert ticket is not None
    return [(m.author, m.text) for m in ticket.messages]


def test_waiting_with_staff_and_back(channel: Any) -> None:
    name, connector, fake = channel
    store = HandoffStore.from_url(Settings.from_env().handoff_db_url)
    bot = scripted(store, name)
    sender = new_sender(name, 31)
    key = f"{name}:{sender}"
    n = iter(range(100, 200))

    def joined(after: int = 0) -> str:
        return "\n".join(fake.texts_to(sender)[after:])

    async def say(text: str, needle: str) -> int:
        """Send a message; wait for a delivered text with ``needle``; the count of texts before it."""
        before = len(fake.texts_to(sender))
        assert await post(connector, bot, *signed(name, text_event(name, sender, new_mid(name, next(n)), text))) == 200
        await until(lambda: needle in joined(before))
        return before

    async def go() -> None:
        # 1. The emergency: the reply, the waiting notice and the safety question, with buttons.
        await say(EMERGENCY, "2. Không an toàn")
        texts = joined()
        assert texts.startswith(replies.EMERGENCY_REPLY.split("\n")[0]) and replies.STAFF_JOINING in texts
        assert "Bạn có đang ở nơi an toàn để nhắn tin không?" in texts and replies.DELETE_CHAT_TIP in texts
        state = store.open_ticket_state(name, key)
        assert state is not None and state.waiting and state.safety_pending

        # 2. The person taps "Không an toàn": recorded as its title, the priority goes up, the bot never sees it.
        seen, before = len(bot.received), len(fake.texts_to(sender))
        question = fake.to(sender)[-1]
        assert await post(connector, bot, *signed(name, choose(name, question, sender, new_mid(name, 150), 1))) == 200
        await until(lambda: replies.SAFETY_ACK["unsafe"] in joined(before))
        assert len(bot.received) == seen
        ticket = store.get(state.ticket_id)
        assert ticket is not None and ticket.priority == "immediate" and "safety_check:unsafe" in ticket.reasons

        # 3. A question while waiting: answered, with 111 added, and on the transcript.
        before = await say("báo công an ở đâu", replies.WAITING_111_LINE)
        assert joined(before).replace("\n\n", "\n") == f"Trả lời cho: báo công an ở đâu\n{replies.WAITING_111_LINE}"

        # 4-5. A staff member claims it: the bot steps back; messages go only to the ticket.
        store.claim(state.ticket_id, "lan")
        seen, delivered = len(bot.received), len(fake.texts_to(sender))
        assert await post(connector, bot, *signed(name, text_event(name, sender, new_mid(name, 160), "alo"))) == 200
        await until(lambda: ("user", "alo") in lines(store, state.ticket_id))
        # Danger now still gets the 113 line at once.
        await say("họ đang đến đánh em, cứu em", "113")
        assert fake.texts_to(sender)[delivered:] == [replies.DANGER_WITH_STAFF] and len(bot.received) == seen

        # After resolve, the bot answers again.
        store.close_ticket(state.ticket_id, "lan", "real_emergency")
        await say("cảm ơn", "Trả lời cho: cảm ơn")
        assert len(bot.received) == seen + 1

    run(go())
    transcript = lines(store, store.list_tickets("all")[0].id)
    pressed = replies.BUTTON_PRESSED.format(title="Không an toàn")
    expected = [
        ("user", EMERGENCY), ("bot", replies.EMERGENCY_REPLY),
        # Rasa's output channel sends each paragraph as its own message.
        ("bot", replies.STAFF_JOINING), ("bot", replies.DELETE_CHAT_TIP), ("bot", replies.SAFETY_QUESTION),
        ("user", pressed), ("bot", replies.SAFETY_ACK["unsafe"]),
        ("user", "báo công an ở đâu"), ("bot", f"Trả lời cho: báo công an ở đâu\n\n{replies.WAITING_111_LINE}"),
        ("user", "alo"), ("user", "họ đang đến đánh em, cứu em"), ("bot", replies.DANGER_WITH_STAFF),
    ]
    if name == "zalobot" and transcript[5] == ("user", "2"):
        expected[5] = ("user", "2")  # typed before the numbered list was remembered: read as a typed answer
    assert transcript == expected


def test_a_claim_during_the_turn_drops_the_bots_reply(channel: Any) -> None:
    name, connector, fake = channel
    store = HandoffStore.from_url(Settings.from_env().handoff_db_url)
    sender = new_sender(name, 41)
    ticket = store.open_ticket(name, f"{name}:{sender}", "urgent", ("r",), [("user", "cứu")])
    bot = ScriptedBot()
    bot.delay = 0.6

    async def go() -> None:
        event = text_event(name, sender, new_mid(name, 41), "còn đó không")
        assert await post(connector, bot, *signed(name, event)) == 200
        await until(lambda: bot.received)
        store.claim(ticket.id, "lan")  # while the bot is still thinking
        await until(lambda: ("user", "còn đó không") in lines(store, ticket.id))
        await asyncio.sleep(0.5)

    run(go())
    assert fake.texts_to(sender) == [], "no bot reply goes out after the claim"
    assert [a for a, _ in lines(store, ticket.id)] == ["user", "user"]


def test_a_typed_answer_and_a_lapsed_question(channel: Any) -> None:
    name, connector, fake = channel
    store = HandoffStore.from_url(Settings.from_env().handoff_db_url)
    bot = scripted(store, name)
    a, b = new_sender(name, 51), new_sender(name, 52)

    async def go() -> None:
        for sender, mid in ((a, 51), (b, 52)):
            await post(connector, bot, *signed(name, text_event(name, sender, new_mid(name, mid), EMERGENCY)))
            await until(lambda s=sender: "2. Không an toàn" in "\n".join(fake.texts_to(s)))
        await post(connector, bot, *signed(name, text_event(name, a, new_mid(name, 53), "em an toàn ạ")))
        await until(lambda: replies.SAFETY_ACK["safe"] in fake.texts_to(a))
        await post(connector, bot, *signed(name, text_event(name, b, new_mid(name, 54), "mua bán người là gì")))
        await until(lambda: any(t.startswith("Trả lời cho: mua bán người là gì") for t in fake.texts_to(b)))

    run(go())
    assert store.open_ticket_state(name, f"{name}:{a}").safety == "safe"  # type: ignore[union-attr]
    assert store.open_ticket_state(name, f"{name}:{a}").priority == "urgent", "safe never lowers"  # type: ignore[union-attr]
    # Something else first: the question lapses and the bot answers the message.
    assert store.open_ticket_state(name, f"{name}:{b}").safety == "no_answer"  # type: ignore[union-attr]


def test_media_while_waiting_is_on_the_ticket_with_the_reply(channel: Any) -> None:
    name, connector, fake = channel
    from tests.fakes.webhooks import load, readdress

    store = HandoffStore.from_url(Settings.from_env().handoff_db_url)
    sender = new_sender(name, 61)
    ticket = store.open_ticket(name, f"{name}:{sender}", "urgent", ("r",), [("user", "cứu")])
    fixture = {"zalo": "user_send_sticker", "zalobot": "sticker", "facebook": "sticker", "telegram": "sticker"}[name]

    async def go() -> None:
        event = readdress(name, load(name, fixture), sender, new_mid(name, 61))
        await post(connector, ScriptedBot(), *signed(name, event))
        await until(lambda: len(fake.texts_to(sender)) == 1 + len(write_again))

    write_again = [replies.ZALO_WRITE_AGAIN] if name == "zalo" else []  # Zalo OA, once per free window
    run(go())
    assert fake.texts_to(sender) == [replies.NON_TEXT_REPLY, *write_again]
    note, reply = lines(store, ticket.id)[-2:]
    assert note[0] == "user" and note[1].startswith("[Người dùng gửi nhãn dán]")
    assert reply == ("bot", replies.NON_TEXT_REPLY)
