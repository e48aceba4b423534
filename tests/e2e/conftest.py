"""End-to-end fixtures: the real stack with a fake Telegram platform, a staff account, headless Chromium.

Chromium is Debian's (`apt-get install chromium`); `playwright install` cannot download browsers
here. The stack is module-scoped so it is stopped before the integration tests start theirs.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from helpline.stack import ACTIONS_VENV, PROJECT_ROOT, RASA_MODEL, Ports, Stack
from tests.fakes.telegram import FakeTelegram
from tests.stacks import Bot, base_env, start_or_show_logs
from tests.stacks import free_port as _free_port

CHROMIUM = Path(os.environ.get("HELPLINE_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
AGENT = ("thao", "mat-khau-nhan-vien-e2e")


def _missing(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(reason)  # CI installs Chromium and Playwright: never hide the browser test there
    pytest.skip(reason)


@pytest.fixture(scope="module")
def telegram() -> Iterator[FakeTelegram]:
    with FakeTelegram() as fake:
        yield fake  # type: ignore[misc]


@pytest.fixture(scope="module")
def e2e_stack(tmp_path_factory: pytest.TempPathFactory, telegram: FakeTelegram) -> Iterator[Stack]:
    if not RASA_MODEL.is_file():
        pytest.fail(f"no trained Rasa model at {RASA_MODEL}: run `make setup`")
    data_dir = tmp_path_factory.mktemp("e2e-data")
    log_dir = tmp_path_factory.mktemp("e2e-logs")
    ports = Ports(rasa=_free_port(), actions=_free_port(), handoff=_free_port())
    env = base_env()
    env.update(telegram.env(), HELPLINE_DESK_TICK_SECONDS="1", HELPLINE_ESCALATE_AFTER_SECONDS="3600",
               HELPLINE_CONFIG="/nonexistent.yml")
    stack = Stack(data_dir, ports, log_dir=log_dir, env=env)
    created = subprocess.run(
        [str(ACTIONS_VENV / "bin" / "python"), "-m", "helpline.handoff.staff", "add", "--username", AGENT[0],
         "--role", "agent"], input=AGENT[1] + "\n", text=True, capture_output=True, env=stack.env, cwd=PROJECT_ROOT,
        timeout=60)
    assert created.returncode == 0, created.stderr
    start_or_show_logs(stack, log_dir)
    yield stack
    stack.stop_all()
    for log in sorted(log_dir.glob("*.log")):  # shown by pytest only when a test failed
        print(f"----- {log.name} -----\n{log.read_text(errors='replace')[-3000:]}")


@pytest.fixture(scope="module")
def e2e_bot(e2e_stack: Stack) -> Iterator[Bot]:
    client = Bot(e2e_stack)
    yield client
    client.http.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("playwright is not installed in the actions environment (pip install playwright==1.65.2)")
    if not CHROMIUM.is_file():
        _missing(f"no Chromium at {CHROMIUM}: apt-get install -y chromium")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()
