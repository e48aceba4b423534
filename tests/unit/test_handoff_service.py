"""The handoff service's staff API, over a real SQLite store."""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from starlette.testclient import TestClient

from helpline.handoff import HandoffStore
from helpline.handoff.service import PREVIEW_CHARS, create_app
from helpline.settings import PROJECT_ROOT, Settings

TOKEN = "staff-token-for-tests-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
PHONE = "0912 345 678"
SENDER = "5512345678901"
SECRET_TEXT = f"em bi giu o Sihanoukville, so dt {PHONE}"


@pytest.fixture
def store(tmp_path: Path) -> HandoffStore:
    # Tickets appear five minutes old, so waiting times are checkable.
    return HandoffStore.from_url(
        f"sqlite:///{tmp_path / 'handoff.db'}",
        now=lambda: dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=5),
    )


@pytest.fixture
def make_client(tmp_path: Path, store: HandoffStore) -> Callable[..., TestClient]:
    def make(token: str = TOKEN, with_store: HandoffStore | None = store) -> TestClient:
        return TestClient(create_app(Settings(staff_token=token, data_dir=tmp_path), with_store))

    return make


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client()


@pytest.fixture
def ticket_id(store: HandoffStore) -> int:
    ticket = store.open_ticket(
        "zalo", SENDER, "immediate", ["keyword:giam_giu"],
        [("user", SECRET_TEXT), ("bot", "Gọi 113 ngay. Email: hotro@example.org")],
        location={"lat": 10.6, "lon": 103.5},
    )
    return ticket.id


def test_health(client: TestClient, make_client: Callable[..., TestClient]) -> None:
    assert client.get("/health").json() == {"status": "ok"}
    assert make_client(token="").get("/health").status_code == 200, "health needs no token"


def test_health_reports_an_unreachable_store(tmp_path: Path, make_client: Callable[..., TestClient]) -> None:
    broken = HandoffStore.from_url(f"sqlite:///{tmp_path}")  # a folder cannot be opened as a database
    response = make_client(with_store=broken).get("/health")
    assert response.status_code == 503
    assert response.json()["status"] == "unavailable"


def test_app_builds_its_own_store_from_settings(tmp_path: Path) -> None:
    client = TestClient(create_app(Settings(staff_token=TOKEN, data_dir=tmp_path / "var")))
    assert client.get("/health").status_code == 200
    assert (tmp_path / "var" / "handoff.db").is_file()
    assert client.get("/api/tickets", headers=AUTH).json() == []


@pytest.mark.parametrize("configured", ["", "   "])
@pytest.mark.parametrize("path", ["/api/tickets", "/api/tickets/1"])
def test_api_is_closed_when_no_token_is_configured(
    make_client: Callable[..., TestClient], ticket_id: int, configured: str, path: str
) -> None:
    client = make_client(token=configured)
    for headers in ({}, {"Authorization": "Bearer "}, {"Authorization": "Bearer anything"}):
        response = client.get(path, headers=headers)
        assert response.status_code == 503
        assert "HELPLINE_STAFF_TOKEN is not set" in response.json()["error"]


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong-token"},
        {"Authorization": f"Bearer {TOKEN}x"},
        {"Authorization": f"Bearer {TOKEN[:-1]}"},
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": TOKEN},
        {"Authorization": "Bearer t\u00f6ken".encode("latin-1")},
        {"X-Staff-Token": TOKEN},
    ],
)
def test_wrong_or_missing_token_is_401(client: TestClient, ticket_id: int, headers: dict[str, str]) -> None:
    for path in ("/api/tickets", f"/api/tickets/{ticket_id}", "/api/tickets/999999"):
        response = client.get(path, headers=headers)
        assert response.status_code == 401, path
        assert response.json() == {"error": "missing or invalid staff token"}
        assert response.headers["WWW-Authenticate"] == "Bearer"


