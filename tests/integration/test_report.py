"""The anonymous report (issue 16) through the real Rasa server, action server and handoff service."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from pathlib import Path

from helpline import replies
from helpline import report_replies as texts
from helpline.handoff import HandoffStore
from helpline.handoff.models import REPORT_REASON
from helpline.text import mask_id
from tests.integration.conftest import Bot

CODE = re.compile(r"BT-[A-Z2-9]{4}-[A-Z2-9]{4}")


def new_sender() -> str:
    return f"rp-{uuid.uuid4().hex[:10]}"


def store(bot: Bot) -> HandoffStore:
    return HandoffStore.from_url(f"sqlite:///{Path(bot.stack.env['HELPLINE_DATA_DIR']) / 'handoff.db'}")


def mine(bot: Bot, sender: str, status: str = "open") -> list[dict]:
    return [t for t in bot.tickets(status) if t["sender_id"] == mask_id(f"rest:{sender}")]


def start(bot: Bot, sender: str, text: str = "tôi muốn báo tin") -> str:
    reply = bot.text(sender, text)
    # Before the first question: what is stored, who sees it, for how long.
    assert "Chỉ nhân viên tổng đài 111" in reply and "ngày sau khi nhân viên xử lý xong" in reply
    assert "Câu 1/6" in reply
    return reply


def test_a_report_gets_a_code_a_quiet_ticket_and_takes_additions(bot: Bot) -> None:
    sender = new_sender()
    start(bot, sender, "e mun bao tin")
    assert "Câu 2/6" in bot.text(sender, "Có người trên Facebook rủ em gái tôi sang Trung Quốc lấy chồng, "
                                         "hứa cho gia đình 50 triệu")
    assert "Câu 3/6" in bot.text(sender, "xã Bản Lầu, Mường Khương, Lào Cai")
    assert "Câu 4/6" in bot.text(sender, "tuần trước")
    assert "Câu 5/6" in bot.text(sender, "một bà mối trong xóm")
    ask_contact = bot.say(sender, "Không")
    assert any(b["title"] == "Nhắn lại qua đây" for m in ask_contact for b in m.get("buttons") or [])
    done = bot.text(sender, "Nhắn lại qua đây")
    match = CODE.search(done)
    assert match, done
    code = match.group(0)
    assert "111" in done and "113" in done
    # A report ticket for staff, and the bot keeps talking to the person (not paused).
    [ticket] = mine(bot, sender)
    assert REPORT_REASON in ticket["reasons"] and ticket["priority"] == "concern"
    assert bot.tracker(sender)["paused"] is False
    report = store(bot).report_by_code(code, "rest", f"rest:{sender}")
    assert report is not None
    assert (report.fields.place, report.fields.in_danger, report.fields.contact) == (
        "xã Bản Lầu, Mường Khương, Lào Cai", "no", "chat")
    assert "Căn cứ:" in bot.text(sender, "Tội mua bán người bị phạt tù bao nhiêu năm?")  # the bot still answers

    # Later: the code with more information goes to the same report.
    added = bot.text(sender, f"{code.lower()} hôm nay bà mối lại đến nhà")
    assert added == texts.added(code)
    lines = [m.text for m in store(bot).get(report.ticket_id).messages]  # type: ignore[union-attr]
    assert lines.count(f"{code.lower()} hôm nay bà mối lại đến nhà") == 1
    # The code alone: the bot asks what to add, then stores the next message.
    assert "bổ sung gì" in bot.text(sender, code)
    assert bot.text(sender, "họ đi xe biển số tỉnh khác") == texts.added(code)
    assert "họ đi xe biển số tỉnh khác" in [m.text for m in store(bot).get(report.ticket_id).messages]  # type: ignore[union-attr]

    # Anyone else sending the code gets the neutral reply, and nothing is added.
    stranger = new_sender()
    assert bot.text(stranger, f"{code} thêm tin giả") == texts.UNKNOWN_CODE
    assert "thêm tin giả" not in " ".join(m.text for m in store(bot).get(report.ticket_id).messages)  # type: ignore[union-attr]
    assert mine(bot, stranger) == []


def test_skipping_every_question_still_files_and_stopping_files_nothing(bot: Bot) -> None:
    sender = new_sender()
    start(bot, sender)
    for _ in range(4):
        bot.text(sender, "bỏ qua")
    bot.text(sender, "Bỏ qua")
    done = bot.text(sender, "bỏ qua")
    assert CODE.search(done), done
    [report] = store(bot).reports_for_ticket(int(mine(bot, sender)[0]["id"]))
    assert report.fields.what is None and report.fields.in_danger is None and report.fields.contact == "none"

    other = new_sender()
    start(bot, other)
    bot.text(other, "có người lạ hay đến xóm rủ các cô gái đi làm xa")
    assert bot.text(other, "thôi") == texts.STOPPED
    assert mine(bot, other) == []
    # The form is over: the next message is an ordinary question again.
    assert "Căn cứ:" in bot.text(other, "Tội mua bán người bị phạt tù bao nhiêu năm?")


def test_an_faq_question_mid_form_is_answered_and_the_form_goes_on(bot: Bot) -> None:
    sender = new_sender()
    start(bot, sender)
    assert "Câu 2/6" in bot.text(sender, "co nguoi ru chi ho em di lam o campuchia luong cao")
    answer = bot.text(sender, "mua bán người bị phạt tù bao nhiêu năm?")
    assert "Căn cứ:" in answer and "Câu 2/6" in answer
    assert "Câu 3/6" in bot.text(sender, "ở Lào Cai")


def test_an_unaccented_place_the_classifier_reads_as_a_question_is_the_answer(bot: Bot) -> None:
    sender = new_sender()
    start(bot, sender)
    bot.text(sender, "co nguoi ru chi ho em di lam o campuchia luong cao")
    reply = bot.text(sender, "xa ban lau, muong khuong, lao cai")
    assert reply.startswith("Câu 3/6") and "Có phải bạn muốn hỏi" not in reply


def test_an_emergency_mid_form_wins(bot: Bot) -> None:
    sender = new_sender()
    start(bot, sender)
    reply = bot.text(sender, "họ đang nhốt con bé trong nhà, cứu với")
    assert reply.startswith(replies.EMERGENCY_REPLY.splitlines()[0]) and "113" in reply
    # A waiting ticket (issue 14): the bot is not paused, and the channel asks the safety question.
    assert bot.tracker(sender)["paused"] is False and replies.SAFETY_QUESTION in reply
    [ticket] = mine(bot, sender)
    assert ticket["priority"] in ("immediate", "urgent") and REPORT_REASON not in ticket["reasons"]


def test_someone_in_danger_now_takes_the_emergency_path_with_the_report(bot: Bot) -> None:
    sender = new_sender()
    start(bot, sender)
    for answer in ("bỏ qua", "ở Lào Cai", "hôm qua", "bỏ qua"):
        bot.text(sender, answer)
    messages = bot.say(sender, "Có")
    assert messages[0]["text"] == replies.EMERGENCY_REPLY  # the hotlines first
    text = "\n".join(m.get("text", "") for m in messages)
    code = CODE.search(text)
    assert code and replies.STAFF_JOINING in text and "Câu 6/6" not in text
    # A waiting ticket (issue 14): the bot is not paused, and the channel asks the safety question.
    assert bot.tracker(sender)["paused"] is False and replies.SAFETY_QUESTION in text
    [ticket] = mine(bot, sender)
    assert ticket["priority"] == "immediate" and "report:in_danger" in ticket["reasons"]
    report = store(bot).report_by_code(code.group(0), "rest", f"rest:{sender}")
    assert report is not None and report.fields.in_danger == "yes" and report.fields.contact is None


def test_delete_my_data_keeps_a_forwarded_report_and_says_so(bot: Bot) -> None:
    sender = new_sender()
    start(bot, sender)
    for answer in ("có người lạ hay đến xóm rủ các cô gái đi làm xa", "bỏ qua", "bỏ qua", "bỏ qua", "Không"):
        bot.text(sender, answer)
    code = CODE.search(bot.text(sender, "Không cần liên hệ")).group(0)  # type: ignore[union-attr]
    s = store(bot)
    report = s.report_by_code(code, "rest", f"rest:{sender}")
    assert report is not None
    s.mark_forwarded(report.id, "lan", "Công an tỉnh Lào Cai", dt.date.today() - dt.timedelta(days=1))
    bot.say(sender, "xóa dữ liệu của tôi")
    done = bot.text(sender, "/affirm")
    assert "đã xóa" in done and code in done and "chuyển cho công an" in done
    assert s.report_by_code(code, "rest", f"rest:{sender}") is not None


def test_an_email_for_contact_back_is_stored_not_taken_for_danger(bot: Bot) -> None:
    sender = new_sender()
    start(bot, sender)
    for answer in ("bỏ qua", "bỏ qua", "bỏ qua", "bỏ qua", "Không"):
        bot.text(sender, answer)
    done = bot.text(sender, "email của mình: hoa.le.2001@gmail.com")
    code = CODE.search(done)
    assert code and replies.EMERGENCY_REPLY not in done, done
    assert bot.tracker(sender)["paused"] is False
    report = store(bot).report_by_code(code.group(0), "rest", f"rest:{sender}")
    assert report is not None and report.fields.contact == "email của mình: hoa.le.2001@gmail.com"
    # The ticket API masks it.
    [ticket] = mine(bot, sender)
    assert "hoa.le.2001@gmail.com" not in str(ticket)
