"""Issue 13, findings 3, 4 and 7: the hotline desk cannot be frozen, flooded or locked out.

Most tests drive the real handoff service (``python -m helpline.handoff``, the console and the staff
API) over HTTP on loopback, once on SQLite and once on PostgreSQL, with staff accounts made by the
real CLI. Clients speak from distinct loopback addresses (127.0.0.x), which are real TCP peers: no
proxy header is needed to be "someone else". Unit-level checks (masking cost, the global ticket
cap with a settable clock, fullwidth detection) sit here too, next to the findings they answer.
"""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from helpline.handoff.store import HandoffStore
from helpline.settings import PROJECT_ROOT
from helpline.text import fold, mask_pii
from tests.conftest import PG_URL, Clock, pg_driver

STAFF_TOKEN = "staff-token-for-security-tests-0123456789"
SUPERVISOR = ("lan", "Ca-truc-dem-Hai-Phong-7")
AGENT = ("minh", "Ban-truc-sang-Da-Nang-42")
ADVERSARIAL = {
    "digits": "1" * 4096,
    "at": "a@" * 2048,
    "dots": "a." * 2048,
    "spaces": "1 " * 2048,
    "address": "ngõ 12 1" + " " * 4087 + "x",
    "mixed": ("9.9@9 " * 700)[:4096],
}
NORMAL = ("Tôi bị giữ ở Campuchia, họ lấy hộ chiếu và bắt tôi làm việc mười bốn tiếng một ngày. " * 60)[:4096]


# -- a real handoff service ----------------------------------------------------------------------


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Service:
    url: str
    db_url: str
    env: dict[str, str]

    def client(self, ip: str = "127.0.0.1") -> httpx.Client:
        """A client whose TCP peer address is ``ip`` (any 127.0.0.x works on Linux loopback)."""
        return httpx.Client(base_url=self.url, timeout=60, follow_redirects=False,
                            transport=httpx.HTTPTransport(local_address=ip))

    def cli(self, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "helpline.handoff.staff", *args], input=stdin, text=True,
                              capture_output=True, env=self.env, cwd=PROJECT_ROOT, timeout=120)

    def store(self) -> HandoffStore:
        # The same global limit as the service's (the default, 60 new tickets a minute).
        return HandoffStore.from_url(self.db_url)


def login_form(client: httpx.Client) -> str:
    page = client.get("/console/login")
    assert page.status_code == 200, page.text[:300]
    token = re.search(r'name="login_token" value="([^"]+)"', page.text)
    assert token, page.text[:300]
    return token.group(1)


def login(client: httpx.Client, username: str, password: str, code: str | None = None) -> httpx.Response:
    data = {"login_token": login_form(client), "username": username, "password": password, "next": "/console/"}
    if code is not None:
        data["code"] = code
    return client.post("/console/login", data=data)


