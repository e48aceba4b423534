"""Issue 14's eight steps over the real stack (Rasa, action server, handoff service), Telegram (fake
platform) and the staff console in headless Chromium:

1 a family reports a missing relative; 2 the bot answers with the practical steps and opens a
waiting ticket; 3 a follow-up question is answered (with 111) and appears on the transcript; 4 an
agent claims the ticket in the console; 5 the bot steps back (a new message gets no bot answer and
appears for the agent); 6 the agent replies through the channel; 7 the agent resolves and labels
the ticket; 8 the label shows in `make safety-review`'s file.
"""

from __future__ import annotations

import random
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

from helpline import replies
from helpline.handoff import HandoffStore
from helpline.settings import PROJECT_ROOT
from helpline.stack import Stack
from helpline.text import mask_id
from tests.e2e.conftest import AGENT
from tests.e2e.test_console_flow import _update_ids, send_telegram, wait_text
from tests.fakes import webhooks
from tests.fakes.telegram import FakeTelegram
from tests.integration.conftest import Bot

REPORT = "con gai toi 13 tuoi di theo mot nguoi quen tren facebook, 3 ngay nay khong lien lac duoc"
FOLLOW_UP = "Tội mua bán người bị phạt tù bao nhiêu năm?"
AFTER_CLAIM = "chị ơi, em gửi ảnh của cháu cho chị được không"


def tap(bot: Bot, telegram: FakeTelegram, chat_id: str, title: str) -> None:
    """What Telegram sends when the person taps an inline button of the last message that offered it."""
    offer = [d for d in telegram.to(chat_id) if d.extra.get("reply_markup")][-1]
    [key] = [row[0]["callback_data"] for row in offer.extra["reply_markup"]["inline_keyboard"]
             if row[0]["text"] == title]
    update = webhooks.readdress("telegram", webhooks.load("telegram", "callback_query"), sender=chat_id,
                                mid=str(next(_update_ids)))
    update["callback_query"]["data"] = key
    body, headers = webhooks.signed("telegram", update)
    assert httpx.post(f"{bot.rasa}/webhooks/telegram/webhook", content=body, headers=headers,
                      timeout=30).status_code == 200