def test_listing_with_the_right_token(client: TestClient, store: HandoffStore, ticket_id: int) -> None:
    response = client.get("/api/tickets", headers={"Authorization": f"bearer {TOKEN}"})
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    [item] = response.json()
    assert item["id"] == ticket_id
    assert (item["channel"], item["priority"], item["status"]) == ("zalo", "immediate", "open")
    assert item["reasons"] == ["keyword:giam_giu"]
    assert 290 <= item["waiting_seconds"] <= 400
    assert dt.datetime.fromisoformat(item["created_at"]).tzinfo is not None
    assert item["last_message"]["author"] == "bot"
    assert [(e.who, e.action) for e in store.audit_entries()] == [("staff", "list_tickets status=open")]


def test_ids_phones_and_emails_are_masked(client: TestClient, ticket_id: int) -> None:
    listing = client.get("/api/tickets", headers=AUTH)
    detail = client.get(f"/api/tickets/{ticket_id}", headers=AUTH)
    for response in (listing, detail):
        assert response.status_code == 200
        assert SENDER not in response.text
        assert "0912" not in response.text and "345 678" not in response.text
        assert "hotro@example.org" not in response.text
    assert listing.json()[0]["sender_id"] == "55***01"
    assert listing.json()[0]["last_message"]["text"] == "Gọi 113 ngay. Email: [email]"
    messages = detail.json()["messages"]
    assert messages[0] == {
        "author": "user",
        "text": "em bi giu o Sihanoukville, so dt [sđt]",
        "at": messages[0]["at"],
    }
    assert detail.json()["sender_id"] == "55***01"


def test_preview_is_masked_before_it_is_cut(client: TestClient, store: HandoffStore) -> None:
    # The phone number straddles the cut: masking after cutting would leak its first digits.
    text = "x" * (PREVIEW_CHARS - 6) + " 0987654321 " + "y" * 200
    store.open_ticket("telegram", "77", "urgent", (), [("user", text)])
    preview = client.get("/api/tickets", headers=AUTH).json()[0]["last_message"]["text"]
    assert len(preview) == PREVIEW_CHARS and preview.endswith("…")
    assert "0987" not in preview


def test_ticket_detail(client: TestClient, store: HandoffStore, ticket_id: int) -> None:
    store.add_message(ticket_id, "staff", "Chị ở đường dây 111 đây")
    response = client.get(f"/api/tickets/{ticket_id}", headers=AUTH)
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == ticket_id
    assert body["location"] == {"lat": 10.6, "lon": 103.5}
    assert [m["author"] for m in body["messages"]] == ["user", "bot", "staff"]
    assert body["last_message"]["text"] == "Chị ở đường dây 111 đây"
    assert [(e.action, e.ticket_id) for e in store.audit_entries()] == [("view_ticket", ticket_id)]


@pytest.mark.parametrize(
    ("path", "status", "needle"),
    [
        ("/api/tickets?status=closed", 400, "status must be one of: open, resolved, all"),
        ("/api/tickets?status=", 400, "status must be one of"),
        ("/api/tickets?limit=0", 400, "limit must be"),
        ("/api/tickets?limit=501", 400, "limit must be"),
        ("/api/tickets?limit=ten", 400, "limit must be"),
        ("/api/tickets?limit=-1", 400, "limit must be"),
        ("/api/tickets/abc", 400, "ticket id must be"),
        ("/api/tickets/1.5", 400, "ticket id must be"),
        ("/api/tickets/999999", 404, "no such ticket"),
        ("/api/nothing", 404, "Not Found"),
    ],
)
def test_bad_requests_get_clear_json_errors(
    client: TestClient, store: HandoffStore, path: str, status: int, needle: str
) -> None:
    response = client.get(path, headers=AUTH)
    assert response.status_code == status
    assert needle in response.json()["error"]
    assert store.audit_entries() == [], "refused requests are not audited as views"


