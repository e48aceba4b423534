"""End to end over HTTP through the REST channel, against the real processes and model."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from helpline import replies
from helpline.text import mask_id
from tests.integration.conftest import Bot


def new_sender() -> str:
    return f"it-{uuid.uuid4().hex[:10]}"


def test_hotline_question_gives_111_and_113(bot: Bot) -> None:
    reply = bot.text(new_sender(), "cho mình xin số điện thoại đường dây nóng báo tin mua bán người")
    assert "111" in reply
    assert "113" in reply
    assert "1800" not in reply


def test_unaccented_emergency_gets_hotline_ticket_and_pause(bot: Bot) -> None:
    sender = new_sender()
    reply = bot.text(sender, "cuu toi voi, toi bi nhot o campuchia, ho lay mat ho chieu roi")
    assert "113" in reply and "111" in reply
    assert "nhân viên" in reply
    mine = [t for t in bot.tickets() if t["sender_id"] == mask_id(f"rest:{sender}")]
    assert len(mine) == 1, "an emergency must open exactly one ticket"
    assert mine[0]["channel"] == "rest"
    assert mine[0]["priority"] in ("immediate", "urgent")
    assert mine[0]["reasons"], "staff must see why the ticket was opened"
    assert bot.tracker(sender)["paused"] is True
    # While paused, the next message goes to staff and the user is told so; never silence.
    follow_up = bot.text(sender, "toi dang rat so")
    assert "nhân viên" in follow_up and "111" in follow_up


def test_faq_question_answers_with_its_legal_basis(bot: Bot) -> None:
    reply = bot.text(new_sender(), "Tội mua bán người bị phạt tù bao nhiêu năm?")
    assert "Căn cứ:" in reply
    assert "Điều 150" in reply
    assert "năm" in reply


def test_unaccented_faq_question_is_answered(bot: Bot) -> None:
    reply = bot.text(new_sender(), "tong dai 111 la gi vay, co mat phi ko")
    assert "111" in reply
    assert "miễn phí" in reply


def test_nonsense_gets_an_honest_not_sure_with_suggestions(bot: Bot) -> None:
    messages = bot.say(new_sender(), "xqzt bnm kkk plo vrrr")
    text = "\n".join(m.get("text", "") for m in messages)
    buttons = [b for m in messages for b in m.get("buttons") or []]
    assert "chưa" in text  # "mình chưa chắc / chưa tìm thấy / chưa hiểu"
    assert "111" in text
    assert len(buttons) <= 3
    assert "Căn cứ:" not in text, "must not answer when unsure"


def test_suggestion_button_payload_opens_the_entry(bot: Bot) -> None:
    sender = new_sender()
    messages = bot.say(sender, "mua ban gi do khong ro lam")
    buttons = [b for m in messages for b in m.get("buttons") or []]
    if not buttons:  # retrieval was confident: ask again with a vaguer message
        buttons = [b for m in bot.say(sender, "cái đó là sao") for b in m.get("buttons") or []]
    assert buttons, "an unsure reply must offer likely questions"
    reply = bot.text(sender, buttons[0]["payload"])
    assert "Căn cứ:" in reply


def test_bot_challenge_and_greeting(bot: Bot) -> None:
    assert "chatbot" in bot.text(new_sender(), "bạn là người hay máy?")
    assert "111" in bot.text(new_sender(), "chào bạn")


def test_delete_my_data_after_confirmation(bot: Bot) -> None:
    sender = new_sender()
    bot.text(sender, "chào bạn")
    ask = bot.say(sender, "xóa dữ liệu của tôi")
    assert any(m.get("buttons") for m in ask)
    done = bot.text(sender, "/affirm")
    assert "đã xóa" in done
    events = bot.tracker(sender)["events"]
    assert not any(e.get("event") == "user" and e.get("text") == "chào bạn" for e in events)


def test_ticket_api_requires_the_staff_token(bot: Bot) -> None:
    assert httpx.get(f"{bot.handoff}/api/tickets").status_code == 401
    bad = httpx.get(f"{bot.handoff}/api/tickets", headers={"Authorization": "Bearer wrong"})
    assert bad.status_code == 401


def test_bad_rest_input_gets_clear_errors(bot: Bot) -> None:
    url = f"{bot.rasa}/webhooks/rest/webhook"
    bad_json = httpx.post(url, content=b"{not json", headers={"Content-Type": "application/json"})
    assert bad_json.status_code == 400 and "error" in bad_json.json()
    assert httpx.post(url, json={"message": "hi"}).status_code == 400
    too_long = httpx.post(url, json={"sender": "x", "message": "a" * 5000})
    assert too_long.status_code == 413


def test_out_of_scope_is_declined_honestly_with_examples(bot: Bot) -> None:
    messages = bot.say(new_sender(), "thời tiết Hà Nội hôm nay thế nào")
    text = "\n".join(m.get("text", "") for m in messages)
    buttons = [b for m in messages for b in m.get("buttons") or []]
    assert "111" in text and "chưa" in text
    assert 1 <= len(buttons) <= 3
    assert "Căn cứ:" not in text


def test_staff_reply_reaches_a_rest_user_with_their_next_message(bot: Bot) -> None:
    from pathlib import Path

    from helpline.channels.outbox import Outbox

    sender = new_sender()
    bot.text(sender, "cho tôi nói chuyện với nhân viên tư vấn")
    assert bot.tracker(sender)["paused"] is True
    outbox = Outbox.from_url(f"sqlite:///{Path(bot.stack.env['HELPLINE_DATA_DIR']) / 'handoff.db'}")
    outbox.enqueue("rest", f"rest:{sender}", {"text": "Chào bạn, mình là nhân viên tổng đài 111."}, kind="staff")
    texts = [m.get("text") for m in bot.say(sender, "vâng ạ")]
    assert "Chào bạn, mình là nhân viên tổng đài 111." in texts
    assert not any("Chào bạn, mình là nhân viên" in (m.get("text") or "") for m in bot.say(sender, "ok"))


def test_a_family_reporting_a_missing_child_gets_the_steps_at_once_and_staff_see_them(bot: Bot) -> None:
    sender = new_sender()
    report = "con gai toi 13 tuoi di theo mot nguoi quen tren facebook, 3 ngay nay khong lien lac duoc"
    messages = bot.say(sender, report)
    texts = [m.get("text", "") for m in messages]
    assert texts[0] == replies.EMERGENCY_REPLY, "the hotlines come first"
    steps = next(t for t in texts if t.startswith(replies.URGENT_STEPS_INTRO))
    assert "Căn cứ:" in steps and "113" in steps and "Công an" in steps
    [ticket] = [t for t in bot.tickets() if t["sender_id"] == mask_id(f"rest:{sender}")]
    assert ticket["priority"] == "urgent"
    token = bot.stack.env["HELPLINE_STAFF_TOKEN"]
    detail = bot.http.get(f"{bot.handoff}/api/tickets/{ticket['id']}", headers={"Authorization": f"Bearer {token}"})
    detail.raise_for_status()
    lines = [m["text"] for m in detail.json()["messages"]]
    assert lines.index(replies.EMERGENCY_REPLY) > 0 and steps.splitlines()[1] in "\n".join(lines), \
        "staff see what the person was told"


def _numbered_pick(say: Any, sender_a: str, sender_b: str, typed: str) -> None:
    """A typed number gives what tapping that button gives (real Rasa, real retrieval)."""
    vague = "cho em hoi cai nay voi"
    first = say(sender_a, vague)
    buttons = [b for m in first for b in m.get("buttons") or []]
    assert len(buttons) >= 2, "an unsure reply must offer likely questions"
    assert [b["payload"] for m in say(sender_b, vague) for b in m.get("buttons") or []] == [
        b["payload"] for b in buttons]
    by_number = "\n".join(m.get("text", "") for m in say(sender_a, typed))
    by_tap = "\n".join(m.get("text", "") for m in say(sender_b, buttons[1]["payload"]))
    assert by_number == by_tap and "Căn cứ:" in by_number


@pytest.mark.parametrize("typed", ["2", "số 2", "cau 2"])
def test_a_typed_number_picks_the_option_on_rest(bot: Bot, typed: str) -> None:
    _numbered_pick(bot.say, new_sender(), new_sender(), typed)


def test_a_typed_number_picks_the_option_on_web_chat(bot: Bot) -> None:
    tokens: dict[str, str] = {}

    def say(who: str, text: str) -> list[dict[str, Any]]:
        if who not in tokens:
            session = bot.http.post(f"{bot.rasa}/webhooks/web/session", json={})
            assert session.status_code == 200, session.text[:200]
            tokens[who] = session.json()["token"]
        response = bot.http.post(f"{bot.rasa}/webhooks/web/webhook", json={"message": text},
                                 headers={"Authorization": f"Bearer {tokens[who]}"})
        assert response.status_code == 200, response.text[:200]
        return list(response.json())

    _numbered_pick(say, "a", "b", "câu 2")