def test_the_bot_keeps_helping_until_an_agent_takes_over(
    e2e_stack: Stack, e2e_bot: Bot, telegram: FakeTelegram, browser: Any, tmp_path: Path
) -> None:
    chat_id = str(random.randint(2 * 10**9, 3 * 10**9))
    key = f"telegram:{chat_id}"
    store = HandoffStore.from_url(f"sqlite:///{Path(e2e_stack.env['HELPLINE_DATA_DIR']) / 'handoff.db'}")

    # 1. A family reports a missing relative (an urgent message).
    send_telegram(e2e_bot, chat_id, REPORT)

    # 2. The hotlines and the family's practical steps at once, then the safety check; a waiting ticket.
    steps = wait_text(telegram, chat_id, replies.URGENT_STEPS_INTRO)
    assert "Căn cứ:" in steps
    wait_text(telegram, chat_id, "Bạn có đang ở nơi an toàn để nhắn tin không?")
    texts = telegram.texts_to(chat_id)
    assert texts[0] == replies.EMERGENCY_REPLY and "113" in texts[0] and "111" in texts[0]
    [ticket] = [t for t in e2e_bot.tickets() if t["sender_id"] == mask_id(key)]
    assert ticket["priority"] == "urgent"
    state = store.open_ticket_state("telegram", key)
    assert state is not None and state.waiting, "nobody holds it yet"
    assert e2e_bot.tracker(key)["paused"] is False, "the bot keeps answering"
    # The person taps "Không chắc": staff see the button's title, and the ticket stays at least urgent.
    tap(e2e_bot, telegram, chat_id, "Không chắc")
    wait_text(telegram, chat_id, replies.SAFETY_ACK["unsure"])

    # 3. A follow-up question gets an answer, with 111.
    before = len(telegram.texts_to(chat_id))
    send_telegram(e2e_bot, chat_id, FOLLOW_UP)
    answer = wait_text(telegram, chat_id, "Căn cứ:", after=before)
    assert "Điều 150" in answer
    assert "111" in "\n".join(telegram.texts_to(chat_id)[before:])

    # The agent logs in: the ticket is in the queue as waiting ("Đang chờ").
    page = browser.new_page(viewport={"width": 1280, "height": 720}, locale="vi-VN")
    page.goto(f"{e2e_bot.handoff}/console/")
    page.fill("input[name=username]", AGENT[0])
    page.fill("input[name=password]", AGENT[1])
    page.click("button:has-text('Đăng nhập')")
    row = page.wait_for_selector(f"#queue-rows tr[data-ticket='{ticket['id']}']", timeout=30000)
    assert "Đang chờ" in row.inner_text()
    page.click(f"#queue-rows tr[data-ticket='{ticket['id']}'] a.ticket-link")
    page.wait_for_selector("#transcript")
    transcript = page.inner_text("#transcript")
    # The whole conversation, in order: the report, what the bot said, the button pressed, the follow-up.
    order = ["3 ngay nay khong lien lac duoc", replies.URGENT_STEPS_INTRO, "Bạn có đang ở nơi an toàn",
             replies.BUTTON_PRESSED.format(title="Không chắc"), FOLLOW_UP, "Điều 150"]
    positions = [transcript.find(part) for part in order]
    assert -1 not in positions and positions == sorted(positions), positions
    assert "/safety_unsure" not in transcript
    assert "Đang chờ" in page.inner_text("#handling")
    assert page.inner_text("#safety-answer") .startswith("Không chắc")

    # 4. The agent claims the ticket; the person is told a staff member has it.
    delivered = len(telegram.texts_to(chat_id))
    page.click("button:has-text('Nhận ca này')")
    page.wait_for_selector(".flash.ok:has-text('Bạn đã nhận ca này')")
    assert "Đã nhận" in page.inner_text("#handling")
    wait_text(telegram, chat_id, replies.STAFF_TOOK_OVER, after=delivered)
    state = store.open_ticket_state("telegram", key)
    assert state is not None and state.assigned_to == AGENT[0]

    # 5. The bot steps back: a new message gets no bot answer and appears for the agent, live.
    delivered = len(telegram.texts_to(chat_id))
    send_telegram(e2e_bot, chat_id, AFTER_CLAIM)
    page.wait_for_selector("#transcript li.user:has-text('em gửi ảnh của cháu')", timeout=30000)
    time.sleep(2)  # the turn is done (the line is on the ticket); anything the bot sent would be out by now
    assert telegram.texts_to(chat_id)[delivered:] == [], "no bot answer once an agent has the ticket"

    # 6. The agent replies through the channel; the fake Telegram platform receives it.
    page.fill("#reply-text", "Chào chị, em là nhân viên tổng đài 111. Chị gửi ảnh qua đây được ạ.")
    page.click("button:has-text('Gửi trả lời')")
    page.wait_for_selector(".flash.ok:has-text('Đã gửi trả lời')")
    staff = wait_text(telegram, chat_id, "Chị gửi ảnh qua đây được ạ", after=delivered)
    assert staff.startswith("Chào chị, em là nhân viên tổng đài 111.")

    # 7. The agent resolves with a safety label; the bot comes back and says so.
    page.check("#resolve-form input[name=label][value=real_emergency]")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("button:has-text('Kết thúc ca')")
    page.wait_for_selector(".flash.ok:has-text('Trợ lý tự động đã trở lại')")
    page.wait_for_selector("#safety-label:has-text('Khẩn cấp thật')")
    wait_text(telegram, chat_id, replies.BOT_RESUMED)
    assert store.open_ticket_state("telegram", key) is None

    # 8. The label is in `make safety-review`'s file, masked.
    out = tmp_path / "safety_review.yml"
    review = subprocess.run(["make", "-s", "safety-review", f"OUT={out}"], cwd=PROJECT_ROOT, env=e2e_stack.env,
                            capture_output=True, text=True, timeout=120)
    assert review.returncode == 0, review.stderr
    items = yaml.safe_load(out.read_text(encoding="utf-8"))["items"]
    [item] = [i for i in items if i["ref"] == mask_id(key)]
    assert (item["label"], item["bot_priority"]) == ("real_emergency", "urgent")
    assert item["text"] == REPORT and chat_id not in out.read_text(encoding="utf-8")

    # The bot answers again.
    before = len(telegram.texts_to(chat_id))
    send_telegram(e2e_bot, chat_id, FOLLOW_UP)
    assert "Điều 150" in wait_text(telegram, chat_id, "Căn cứ:", after=before)
    page.close()