def test_status_filter(client: TestClient, store: HandoffStore, ticket_id: int) -> None:
    other = store.open_ticket("messenger", "m1", "normal").id
    store.resolve(ticket_id, by="staff")

    def ids(status: str) -> list[int]:
        response = client.get(f"/api/tickets?status={status}", headers=AUTH)
        assert response.status_code == 200
        return [t["id"] for t in response.json()]

    assert ids("open") == [other]
    assert ids("resolved") == [ticket_id]
    assert ids("all") == [other, ticket_id]
    assert client.get("/api/tickets?limit=1&status=all", headers=AUTH).json()[0]["id"] == other


def test_store_failure_is_a_json_503(tmp_path: Path, make_client: Callable[..., TestClient]) -> None:
    broken = HandoffStore.from_url(f"sqlite:///{tmp_path}")
    response = make_client(with_store=broken).get("/api/tickets", headers=AUTH)
    assert response.status_code == 503
    assert "unavailable" in response.json()["error"]


def test_tokens_and_texts_are_never_logged(
    caplog: pytest.LogCaptureFixture, tmp_path: Path, make_client: Callable[..., TestClient], ticket_id: int
) -> None:
    caplog.set_level(logging.DEBUG)
    client = make_client()
    client.get("/api/tickets", headers=AUTH)
    client.get(f"/api/tickets/{ticket_id}", headers=AUTH)
    client.get("/api/tickets", headers={"Authorization": "Bearer a-guessed-token"})
    make_client(with_store=HandoffStore.from_url(f"sqlite:///{tmp_path}")).get("/api/tickets", headers=AUTH)
    make_client(token="short").get("/health")
    assert "handoff store error" in caplog.text, "the check must see the service's own log lines"
    for secret in (TOKEN, "a-guessed-token", "short", SECRET_TEXT, PHONE, "Sihanoukville", SENDER):
        assert secret not in caplog.text


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run_main(env: dict[str, str]) -> subprocess.Popen[str]:
    full = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "HELPLINE_CONFIG": "/nonexistent.yml", **env}
    return subprocess.Popen(
        [sys.executable, "-m", "helpline.handoff"],
        cwd=PROJECT_ROOT, env=full, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def test_main_serves_and_says_where(tmp_path: Path) -> None:
    port = _free_port()
    proc = _run_main({"HELPLINE_DATA_DIR": str(tmp_path), "HELPLINE_HANDOFF_PORT": str(port),
                      "HELPLINE_STAFF_TOKEN": TOKEN, "HELPLINE_LOG_LEVEL": "warning"})
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.strip() == (
            f"helpline.handoff: listening on http://127.0.0.1:{port}, database sqlite ({tmp_path}/handoff.db)"
        )
        for _ in range(50):
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/api/tickets", headers=AUTH, timeout=2)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            pytest.fail("the service did not start")
        assert response.json() == []
    finally:
        proc.terminate()
        proc.communicate(timeout=10)


def test_main_fails_clearly_without_leaking_credentials(tmp_path: Path) -> None:
    proc = _run_main({"DATABASE_URL": "postgresql://helpline:s3cr3t@127.0.0.1:1/handoff"})
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 1
    assert "postgresql) could not" in err
    assert "s3cr3t" not in out + err
    proc = _run_main({"HELPLINE_DATA_DIR": str(tmp_path), "HELPLINE_LOG_LEVEL": "loud"})
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 2
    assert "HELPLINE_LOG_LEVEL" in err


@pytest.mark.parametrize(("variable", "value"), [("HELPLINE_ESCALATE_AFTER_SECONDS", "0"),
                                                 ("HELPLINE_RETENTION_DAYS", "-1"),
                                                 ("HELPLINE_CONSOLE_COOKIE_SECURE", "maybe"),
                                                 ("HELPLINE_STAFF_TELEGRAM_CHAT_ID", "-100200")])
def test_main_refuses_bad_desk_settings(tmp_path: Path, variable: str, value: str) -> None:
    proc = _run_main({"HELPLINE_DATA_DIR": str(tmp_path), variable: value})
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 2
    assert variable in err
