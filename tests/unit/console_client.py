"""Builds the handoff service with the console over a real SQLite store, and logs staff in."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from helpline.channels.outbox import Outbox
from helpline.handoff import HandoffStore
from helpline.handoff.accounts import StaffAccounts
from helpline.handoff.service import create_app
from helpline.handoff.workers import DeskWorker
from helpline.settings import Settings
from tests.conftest import Clock
from tests.unit.fake_http import FakeHttp

PASSWORD = "mat-khau-dai-du-12"
RASA_TOKEN = "rasa-token-for-tests-123456"


@dataclass
class Desk:
    store: HandoffStore
    outbox: Outbox
    accounts: StaffAccounts
    worker: DeskWorker
    app: Any
    clock: Clock

    def client(self) -> TestClient:
        return TestClient(self.app, follow_redirects=False)

    def ticket(self, sender: str = "84901234567", priority: str = "immediate", channel: str = "zalo",
               text: str = "cứu em, em bị giữ ở Sihanoukville") -> int:
        return self.store.open_ticket(channel, sender, priority, ["keyword:giam_giu"], [("user", text)]).id


def make_desk(tmp_path: Path, clock: Clock, rasa_url: str = "http://127.0.0.1:9", **settings: Any) -> Desk:
    url = f"sqlite:///{tmp_path / 'handoff.db'}"
    config = Settings(data_dir=tmp_path, staff_token="staff-token-for-tests-0123456789", rasa_url=rasa_url,
                      rasa_token=RASA_TOKEN, **settings)
    store = HandoffStore.from_url(url, now=clock)
    outbox = Outbox.from_url(url, now=clock)
    app = create_app(config, store, outbox=outbox)
    accounts = StaffAccounts(store.database, now=clock)
    accounts.add_user("lan", PASSWORD, "supervisor")
    accounts.add_user("minh", PASSWORD, "agent")
    accounts.add_user("hoa", PASSWORD, "agent")
    return Desk(store, outbox, accounts, app.state.worker, app, clock)


def login_token(client: TestClient) -> str:
    page = client.get("/console/login")
    assert page.status_code == 200
    match = re.search(r'name="login_token" value="([^"]+)"', page.text)
    assert match
    return match.group(1)


def login(client: TestClient, username: str, password: str = PASSWORD) -> httpx.Response:
    token = login_token(client)
    return client.post("/console/login", data={"login_token": token, "username": username, "password": password,
                                               "next": "/console/"})


def csrf(client: TestClient, path: str = "/console/") -> str:
    page = client.get(path)
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match, page.text[:500]
    return match.group(1)


@pytest.fixture(name="rasa")
def fake_rasa() -> Iterator[FakeHttp]:
    """A fake Rasa on loopback for the bot-resume calls (import it into a test module to use ``rasa``)."""
    with FakeHttp() as fake:
        yield fake


def post_form(client: TestClient, ticket_id: int, action: str, **data: str) -> str:
    """POST a ticket page's form (with its CSRF token); the redirect's location (asserts a 303)."""
    token = csrf(client, f"/console/tickets/{ticket_id}")
    response = client.post(f"/console/tickets/{ticket_id}/{action}", data={"csrf_token": token, **data})
    assert response.status_code == 303, response.text[:300]
    return str(response.headers["location"])
