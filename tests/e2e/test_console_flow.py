"""The whole handoff, as people live it, over the real stack and a real browser:

an emergency arrives on Telegram (fake platform) -> the ticket appears live on the staff console ->
an agent replies and the reply reaches the user on Telegram -> the agent resolves the ticket with a
safety label -> the label is in `make safety-review`'s file -> the bot answers again. Screenshots of
the queue and the ticket view are taken on every run; with HELPLINE_UPDATE_SCREENSHOTS=1 they
replace docs/console-queue.png and docs/console-ticket.png
(otherwise they go to a temporary folder, so a test run leaves the work tree clean).
"""

from __future__ import annotations

import itertools
import os
import random
import subprocess
from pathlib import Path
from typing import Any

import httpx
import yaml

from helpline import replies
from helpline.settings import PROJECT_ROOT
from helpline.stack import Stack
from helpline.text import mask_id
from tests.e2e.conftest import AGENT
from tests.fakes import webhooks
from tests.fakes.telegram import FakeTelegram
from tests.integration.conftest import Bot

DOCS = PROJECT_ROOT / "docs"


def shot_dir(tmp_path: Path) -> Path:
    return DOCS if os.environ.get("HELPLINE_UPDATE_SCREENSHOTS") == "1" else tmp_path
_update_ids = itertools.count(random.randint(10**8, 9 * 10**8))


def send_telegram(bot: Bot, chat_id: str, text: str) -> None:
    """What Telegram does when the person writes: a signed webhook POST to the Rasa server."""
    update = webhooks.readdress("telegram", webhooks.load("telegram", "text"), sender=chat_id,
                                mid=str(next(_update_ids)), text=text)
    body, headers = webhooks.signed("telegram", update)
    response = httpx.post(f"{bot.rasa}/webhooks/telegram/webhook", content=body, headers=headers, timeout=30)
    assert response.status_code == 200, response.text


def wait_text(telegram: FakeTelegram, chat_id: str, needle: str, after: int = 0, timeout: float = 60) -> str:
    """The first text delivered to the person (from index ``after`` on) that contains ``needle``."""
    def found() -> str | None:
        return next((t for t in telegram.texts_to(chat_id)[after:] if needle in t), None)

    try:
        return str(telegram.wait_for(found, timeout=timeout))
    except AssertionError:
        raise AssertionError(f"no text with {needle!r}; delivered: {telegram.texts_to(chat_id)[after:]}") from None


