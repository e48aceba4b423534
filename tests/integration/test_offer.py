"""The offer check through the real Rasa server, action server and model (REST channel)."""

from __future__ import annotations

import uuid

from helpline import replies
from helpline.offers import BAND_TEXT, BY_ID, Band
from helpline.offers import reply as offer_reply
from helpline.text import mask_id
from tests.integration.conftest import Bot

FACEBOOK = ("Có người trên Facebook mời em sang Campuchia làm chăm sóc khách hàng lương 30 triệu, bao vé máy bay, "
            "có nên đi không?")
Q = offer_reply.QUESTIONS


def new_sender() -> str:
    return f"offer-{uuid.uuid4().hex[:10]}"


def test_the_facebook_question_gets_the_check_not_a_guess(bot: Bot) -> None:
    sender = new_sender()
    reply = bot.text(sender, FACEBOOK)
    assert replies.UNSURE_INTRO not in reply and "Mình chưa chắc" not in reply
    assert BAND_TEXT[Band.HIGH] in reply
    for sign in ("high_pay", "travel_paid", "risky_destination", "chat_only_contact"):
        assert BY_ID[sign].title in reply and BY_ID[sign].check in reply
    assert "www.dolab.gov.vn" in reply and "gia đình" in reply and "111" in reply
    assert "1800" not in reply
    assert bot.tracker(sender)["paused"] is False
    assert not [t for t in bot.tickets() if t["sender_id"] == mask_id(f"rest:{sender}")]


def test_the_same_question_without_diacritics_in_teen_code(bot: Bot) -> None:
    reply = bot.text(new_sender(), "co ng tren fb moi e sang cpc lam cskh luong 30tr, bao ve may bay, co nen di ko")
    assert BAND_TEXT[Band.HIGH] in reply and BY_ID["risky_destination"].title in reply


def test_the_menu_button_then_one_question_at_a_time_only_for_what_is_missing(bot: Bot) -> None:
    sender = new_sender()
    greeting = bot.say(sender, "chào bạn")
    assert any(b.get("payload") == "/check_offer" for m in greeting for b in m.get("buttons") or [])
    assert Q["offer_text"] in bot.text(sender, "/check_offer")
    first = bot.text(sender, "có người mời em đi làm ở Nhật, lương 25 triệu")
    assert Q["contact"] in first and Q["country"] not in first  # the country was given
    assert Q["travel"] in bot.text(sender, "qua zalo")
    assert Q["contract"] in bot.text(sender, "bỏ qua")
    assert Q["passport"] in bot.text(sender, "co, ky o cong ty")
    assert Q["company"] in bot.text(sender, "hộ chiếu em tự cầm")
    result = bot.text(sender, "không biết")
    assert BAND_TEXT[Band.CHECK] in result and BY_ID["chat_only_contact"].title in result and "111" in result
    assert bot.tracker(sender)["active_loop"] in ({}, None) or not bot.tracker(sender)["active_loop"].get("name")


def test_answers_can_raise_the_band(bot: Bot) -> None:
    sender = new_sender()
    bot.text(sender, "có người mời em đi làm ở Nhật")
    bot.text(sender, "người quen giới thiệu")
    bot.text(sender, "họ trả hết")
    bot.text(sender, "chưa có hợp đồng")
    result = bot.text(sender, "có, họ bảo đưa hộ chiếu cho họ")
    assert BAND_TEXT[Band.HIGH] in result
    for sign in ("travel_paid", "no_contract", "passport_kept"):
        assert BY_ID[sign].title in result


def test_thoi_leaves_the_check_and_the_bot_answers_normally_after(bot: Bot) -> None:
    sender = new_sender()
    assert Q["contact"] in bot.text(sender, "có người mời em đi Đài Loan làm việc")
    assert offer_reply.STOPPED in bot.text(sender, "thôi")
    after = bot.text(sender, "Tội mua bán người bị phạt tù bao nhiêu năm?")
    assert "Căn cứ:" in after and Q["contact"] not in after


def test_an_emergency_in_the_middle_of_the_check_wins(bot: Bot) -> None:
    sender = new_sender()
    assert Q["contact"] in bot.text(sender, "có người mời em đi làm ở Malaysia")
    reply = bot.text(sender, "cứu em, em đang bị nhốt ở Campuchia, họ giữ hộ chiếu không cho về")
    assert replies.EMERGENCY_REPLY in reply and "113" in reply
    assert Q["travel"] not in reply and Q["contact"] not in reply
    mine = [t for t in bot.tickets() if t["sender_id"] == mask_id(f"rest:{sender}")]
    assert len(mine) == 1 and mine[0]["priority"] in ("immediate", "urgent")
    # A waiting ticket (issue 14): the bot is not paused, and the channel asks the safety question.
    assert bot.tracker(sender)["paused"] is False and replies.SAFETY_QUESTION in reply


def test_a_handbook_question_in_the_middle_is_answered_then_the_check_goes_on(bot: Bot) -> None:
    sender = new_sender()
    assert Q["contact"] in bot.text(sender, "có người mời em đi làm ở Malaysia")
    reply = bot.text(sender, "Tội mua bán người bị phạt tù bao nhiêu năm?")
    assert "Căn cứ:" in reply and "Điều 150" in reply
    assert Q["contact"] in reply  # and the check asks its question again
    assert Q["travel"] in bot.text(sender, "qua facebook")
