"""Console access: login, wrong passwords, session expiry, fixation, CSRF, roles, cookies, headers."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from tests.conftest import Clock
from tests.unit.console_client import PASSWORD, Desk, csrf, login, login_token, make_desk


@pytest.fixture
def desk(tmp_path: Path, clock: Clock) -> Desk:
    # The store's clock is also the sessions' clock, so expiry can be tested without waiting.
    clock.now = dt.datetime.now(dt.timezone.utc)
    return make_desk(tmp_path, clock, console_session_minutes=120, console_idle_minutes=30)


def _audit(desk: Desk) -> list[tuple[str, str]]:
    return [(e.who, e.action) for e in reversed(desk.store.audit_entries(limit=500))]


def test_pages_need_a_login(desk: Desk) -> None:
    client = desk.client()
    tid = desk.ticket()
    for path in ("/console/", f"/console/tickets/{tid}", "/console/supervisor"):
        response = client.get(path)
        assert response.status_code == 303
        assert response.headers["location"].startswith("/console/login?next=")
    for path in ("/console/queue/rows", f"/console/tickets/{tid}/live", "/console/events"):
        assert client.get(path).status_code == 401
    response = client.post(f"/console/tickets/{tid}/reply", data={"text": "x", "csrf_token": "x"})
    assert response.status_code == 401
    assert desk.outbox.list() == [] and len(desk.store.get(tid).messages) == 1  # type: ignore[union-attr]
    assert client.get("/").headers["location"] == "/console/"


def test_links_from_other_sites_reload_to_send_the_strict_cookie(desk: Desk) -> None:
    client = desk.client()
    login(client, "minh")
    tid = desk.ticket()
    # A browser following the Telegram alert's link does not send a SameSite=Strict cookie.
    bare = desk.client()
    landing = bare.get(f"/console/tickets/{tid}", headers={"Sec-Fetch-Site": "cross-site"})
    assert landing.status_code == 200
    assert f'content="0;url=/console/tickets/{tid}"' in landing.text
    # The reload comes from our own page: with the cookie it opens, without it goes to login.
    reload_headers = {"Sec-Fetch-Site": "same-origin"}
    assert client.get(f"/console/tickets/{tid}", headers=reload_headers).status_code == 200
    assert bare.get(f"/console/tickets/{tid}", headers=reload_headers).status_code == 303


def test_login_sets_a_strict_httponly_cookie_and_audits(desk: Desk) -> None:
    client = desk.client()
    response = login(client, "minh")
    assert response.status_code == 303 and response.headers["location"] == "/console/"
    cookie = next(c for c in response.headers.get_list("set-cookie") if c.startswith("helpline_session="))
    lowered = cookie.lower()
    assert "httponly" in lowered and "samesite=strict" in lowered and "path=/console" in lowered
    assert "secure" not in lowered, "plain http on loopback: Secure would drop the cookie"
    page = client.get("/console/")
    assert page.status_code == 200 and "Hàng chờ" in page.text and "minh" in page.text
    assert ("minh", "login") in _audit(desk)


@pytest.mark.parametrize("mode", ["auto", "true"])
def test_secure_cookie_over_https_or_when_configured(tmp_path: Path, clock: Clock, mode: str) -> None:
    from starlette.testclient import TestClient

    desk = make_desk(tmp_path, clock, console_cookie_secure=mode)
    client = TestClient(desk.app, base_url="https://testserver", follow_redirects=False)
    response = login(client, "minh")
    cookie = next(c for c in response.headers.get_list("set-cookie") if c.startswith("helpline_session="))
    assert "secure" in cookie.lower()
    assert client.get("/console/").status_code == 200


def test_wrong_password_and_unknown_user_get_the_same_answer(desk: Desk) -> None:
    client = desk.client()
    wrong = login(client, "minh", PASSWORD + "x")
    unknown = login(client, "nobody")
    assert wrong.status_code == unknown.status_code == 401
    assert "Sai tên đăng nhập hoặc mật khẩu" in wrong.text and "Sai tên đăng nhập hoặc mật khẩu" in unknown.text
    assert "helpline_session" not in client.cookies
    assert client.get("/console/").status_code == 303
    audit = _audit(desk)
    assert ("minh", "login_failed") in audit and ("?", "login_failed") in audit
    assert not any(who == "nobody" for who, _ in audit), "unknown names (maybe a password) are not recorded"
    assert not any(PASSWORD in action for _, action in audit)


def test_repeated_failures_slow_the_address_but_never_lock_the_account(desk: Desk, clock: Clock) -> None:
    client = desk.client()
    for _ in range(3):
        assert login(client, "hoa", "sai-mat-khau-123").status_code == 401
    assert login(client, "hoa").status_code == 429, "the guessing address waits, even with the right password"
    assert ("hoa", "login_failed") in _audit(desk)
    assert desk.accounts.login_delay("hoa") > 0, "and the account's next check is delayed a little"
    clock.advance(seconds=2)
    other = TestClient(desk.app, follow_redirects=False, client=("198.51.100.20", 40000))
    assert login(other, "hoa").status_code == 303, "the owner, from elsewhere, still gets in: no lockout"


def test_login_form_needs_its_token(desk: Desk) -> None:
    client = desk.client()
    login_token(client)
    response = client.post("/console/login", data={"login_token": "forged", "username": "minh", "password": PASSWORD})
    assert response.status_code == 403 and "helpline_session" not in client.cookies
    fresh = desk.client()
    response = fresh.post("/console/login", data={"login_token": "x", "username": "minh", "password": PASSWORD})
    assert response.status_code == 403, "no login cookie: no login"


def test_session_expires_when_idle_and_absolutely(desk: Desk, clock: Clock) -> None:
    client = desk.client()
    login(client, "minh")
    clock.advance(minutes=31)
    assert client.get("/console/").status_code == 303, "idle for 31 minutes > 30"
    login(client, "minh")
    for _ in range(5):
        clock.advance(minutes=20)
        assert client.get("/console/").status_code == 200
    clock.advance(minutes=21)
    assert client.get("/console/").status_code == 303, "121 minutes > the 120-minute lifetime"


def _issued(response: object) -> str:
    cookie = next(c for c in response.headers.get_list("set-cookie")  # type: ignore[attr-defined]
                  if c.startswith("helpline_session="))
    return cookie.split(";")[0].split("=", 1)[1]


def test_session_id_is_rotated_at_login(desk: Desk) -> None:
    """Fixation: an id chosen by an attacker before login is never adopted; a re-login ends the old id."""
    victim = desk.client()
    victim.cookies.set("helpline_session", "attacker-chosen-id", path="/console")
    new_id = _issued(login(victim, "minh"))
    assert new_id and new_id != "attacker-chosen-id"
    planted = desk.client()
    planted.cookies.set("helpline_session", "attacker-chosen-id", path="/console")
    assert planted.get("/console/").status_code == 303
    # Logging in again from the same browser (the login form posted directly) issues a new id
    # and ends the one it replaces.
    victim.cookies.set("helpline_login", "form-token", path="/console/login")
    again = victim.post("/console/login", data={"login_token": "form-token", "username": "minh",
                                                "password": PASSWORD})
    newer = _issued(again)
    assert newer not in ("", new_id)
    old = desk.client()
    old.cookies.set("helpline_session", new_id, path="/console")
    assert old.get("/console/").status_code == 303, "the replaced session is ended"


def test_logout_ends_the_session(desk: Desk) -> None:
    client = desk.client()
    login(client, "minh")
    old = client.cookies["helpline_session"]
    assert client.post("/console/logout", data={"csrf_token": csrf(client)}).status_code == 303
    other = desk.client()
    other.cookies.set("helpline_session", old, path="/console")
    assert other.get("/console/").status_code == 303
    assert ("minh", "logout") in _audit(desk)


def test_posts_without_the_csrf_token_are_rejected(desk: Desk) -> None:
    tid = desk.ticket()
    client = desk.client()
    login(client, "minh")
    token = csrf(client)
    for data, headers in (({"text": "Chào bạn"}, {}),
                          ({"text": "Chào bạn", "csrf_token": "wrong"}, {}),
                          ({"text": "Chào bạn", "csrf_token": token}, {"Origin": "https://evil.example"})):
        response = client.post(f"/console/tickets/{tid}/reply", data=data, headers=headers)
        assert response.status_code == 403
        assert "CSRF" in response.text
    for action in ("claim", "resolve", "note"):
        assert client.post(f"/console/tickets/{tid}/{action}", data={"text": "x"}).status_code == 403
    assert desk.outbox.list() == []
    ticket = desk.store.get(tid)
    assert ticket is not None and ticket.is_open and len(ticket.messages) == 1
    assert desk.store.ticket_state(tid).assigned_to is None
    assert ("minh", "csrf_rejected") in _audit(desk)
    # The same request with the token (as a header, as the page's script sends it) goes through.
    ok = client.post(f"/console/tickets/{tid}/claim", headers={"X-CSRF-Token": token})
    assert ok.status_code == 303 and desk.store.ticket_state(tid).assigned_to == "minh"


def test_agents_cannot_open_the_supervisor_view_or_export(desk: Desk) -> None:
    tid = desk.ticket()
    agent = desk.client()
    login(agent, "minh")
    page = agent.get("/console/")
    assert 'href="/console/supervisor"' not in page.text
    for path in ("/console/supervisor", f"/console/tickets/{tid}/export"):
        response = agent.get(path)
        assert response.status_code == 403 and "giám sát" in response.text
    assert ("minh", "denied /console/supervisor") in _audit(desk)
    supervisor = desk.client()
    login(supervisor, "lan")
    page = supervisor.get("/console/supervisor")
    assert page.status_code == 200 and "Thời gian đến lần trả lời đầu" in page.text and "<svg" in page.text


def test_agents_see_only_open_tickets_and_their_own_closed_ones(desk: Desk) -> None:
    mine = desk.ticket(sender="u-mine")
    theirs = desk.ticket(sender="u-theirs")
    desk.store.close_ticket(mine, "minh")
    desk.store.close_ticket(theirs, "hoa")
    agent = desk.client()
    login(agent, "minh")
    assert agent.get(f"/console/tickets/{mine}").status_code == 200
    assert agent.get(f"/console/tickets/{theirs}").status_code == 404
    listing = agent.get("/console/?status=resolved").text
    assert f"Ca #{mine}<" in listing and f"Ca #{theirs}<" not in listing
    supervisor = desk.client()
    login(supervisor, "lan")
    assert supervisor.get(f"/console/tickets/{theirs}").status_code == 200


def test_security_headers_and_no_caching(desk: Desk) -> None:
    client = desk.client()
    login(client, "minh")
    page = client.get("/console/")
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "http" not in csp
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["cache-control"] == "no-store"
    static = client.get("/console/static/console.css")
    assert static.status_code == 200 and "no-store" not in static.headers.get("cache-control", "")
    assert "https://" not in client.get("/console/static/console.js").text, "no CDN, nothing external"


def test_open_redirect_is_refused(desk: Desk) -> None:
    client = desk.client()
    token = login_token(client)
    response = client.post("/console/login", data={"login_token": token, "username": "minh", "password": PASSWORD,
                                                   "next": "//evil.example/console/"})
    assert response.headers["location"] == "/console/"
