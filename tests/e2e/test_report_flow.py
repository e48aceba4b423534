"""An anonymous report, as staff live it, over the real stack and a real browser (issue 16):
a report is filed on Telegram (fake platform) -> it shows in the console's "Báo tin" queue with its
answers -> an agent claims it and marks it forwarded to the police -> a supervisor sees that in
the audit log -> closing it does not tell the person "the assistant is back" (it never paused).
"""

from __future__ import annotations

import random
import re
import subprocess
from typing import Any

from helpline import replies
from helpline.settings import PROJECT_ROOT
from helpline.stack import ACTIONS_VENV, Stack
from helpline.text import mask_id
from tests.e2e.conftest import AGENT
from tests.e2e.test_console_flow import send_telegram, wait_text
from tests.fakes.telegram import FakeTelegram
from tests.integration.conftest import Bot

SUPERVISOR = ("mai", "mat-khau-giam-sat-e2e")
ANSWERS = (
    ("Câu 2/6", "Có người trên Facebook rủ em gái tôi sang Trung Quốc lấy chồng, hứa cho gia đình 50 triệu"),
    ("Câu 3/6", "xã Bản Lầu, Mường Khương, Lào Cai"),
    ("Câu 4/6", "tuần trước"),
    ("Câu 5/6", "một bà mối trong xóm"),
    ("Câu 6/6", "Không"),
    ("Mã báo tin", "Nhắn lại qua đây"),
)


def login(browser: Any, handoff: str, account: tuple[str, str]) -> Any:
    page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="vi-VN")
    page.goto(f"{handoff}/console/")
    page.fill("input[name=username]", account[0])
    page.fill("input[name=password]", account[1])
    page.click("button:has-text('Đăng nhập')")
    page.wait_for_selector("h1:has-text('Hàng chờ')")
    return page


def test_report_arrives_is_claimed_and_marked_forwarded(
    e2e_stack: Stack, e2e_bot: Bot, telegram: FakeTelegram, browser: Any
) -> None:
    chat_id = str(random.randint(10**9, 2 * 10**9))
    send_telegram(e2e_bot, chat_id, "tôi muốn báo tin")
    wait_text(telegram, chat_id, "Câu 1/6")
    for question, answer in ANSWERS:
        send_telegram(e2e_bot, chat_id, answer)
        last = wait_text(telegram, chat_id, question)
    code = re.search(r"BT-[A-Z2-9]{4}-[A-Z2-9]{4}", last).group(0)  # type: ignore[union-attr]
    [ticket] = [t for t in e2e_bot.tickets() if t["sender_id"] == mask_id(f"telegram:{chat_id}")]

    # The "Báo tin" queue lists the report with its badge; other tickets are not in it.
    page = login(browser, e2e_bot.handoff, AGENT)
    page.select_option("select[name=kind]", "report")
    page.wait_for_selector(f"#queue-rows tr[data-ticket='{ticket['id']}'] .badge.report:has-text('Báo tin')")
    assert "kind=report" in page.url
    page.click(f"#queue-rows tr[data-ticket='{ticket['id']}'] a.ticket-link")

    # The ticket page shows the report's answers and code.
    card = page.wait_for_selector(".report-card")
    shown = card.inner_text()
    assert code in shown and "xã Bản Lầu, Mường Khương, Lào Cai" in shown and "một bà mối trong xóm" in shown
    assert "Nhắn lại qua cuộc trò chuyện này" in shown

    # Claimed, then marked forwarded to the police.
    page.click("button:has-text('Nhận ca này')")
    page.wait_for_selector(".flash.ok:has-text('Bạn đã nhận ca này')")
    page.fill(".forward-form input[name=to]", "Công an huyện Mường Khương")
    page.click("button:has-text('Đánh dấu đã chuyển công an')")
    page.wait_for_selector(".flash.ok:has-text('đã được chuyển cho công an')")
    forwarded = page.inner_text(".report-card .forwarded")
    assert "Công an huyện Mường Khương" in forwarded and AGENT[0] in forwarded

    # A supervisor sees who forwarded it, to whom, in the audit log.
    created = subprocess.run(
        [str(ACTIONS_VENV / "bin" / "python"), "-m", "helpline.handoff.staff", "add", "--username", SUPERVISOR[0],
         "--role", "supervisor"], input=SUPERVISOR[1] + "\n", text=True, capture_output=True, env=e2e_stack.env,
        cwd=PROJECT_ROOT, timeout=60)
    assert created.returncode == 0, created.stderr
    boss = login(browser, e2e_bot.handoff, SUPERVISOR)
    boss.goto(f"{e2e_bot.handoff}/console/supervisor")
    row = boss.wait_for_selector(f"#audit tr:has-text('report_forwarded'):has-text('#{ticket['id']}')")
    assert AGENT[0] in row.inner_text() and "Mường Khương" in row.inner_text()
    boss.close()

    # Closing the report: no "the assistant is back" message, the bot was never paused.
    delivered = len(telegram.texts_to(chat_id))
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("button:has-text('Kết thúc ca báo tin')")
    page.wait_for_selector(".flash.ok:has-text('Đã kết thúc ca báo tin')")
    send_telegram(e2e_bot, chat_id, "Tội mua bán người bị phạt tù bao nhiêu năm?")
    wait_text(telegram, chat_id, "Căn cứ:", after=delivered)
    assert replies.BOT_RESUMED not in telegram.texts_to(chat_id)[delivered:]
    page.close()
