"""Abuse limits of the handoff service: login and staff-token guessing per address, body size, role checks."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from helpline import replies
from tests.conftest import Clock
from tests.unit.console_client import PASSWORD, Desk, csrf, login, login_token, make_desk

TOKEN = "staff-token-for-tests-0123456789"


@pytest.fixture
def desk(tmp_path: Path, clock: Clock) -> Desk:
    clock.now = dt.datetime.now(dt.timezone.utc)
    return make_desk(tmp_path, clock, rate_limit_login="4/300")


def client_from(desk: Desk, address: str) -> TestClient:
    return TestClient(desk.app, follow_redirects=False, client=(address, 40000))


def test_logins_from_one_address_are_limited_before_the_password_is_checked(desk: Desk) -> None:
    attacker = client_from(desk, "203.0.113.9")
    statuses = [login(attacker, "minh", "sai-mat-khau-123").status_code for _ in range(3)]
    assert statuses == [401, 401, 401]
    refused = login(attacker, "hoa", PASSWORD)  # even the right password, while the address is limited
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) >= 1 and replies.LOGIN_RATE_LIMITED in refused.text
    assert "helpline_session" not in refused.headers.get("set-cookie", "")
    assert ("?", "login_rate_limited") in [(e.who, e.action) for e in desk.store.audit_entries(limit=50)]
    # Someone else, from another address, is not affected.
    assert login(client_from(desk, "198.51.100.7"), "hoa").status_code == 303


def test_bucket_limits_logins_from_one_address_even_without_failures(desk: Desk) -> None:
    assert [login(client_from(desk, "203.0.113.11"), "minh").status_code for _ in range(4)] == [303] * 4
    assert login(client_from(desk, "203.0.113.11"), "minh").status_code == 429, "HELPLINE_RATE_LIMIT_LOGIN=4/300"


def test_failures_across_addresses_delay_the_account_but_do_not_lock_it(desk: Desk, clock: Clock) -> None:
    for n in range(5):
        assert login(client_from(desk, f"192.0.2.{n}"), "minh", "sai-mat-khau-123").status_code == 401
    delay = desk.accounts.login_delay("minh")
    assert 0 < delay <= 15, "bounded"
    clock.advance(seconds=delay)
    assert login(client_from(desk, "192.0.2.99"), "minh").status_code == 303, "the right password still works"


def test_staff_token_guessing_is_limited_per_address(desk: Desk) -> None:
    guesser = client_from(desk, "203.0.113.10")
    for n in range(4):
        response = guesser.get("/api/tickets", headers={"Authorization": f"Bearer wrong-{n}"})
        assert response.status_code == 401
    limited = guesser.get("/api/tickets", headers={"Authorization": f"Bearer {TOKEN}"})
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
    ok = client_from(desk, "198.51.100.8").get("/api/tickets", headers={"Authorization": f"Bearer {TOKEN}"})
    assert ok.status_code == 200


@pytest.mark.parametrize("path", ["/console/login", "/console/tickets/1/reply", "/api/tickets", "/health"])
def test_oversized_bodies_get_413_before_any_handler(desk: Desk, path: str) -> None:
    client = desk.client()
    response = client.post(path, content=b"x" * (5 * 1024 * 1024),
                           headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 413


def test_chunked_bodies_are_counted_too(desk: Desk) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(100):
            yield b"a" * 4096

    response = desk.client().post("/console/login", content=chunks(),
                                  headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 413
    small = desk.client()
    token = login_token(small)

    def form() -> Iterator[bytes]:
        yield f"login_token={token}&username=minh&".encode()
        yield f"password={PASSWORD}&next=/console/".encode()

    assert small.post("/console/login", content=form(),
                      headers={"Content-Type": "application/x-www-form-urlencoded"}).status_code == 303


def test_a_bad_content_length_is_refused(desk: Desk) -> None:
    response = desk.client().post("/console/login", content=b"a=b", headers={"Content-Length": "abc"})
    assert response.status_code in (400, 413)


def test_an_agent_cannot_do_supervisor_actions(desk: Desk) -> None:
    tid = desk.ticket()
    holder = desk.client()
    login(holder, "hoa")
    holder.post(f"/console/tickets/{tid}/claim", headers={"X-CSRF-Token": csrf(holder)})
    assert desk.store.ticket_state(tid).assigned_to == "hoa"
    agent = desk.client()
    login(agent, "minh")
    token = csrf(agent)
    for path in ("/console/supervisor", f"/console/tickets/{tid}/export"):
        assert agent.get(path).status_code == 403
    # Acting on a ticket another agent holds is for supervisors only.
    for action, data in (("reply", {"text": "Chào bạn"}), ("resolve", {}), ("transfer", {"to": "minh"})):
        response = agent.post(f"/console/tickets/{tid}/{action}", data={**data, "csrf_token": token})
        assert response.status_code == 303 and response.headers["location"].endswith("msg=held"), action
    agent.post(f"/console/tickets/{tid}/claim", data={"csrf_token": token})
    ticket = desk.store.get(tid)
    # Only the holder's claim did anything: the person was told once that a staff member has it.
    assert ticket is not None and ticket.is_open and [m.text for m in ticket.messages][1:] == [replies.STAFF_TOOK_OVER]
    assert desk.store.ticket_state(tid).assigned_to == "hoa"
    assert [m.message["text"] for m in desk.outbox.list()] == [replies.STAFF_TOOK_OVER]
    supervisor = desk.client()
    login(supervisor, "lan")
    response = supervisor.post(f"/console/tickets/{tid}/reply",
                               data={"text": "Giám sát trả lời", "csrf_token": csrf(supervisor)})
    assert response.headers["location"].endswith("msg=sent")
    assert supervisor.get(f"/console/tickets/{tid}/export").status_code == 200


def test_session_cookie_flags(desk: Desk) -> None:
    response = login(desk.client(), "minh")
    cookie = next(c for c in response.headers.get_list("set-cookie") if c.startswith("helpline_session="))
    lowered = cookie.lower()
    assert "httponly" in lowered and "samesite=strict" in lowered and "path=/console" in lowered
    secure = TestClient(desk.app, base_url="https://testserver", follow_redirects=False)
    cookie = next(c for c in login(secure, "minh").headers.get_list("set-cookie") if c.startswith("helpline_session="))
    assert "secure" in cookie.lower()
