"""The learning loop end to end, over the real stack and a real browser (issue 17):

a question gets a clarification -> it is in the unanswered list -> an editor adds it as a
paraphrase -> a second editor approves -> the index rebuilds in the background -> the same
question is answered directly -> the YAML diff is only that paraphrase. Then the fault: a build
that fails validation leaves the old index serving, and the editor sees why.

The stack works on copies of the handbook and of the built index (tmp folders), so the work tree
is never touched. Screenshots for docs/editing.md are written to docs/img/ with
HELPLINE_UPDATE_SCREENSHOTS=1 (otherwise to a temporary folder).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from helpline import replies
from helpline.kb.entries import load_entries
from helpline.kb.index import current_index_path, load_index
from helpline.settings import PROJECT_ROOT
from helpline.stack import ACTIONS_VENV, RASA_MODEL, Ports, Stack
from tests.stacks import Bot, base_env, free_port, start_or_show_logs

EDITORS = (("hanh", "so-tay-kiem-duyet-e2e-1"), ("quang", "so-tay-kiem-duyet-e2e-2"))
QUESTION = "nguoi ta hua cho di lam xa luong cao"
TARGET = "dau-hieu-viec-nhe-luong-cao"
BUILD_TIMEOUT_MS = 600_000


def shots(tmp_path: Path) -> Path:
    folder = PROJECT_ROOT / "docs" / "img" if os.environ.get("HELPLINE_UPDATE_SCREENSHOTS") == "1" else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def kb_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("kb") / "knowledge_base"
    shutil.copytree(PROJECT_ROOT / "knowledge_base" / "faq", base / "faq")
    shutil.copy(PROJECT_ROOT / "knowledge_base" / "verified_numbers.yml", base / "verified_numbers.yml")
    shutil.copy(PROJECT_ROOT / "knowledge_base" / "urgent_steps.yml", base / "urgent_steps.yml")
    built = current_index_path(PROJECT_ROOT / "knowledge_base" / "build")
    if not (built / "manifest.json").is_file():
        pytest.fail("no built index: run `make setup`")
    shutil.copytree(built, base / "build" / built.name)
    (base / "build" / "current").symlink_to(built.name)
    for cmd in (["init", "-q"], ["add", "faq"], ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "kb"]):
        subprocess.run(["git", *cmd], cwd=base, check=True, capture_output=True)
    return base


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, kb_copy: Path) -> Iterator[Stack]:
    if not RASA_MODEL.is_file():
        pytest.fail(f"no trained Rasa model at {RASA_MODEL}: run `make setup`")
    data_dir = tmp_path_factory.mktemp("edit-data")
    log_dir = tmp_path_factory.mktemp("edit-logs")
    env = base_env()
    env.update(HELPLINE_KB_DIR=str(kb_copy / "faq"), HELPLINE_INDEX_DIR=str(kb_copy / "build"),
               HELPLINE_CONFIG="/nonexistent.yml", HELPLINE_DESK_TICK_SECONDS="1")
    stack = Stack(data_dir, Ports(rasa=free_port(), actions=free_port(), handoff=free_port()), log_dir=log_dir,
                  env=env)
    for username, password in EDITORS:
        created = subprocess.run(
            [str(ACTIONS_VENV / "bin" / "python"), "-m", "helpline.handoff.staff", "add", "--username", username,
             "--role", "editor"], input=password + "\n", text=True, capture_output=True, env=stack.env,
            cwd=PROJECT_ROOT, timeout=60)
        assert created.returncode == 0, created.stderr
    start_or_show_logs(stack, log_dir)
    yield stack
    stack.stop_all()
    for log in sorted(log_dir.glob("*.log")):
        print(f"----- {log.name} -----\n{log.read_text(errors='replace')[-3000:]}")


@pytest.fixture(scope="module")
def bot(stack: Stack) -> Iterator[Bot]:
    client = Bot(stack)
    yield client
    client.http.close()


def log_in(browser: Any, bot: Bot, who: tuple[str, str]) -> Any:
    page = browser.new_context(viewport={"width": 1280, "height": 900}, locale="vi-VN").new_page()
    # Saving and approving run the build's validation over the whole handbook: slow on a loaded machine.
    page.set_default_timeout(180_000)
    page.goto(f"{bot.handoff}/console/")
    page.fill("input[name=username]", who[0])
    page.fill("input[name=password]", who[1])
    page.click("button:has-text('Đăng nhập')")
    page.wait_for_selector("h1:has-text('Sổ tay hỏi đáp')")  # editors land on the handbook, not the queue
    return page


def git_changes(kb: Path) -> list[str]:
    diff = subprocess.run(["git", "diff", "-U0"], cwd=kb, check=True, capture_output=True, text=True).stdout
    return [ln for ln in diff.splitlines() if ln[:1] in "+-" and not ln.startswith(("+++", "---"))]


def test_unanswered_question_becomes_a_paraphrase_and_is_then_answered(
        stack: Stack, bot: Bot, browser: Any, kb_copy: Path, tmp_path: Path) -> None:
    target = next(e for e in load_entries(kb_copy / "faq") if e.id == TARGET)
    first_line = target.answer.strip().splitlines()[0]

    # 1. The question gets a clarification (buttons, no answer).
    asked = bot.say(f"u-{uuid.uuid4().hex[:8]}", QUESTION)
    assert asked and asked[0]["text"].startswith(replies.UNSURE_INTRO), asked
    assert TARGET in str(asked[0].get("buttons"))

    # 2. It is in the editors' unanswered list.
    page = log_in(browser, bot, EDITORS[0])
    page.screenshot(path=str(shots(tmp_path) / "editor-home.png"), full_page=True)
    page.click("a:has-text('Câu hỏi chưa trả lời được')")
    group = page.wait_for_selector(f"section.group:has-text('{QUESTION}')")
    page.screenshot(path=str(shots(tmp_path) / "editor-unanswered.png"), full_page=True)

    # 3. The editor adds it as a paraphrase of the entry it should have found (one click).
    group.query_selector("select[name=entry_id]").select_option(TARGET)
    group.query_selector("button[value=paraphrase]").click()
    page.wait_for_selector(".flash.ok:has-text('Đã tạo bản nháp thêm cách hỏi')")
    draft = page.wait_for_selector("#pending .draft")
    assert QUESTION in draft.inner_text() and "Bản nháp của bạn" in draft.inner_text()
    assert git_changes(kb_copy) == [], "a draft writes nothing"

    # 4. A second editor approves.
    second = log_in(browser, bot, EDITORS[1])
    second.screenshot(path=str(shots(tmp_path) / "editor-approve.png"), full_page=True)
    second.click("#pending .draft button:has-text('Duyệt và xuất bản')")
    second.wait_for_selector(".flash.ok:has-text('Đã duyệt')")
    assert git_changes(kb_copy) == [f'+      - "{QUESTION}"'], "only that paraphrase in the YAML diff"

    # 5. The index rebuilds in the background, with progress shown (the page reloads itself).
    second.wait_for_selector("#build-state[data-state=ok]", timeout=BUILD_TIMEOUT_MS)
    second.screenshot(path=str(shots(tmp_path) / "editor-published.png"), full_page=True)

    # 6. The same question is now answered directly by the running action server (no restart).
    answer = ""
    for _ in range(30):
        answer = bot.text(f"u-{uuid.uuid4().hex[:8]}", QUESTION)
        if first_line in answer:
            break
        second.wait_for_timeout(1000)  # the action server checks for a new index every 2 s
    assert first_line in answer and not answer.startswith(replies.UNSURE_INTRO), answer

    # The entry's history shows the change with its diff.
    second.goto(f"{bot.handoff}/console/editor/entries/{TARGET}")
    assert "đã duyệt bởi quang" in second.inner_text("#history")
    second.screenshot(path=str(shots(tmp_path) / "editor-entry.png"), full_page=True)


def test_a_build_that_fails_validation_leaves_the_old_index_serving(
        stack: Stack, bot: Bot, browser: Any, kb_copy: Path) -> None:
    serving = current_index_path(kb_copy / "build")
    # Someone breaks a file by hand (a citation removed), then a rebuild is asked for.
    path = kb_copy / "faq" / "bao-tin.yml"
    broken = path.read_text(encoding="utf-8").replace('      - "Nghị định 162/2025/NĐ-CP"\n', "", 1)
    path.write_text(broken.replace("legal_basis:\n    law_version", "legal_basis: []\n    law_version", 1),
                    encoding="utf-8")
    page = log_in(browser, bot, EDITORS[0])
    page.click("#rebuild")
    failed = page.wait_for_selector("#build-state[data-state=failed]", timeout=BUILD_TIMEOUT_MS)
    assert "missing citation" in failed.inner_text()  # the editor sees why
    assert current_index_path(kb_copy / "build") == serving
    # The bot still answers from the working index, the one with the approved paraphrase.
    first_line = load_index(serving).entries[TARGET].answer.strip().splitlines()[0]
    answer = bot.text(f"u-{uuid.uuid4().hex[:8]}", QUESTION)
    assert first_line in answer, answer


def test_khong_phai_after_an_answer_puts_the_question_in_the_unanswered_list(
        stack: Stack, bot: Bot, browser: Any) -> None:
    sender = f"u-{uuid.uuid4().hex[:8]}"
    question = "ban nguoi sang tq thi bi tu may nam vay"
    first = bot.text(sender, question)
    assert not first.startswith(replies.UNSURE_INTRO), first  # answered
    assert bot.text(sender, "không phải") == replies.ANSWER_REJECTED
    page = log_in(browser, bot, EDITORS[0])
    page.goto(f"{bot.handoff}/console/editor/unanswered")
    group = page.wait_for_selector(f"section.group:has-text('{question}')")
    assert "câu trả lời bị từ chối" in group.inner_text()