def logged_in(service: Service, who: tuple[str, str], ip: str) -> httpx.Client:
    client = service.client(ip)
    response = login(client, *who)
    assert response.status_code == 303, response.text[:500]
    return client


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def service(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    data_dir = tmp_path_factory.mktemp(f"security-{request.param}")
    admin = schema = None
    if request.param == "sqlite":
        db_url = f"sqlite:///{data_dir / 'handoff.db'}"
    else:
        driver = pg_driver()
        try:
            admin = driver.connect(PG_URL, connect_timeout=3)
        except driver.OperationalError as exc:
            if os.environ.get("CI"):
                pytest.fail(f"PostgreSQL is not reachable at {PG_URL}: {exc}")
            pytest.skip(f"PostgreSQL is not reachable at {PG_URL}")
        admin.autocommit = True
        schema = f"security_{uuid.uuid4().hex[:12]}"
        admin.cursor().execute(f'CREATE SCHEMA "{schema}"')
        db_url = f"{PG_URL}{'&' if '?' in PG_URL else '?'}options=-csearch_path%3D{schema}"
    port = _free_port()
    env = {k: v for k, v in os.environ.items()
           if k not in {"HELPLINE_STAFF_TOKEN", "RASA_TOKEN", "DATABASE_URL", "HELPLINE_TRUSTED_PROXIES",
                        "FORWARDED_ALLOW_IPS"}}
    env.update(PYTHONPATH=str(PROJECT_ROOT), HELPLINE_CONFIG="/nonexistent.yml", HELPLINE_DATA_DIR=str(data_dir),
               DATABASE_URL=db_url, HELPLINE_HANDOFF_HOST="127.0.0.1", HELPLINE_HANDOFF_PORT=str(port),
               HELPLINE_STAFF_TOKEN=STAFF_TOKEN, RASA_TOKEN="rasa-token-security-tests-123456",
               HELPLINE_RASA_URL="http://127.0.0.1:9", HELPLINE_LOG_LEVEL="warning",
               HELPLINE_DESK_TICK_SECONDS="5", HELPLINE_RATE_LIMIT_NEW_TICKETS="60/60")
    svc = Service(f"http://127.0.0.1:{port}", db_url, env)
    for (username, password), role in ((SUPERVISOR, "supervisor"), (AGENT, "agent")):
        made = svc.cli("add", "--username", username, "--role", role, stdin=password + "\n")
        assert made.returncode == 0, made.stderr
    log = (data_dir / "handoff.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "helpline.handoff"], env=env, cwd=PROJECT_ROOT,
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{svc.url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None, (data_dir / "handoff.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "the handoff service did not start"
            time.sleep(0.2)
        yield svc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        if admin is not None:
            admin.cursor().execute(f'DROP SCHEMA "{schema}" CASCADE')
            admin.close()


# -- finding 3: masking cost, the 1,000-ticket flood, /health during rendering -----------------------


def _cost(text: str, repeats: int = 5) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        mask_pii(text)
        best = min(best, time.perf_counter() - start)
    return best


def test_masking_an_adversarial_message_costs_about_as_much_as_a_normal_one() -> None:
    normal = _cost(NORMAL)
    ratios = {}
    for kind, text in ADVERSARIAL.items():
        assert len(text) == len(NORMAL) == 4096
        ratios[kind] = _cost(text) / normal
    print("masking cost / a normal 4,096-character message:", {k: round(v, 1) for k, v in ratios.items()})
    # Same run, same length: linear masking keeps these near 1; the old e-mail pattern made digits ~200.
    assert max(ratios.values()) < 10, f"{ratios} (normal message: {normal * 1000:.2f} ms)"


@pytest.fixture(scope="module")
def flooded(service: Service) -> Service:
    """1,000 open tickets from 1,000 sender ids, opened through the real store, with long adversarial texts."""
    store = service.store()
    texts = list(ADVERSARIAL.values())
    for n in range(1000):
        store.open_ticket("rest", f"flood-{uuid.uuid4().hex[:10]}", "immediate", ["intent:emergency"],
                          [("user", texts[n % len(texts)])])
    return service


def test_queue_page_stays_fast_after_a_flood_of_1000_tickets(flooded: Service) -> None:
    client = logged_in(flooded, SUPERVISOR, "127.0.0.40")
    timings = []
    for _ in range(7):
        start = time.perf_counter()
        page = client.get("/console/")
        timings.append(time.perf_counter() - start)
        assert page.status_code == 200
        assert timings[-1] < 3.0, f"one queue page took {timings[-1]:.1f} s"
    median = statistics.median(timings)
    print(f"queue page with 1,000 open tickets: median {median * 1000:.0f} ms, max {max(timings) * 1000:.0f} ms")
    assert median < 0.2, f"median {median * 1000:.0f} ms"
    rows = page.text.count('class="ticket-link"')
    assert 0 < rows <= 100 and "1000 ca" in page.text, "one page of the queue, with the total"


def test_health_answers_fast_while_a_queue_page_renders(flooded: Service) -> None:
    client = logged_in(flooded, SUPERVISOR, "127.0.0.41")
    done, stop = threading.Event(), threading.Event()

    def render_queues() -> None:
        try:
            for page in range(1, 11):
                if stop.is_set():
                    break
                client.get("/console/", params={"status": "all", "page": str(page)})
        finally:
            done.set()

    worker = threading.Thread(target=render_queues)
    worker.start()
    health = flooded.client("127.0.0.42")
    timings = []
    try:
        while not done.is_set() or len(timings) < 10:
            start = time.perf_counter()
            assert health.get("/health").status_code == 200
            timings.append(time.perf_counter() - start)
            assert timings[-1] < 2.0, f"/health took {timings[-1]:.1f} s while the queue rendered"
            if len(timings) >= 200:
                break
    finally:
        stop.set()
        worker.join(timeout=300)
    print(f"/health during queue renders: median {statistics.median(timings) * 1000:.0f} ms, "
          f"max {max(timings) * 1000:.0f} ms over {len(timings)}")
    assert statistics.median(timings) < 0.1 and max(timings) < 1.0


def test_new_tickets_beyond_the_global_limit_are_recorded_but_do_not_page_staff(db_url: str, clock: Clock) -> None:
    store = HandoffStore.from_url(db_url, now=clock, new_tickets="5/60")
    real = store.open_ticket("telegram", "real-person", "urgent", ["keyword:giam_giu"], [("user", "cứu tôi")])
    flood = [store.open_ticket("rest", f"bot-{n}", "immediate", ["intent:emergency"], [("user", "cuu")])
             for n in range(20)]
    assert not real.flood_suspect and not any(t.flood_suspect for t in flood[:4])
    assert all(t.flood_suspect for t in flood[4:]), "beyond 5 new tickets a minute: flood-suspect"
    assert len(store.list_tickets(limit=500)) == 21, "every ticket is still recorded"
    alerted = {t.id for t in store.unnotified(limit=100)}
    assert real.id in alerted and not alerted & {t.id for t in flood[4:]}, "staff are not paged about a flood"
    queue = [item.ticket for item in store.queue()]
    assert queue.index(next(t for t in queue if t.id == real.id)) < min(
        queue.index(t) for t in queue if t.flood_suspect), "a real urgent case is not buried under the flood"
    # The same sender writing again joins their ticket: no new ticket, nothing counted twice.
    assert store.open_ticket("rest", "bot-10", "immediate", [], [("user", "lai")]).id == flood[10].id
    clock.advance(seconds=61)
    later = store.open_ticket("zalo", "after-the-burst", "urgent", ["keyword:lua_dao"])
    assert not later.flood_suspect, "the limit is per window"
    import datetime as dt

    clock.advance(hours=2)
    due = {t.id for t in store.escalation_due(dt.timedelta(minutes=5))}
    assert real.id in due and not due & {t.id for t in flood[4:]}, "escalation does not page staff either"


def test_an_emergency_in_a_flood_still_gets_111_and_113(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import actions.services as services_module
    from actions.emergency import ActionEmergency
    from helpline import replies
    from tests.unit.test_actions import FakeServices, run, tracker

    store = HandoffStore.from_url(f"sqlite:///{tmp_path / 'h.db'}", new_tickets="1/60")
    monkeypatch.setattr(services_module, "_services", FakeServices(store))
    run(ActionEmergency(), tracker("cuu toi", sender="first", intent="emergency"))
    texts, _ = run(ActionEmergency(), tracker("cuu toi voi", sender="second", intent="emergency"))
    assert "111" in texts[0] and "113" in texts[0], "the emergency reply comes first, whatever the desk does"
    assert replies.TICKET_FLOOD_DELAYED in texts, "and the person is told staff may be slow: call 111/113"
    assert "111" in replies.TICKET_FLOOD_DELAYED and "113" in replies.TICKET_FLOOD_DELAYED


# -- finding 4: login and staff-token guessing ------------------------------------------------------


def test_x_forwarded_for_does_not_bypass_the_login_limiter(service: Service) -> None:
    attacker = service.client("127.0.0.1")  # uvicorn trusted X-Forwarded-For from 127.0.0.1 by default
    statuses = []
    for n in range(30):
        token = login_form(attacker)
        response = attacker.post("/console/login", headers={"X-Forwarded-For": f"198.51.100.{n + 1}"},
                                 data={"login_token": token, "username": "khong-co-ai", "password": f"doan-{n}-xx"})
        statuses.append(response.status_code)
    assert 429 in statuses[:21], f"a made-up X-Forwarded-For gave a fresh limit each time: {statuses}"


def test_x_forwarded_for_does_not_bypass_the_staff_token_limiter(service: Service) -> None:
    guesser = service.client("127.0.0.1")
    statuses = [guesser.get("/api/tickets", headers={"Authorization": f"Bearer wrong-token-{n}",
                                                     "X-Forwarded-For": f"203.0.113.{n + 1}"}).status_code
                for n in range(30)]
    assert 429 in statuses[:21], f"a made-up X-Forwarded-For gave a fresh limit each time: {statuses}"
    ok = service.client("127.0.0.12").get("/api/tickets", headers={"Authorization": f"Bearer {STAFF_TOKEN}"})
    assert ok.status_code == 200, "someone else is not affected"


def test_an_attacker_cannot_lock_the_real_user_out(service: Service) -> None:
    username, password = AGENT
    failed = 0
    for ip in ("127.0.0.20", "127.0.0.21"):
        attacker = service.client(ip)
        for n in range(6):
            response = login(attacker, username, f"sai-mat-khau-{n}-abc")
            assert response.status_code in (401, 429)
            failed += response.status_code == 401
    assert failed >= 5, "enough wrong passwords were checked to have locked the account before"
    slowed = login(service.client("127.0.0.21"), username, password)  # right after its last failure
    assert slowed.status_code == 429 and int(slowed.headers["retry-after"]) >= 1, "the attacker's address is slowed"
    start = time.perf_counter()
    owner = login(service.client("127.0.0.22"), username, password)
    waited = time.perf_counter() - start
    assert owner.status_code == 303, "the right password from the owner's address still works"
    assert waited < 25, f"within a bounded delay ({waited:.1f} s)"


def test_weak_passwords_are_refused_by_the_staff_cli(service: Service) -> None:
    for weak in ("matkhau123", "123456789", "anhyeuem", "Anhyeuem2024", "qwertyuiop", "1234567890",
                 "hoa-ngoc-2024-abc"):
        made = service.cli("add", "--username", "hoa", stdin=weak + "\n")
        assert made.returncode == 1 and "mật khẩu" in made.stderr and weak not in made.stderr, (weak, made.stderr)
    changed = service.cli("password", "--username", AGENT[0], stdin="matkhau12345\n")
    assert changed.returncode == 1 and "password" in changed.stderr
    assert service.cli("add", "--username", "hoa", stdin="Truc-dem-o-Can-Tho-19\n").returncode == 0


def test_totp_is_required_once_a_supervisor_enrols(service: Service) -> None:
    pyotp = pytest.importorskip("pyotp")
    password = "Giam-sat-ca-dem-Vinh-88"
    assert service.cli("add", "--username", "thu", "--role", "supervisor", stdin=password + "\n").returncode == 0
    enrolled = service.cli("totp", "--username", "thu")
    assert enrolled.returncode == 0, enrolled.stderr
    uri = re.search(r"otpauth://\S+", enrolled.stdout)
    assert uri, enrolled.stdout
    secret = pyotp.parse_uri(uri.group(0)).secret
    client = service.client("127.0.0.50")
    asked = login(client, "thu", password)
    assert asked.status_code == 401 and 'name="code"' in asked.text, "the password alone is not enough"
    assert "helpline_session" not in client.cookies
    wrong = login(service.client("127.0.0.51"), "thu", password, code="000000" if pyotp.TOTP(secret).now() != "000000"
                  else "111111")
    assert wrong.status_code == 401
    ok = login(service.client("127.0.0.52"), "thu", password, code=pyotp.TOTP(secret).now())
    assert ok.status_code == 303, ok.text[:300]


# -- finding 7: fullwidth text and bidi controls -----------------------------------------------------


def test_fullwidth_text_is_detected_as_an_emergency() -> None:
    from helpline.safety import detect

    assert fold("ｃｕｕ ｔｏｉ") == fold("cuu toi") == "cuu toi"
    for text in ("ｃｕｕ ｔｏｉ", "ｃứｕ ｔôｉ ｖớｉ", "ｃｕｕ ｔｏｉ， ｔｏｉ ｂｉ ｎｈｏｔ"):
        assert detect(text).is_emergency, text


def test_right_to_left_override_does_not_reach_the_console_raw(service: Service) -> None:
    store = service.store()
    sender = f"rlo-{uuid.uuid4().hex[:8]}"
    text = "tôi ở \u202ekhách sạn\u202c gần chợ \u2067abc\u2069 \u200f"
    ticket = store.open_ticket("telegram", sender, "urgent", ["keyword:giam_giu"], [("user", text)])
    store.add_user_message("telegram", sender, "thêm \u202dnữa")
    client = logged_in(service, SUPERVISOR, "127.0.0.60")
    pages = {path: client.get(path) for path in (f"/console/tickets/{ticket.id}", f"/console/tickets/{ticket.id}/live",
                                                 "/console/?status=all&channel=telegram",
                                                 f"/console/tickets/{ticket.id}/export")}
    api = service.client("127.0.0.61").get(f"/api/tickets/{ticket.id}",
                                           headers={"Authorization": f"Bearer {STAFF_TOKEN}"})
    pages["api"] = api
    for where, response in pages.items():
        assert response.status_code == 200, (where, response.status_code)
        for control in ("\u202e", "\u202c", "\u2067", "\u2069", "\u200f", "\u202d"):
            assert control not in response.text, f"{where}: U+{ord(control):04X} reached staff raw"
    assert "⟨RLO⟩" in pages[f"/console/tickets/{ticket.id}"].text, "shown visibly to staff"