def test_emergency_to_staff_reply_to_resolve_and_back_to_the_bot(
    e2e_stack: Stack, e2e_bot: Bot, telegram: FakeTelegram, browser: Any, tmp_path: Path
) -> None:
    chat_id = str(random.randint(10**9, 2 * 10**9))
    handoff = e2e_bot.handoff
    page = browser.new_page(viewport={"width": 1280, "height": 720}, locale="vi-VN")

    # The agent logs in and keeps the queue open; it is connected for live updates.
    page.goto(f"{handoff}/console/")
    assert "/console/login" in page.url
    page.fill("input[name=username]", AGENT[0])
    page.fill("input[name=password]", AGENT[1])
    page.click("button:has-text('Đăng nhập')")
    page.wait_for_selector("h1:has-text('Hàng chờ')")
    page.wait_for_selector("#live-status:has-text('Trực tiếp')", timeout=15000)

    # An emergency arrives on Telegram: the person gets 113/111 at once, and a ticket opens.
    send_telegram(e2e_bot, chat_id, "cứu tôi với, tôi bị nhốt ở Campuchia, họ lấy mất hộ chiếu rồi")
    first = wait_text(telegram, chat_id, "113")
    assert "111" in "\n".join(telegram.texts_to(chat_id)) and first
    tickets = [t for t in e2e_bot.tickets() if t["sender_id"] == mask_id(f"telegram:{chat_id}")]
    assert len(tickets) == 1 and tickets[0]["channel"] == "telegram"
    ticket_id = tickets[0]["id"]
    assert tickets[0]["priority"] in ("immediate", "urgent")
    # The ticket waits for staff; the bot keeps answering meanwhile and asks the safety question.
    assert e2e_bot.tracker(f"telegram:{chat_id}")["paused"] is False
    wait_text(telegram, chat_id, "Bạn có đang ở nơi an toàn để nhắn tin không?")

    # It appears on the open queue without a reload.
    row = page.wait_for_selector(f"#queue-rows tr[data-ticket='{ticket_id}']", timeout=30000)
    assert "Telegram" in row.inner_text()
    assert page.url.endswith("/console/"), "no navigation happened: the row came over the live feed"
    page.screenshot(path=str(shot_dir(tmp_path) / "console-queue.png"))

    # The agent opens it: the transcript is there, and a new message from the person arrives live.
    page.click(f"#queue-rows tr[data-ticket='{ticket_id}'] a.ticket-link")
    page.wait_for_selector("#transcript")
    assert "nhốt ở Campuchia" in page.inner_text("#transcript")
    before = len(telegram.texts_to(chat_id))
    send_telegram(e2e_bot, chat_id, "tôi đang trốn trong nhà vệ sinh, rất sợ")
    # The bot still answers while nobody has claimed the ticket (on a loaded machine this can take a
    # while), with 111 ...
    wait_text(telegram, chat_id, "111", after=before)
    # ... and the console shows the message without a reload.
    page.wait_for_selector("#transcript li.user:has-text('nhà vệ sinh')", timeout=30000)

    # The agent answers with a quick reply plus their own words; it reaches the person on Telegram.
    delivered_before = len(telegram.texts_to(chat_id))
    page.click("button.chip:has-text('Chào, hỏi an toàn')")
    page.fill("#reply-text", page.input_value("#reply-text") + "\nBạn cứ ở yên đó, mình đang báo công an.")
    page.click("button:has-text('Gửi trả lời')")
    page.wait_for_selector(".flash.ok:has-text('Đã gửi trả lời')")
    staff_text = wait_text(telegram, chat_id, "mình đang báo công an", after=delivered_before)
    assert staff_text.startswith("Chào bạn, mình là nhân viên tổng đài 111.")
    page.wait_for_selector("#transcript li.staff")
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=str(shot_dir(tmp_path) / "console-ticket.png"), full_page=True)
    assert (shot_dir(tmp_path) / "console-ticket.png").stat().st_size > 10_000
    page.set_viewport_size({"width": 1280, "height": 720})

    # The agent resolves. An emergency ticket is not closed without the agent's safety label: the
    # browser holds the form back until one of the three is chosen.
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("button:has-text('Kết thúc ca')")
    page.wait_for_timeout(500)
    assert [t["id"] for t in e2e_bot.tickets() if t["id"] == ticket_id] == [ticket_id], "resolved without a label"
    assert "Kết thúc ca" in page.inner_text("#resolve-form")
    page.check("#resolve-form input[name=label][value=real_emergency]")
    page.fill("#label-note", "Đã báo công an, người dùng gọi lại số 0912345678")
    # Rasa is resumed and the person is told the assistant is back.
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("button:has-text('Kết thúc ca')")
    page.wait_for_selector(".flash.ok:has-text('Trợ lý tự động đã trở lại')")
    page.wait_for_selector("#safety-label:has-text('Khẩn cấp thật')")
    wait_text(telegram, chat_id, replies.BOT_RESUMED)
    assert e2e_bot.tracker(f"telegram:{chat_id}")["paused"] is False

    # The label shows in `make safety-review`'s file, with the person's data masked.
    out = tmp_path / "safety_review.yml"
    review = subprocess.run(["make", "-s", "safety-review", f"OUT={out}"], cwd=PROJECT_ROOT, env=e2e_stack.env,
                            capture_output=True, text=True, timeout=120)
    assert review.returncode == 0, review.stderr
    assert "labelled cases written to" in review.stdout.strip().splitlines()[-1]
    exported = yaml.safe_load(out.read_text(encoding="utf-8"))["items"]
    [item] = [i for i in exported if i["ref"] == mask_id(f"telegram:{chat_id}")]
    assert (item["label"], item["source"]) == ("real_emergency", "staff_review")
    assert item["level"] in ("immediate", "urgent") and item["style"] == "accented"
    assert "nhốt ở Campuchia" in item["text"]
    assert "0912345678" not in out.read_text(encoding="utf-8") and chat_id not in out.read_text(encoding="utf-8")

    # The bot answers again.
    delivered_before = len(telegram.texts_to(chat_id))
    send_telegram(e2e_bot, chat_id, "Tội mua bán người bị phạt tù bao nhiêu năm?")
    answer = wait_text(telegram, chat_id, "Căn cứ:", after=delivered_before)
    assert "Điều 150" in answer
    assert [t["id"] for t in e2e_bot.tickets() if t["sender_id"] == mask_id(f"telegram:{chat_id}")] == []
    page.close()
