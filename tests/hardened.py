"""A real stack in its "scaled" shape, with every dependency behind a switch, for fault and fuzz tests.

- Tickets, outbox and channel state, and Rasa's tracker store, in a PostgreSQL database of its own
  on the machine's server, reached through a :class:`TcpProxy` the tests can kill or black-hole
  (the shared server itself is never stopped).
- Rasa's lock store in Redis, through another proxy (keys under a unique prefix).
- All four messaging platforms as local fakes, the action server and the handoff service.
- Rasa runs with ``--debug`` and the services at DEBUG, so user texts do reach the logs and the
  log scan can prove they are masked; ``X-Real-IP`` is trusted so tests can speak from many addresses.

One stack per test session (``hardened`` fixture), shared by tests/faults and tests/fuzz.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
import pytest

from helpline.stack import ACTIONS_VENV, PROJECT_ROOT, RASA_MODEL, Ports, Stack
from tests.fakes.base import FakePlatform
from tests.fakes.facebook import FakeFacebook
from tests.fakes.telegram import FakeTelegram
from tests.fakes.zalo import FakeZalo
from tests.fakes.zalobot import FakeZaloBot
from tests.faults.proxy import TcpProxy
from tests.stacks import base_env

PG_ADMIN_URL = os.environ.get("HELPLINE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_PORT = int(os.environ.get("HELPLINE_TEST_REDIS_PORT", "6379"))
DB_PASSWORD = "db-password-never-logged-42"  # trust auth ignores it; the log scan looks for it
CHANNEL_NAMES = ("rest", "web", "telegram", "zalo", "zalobot", "facebook")
STAFF = {"agent": ("nhanvien", "mat-khau-nhan-vien-hardened"), "supervisor": ("giamsat", "mat-khau-giam-sat-hardened")}


def until(check: Callable[[], Any], timeout: float = 60.0, what: str = "condition") -> Any:
    """Poll ``check`` until it returns something truthy (returned), or fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError(f"{what}: not met within {timeout:.0f} s")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _missing(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


@dataclass
class Hardened:
    stack: Stack
    platforms: dict[str, FakePlatform]
    pg: TcpProxy
    redis: TcpProxy
    log_dir: Path
    db_name: str
    http: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=60))

    # -- addresses ----------------------------------------------------------------------

    @property
    def rasa(self) -> str:
        return f"http://127.0.0.1:{self.stack.ports.rasa}"

    @property
    def handoff(self) -> str:
        return f"http://127.0.0.1:{self.stack.ports.handoff}"

    @property
    def direct_db_url(self) -> str:
        """The database itself, not through the proxy: tests read it while the proxy is down."""
        base = PG_ADMIN_URL.rsplit("/", 1)[0]
        return f"{base}/{self.db_name}"

    @property
    def secrets(self) -> list[str]:
        env = self.stack.env
        names = [k for k in env if k.endswith(("_TOKEN", "_SECRET", "_SECRET_KEY"))]
        values = [env[k] for k in names if env[k]]
        return [*values, DB_PASSWORD, *(pw for _, pw in STAFF.values())]

    # -- talking to it ------------------------------------------------------------------

    def rest(self, sender: str, message: str, ip: str | None = None, timeout: float = 60) -> httpx.Response:
        # The REST channel answers loopback clients only: many clients are many 127.x addresses.
        headers = {"X-Real-IP": ip or f"127.9.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}"}
        return self.http.post(f"{self.rasa}/webhooks/rest/webhook", json={"sender": sender, "message": message},
                              headers=headers, timeout=timeout)

    def rest_text(self, sender: str, message: str) -> str:
        response = self.rest(sender, message)
        assert response.status_code == 200, response.text
        return "\n".join(m.get("text", "") for m in response.json())

    def webhook(self, channel: str, body: bytes, headers: dict[str, str], ip: str | None = None) -> httpx.Response:
        headers = {**headers, "X-Real-IP": ip or f"10.8.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}"}
        return self.http.post(f"{self.rasa}/webhooks/{channel}/webhook", content=body, headers=headers, timeout=30)

    def tracker(self, sender: str) -> dict[str, Any]:
        """The tracker of a conversation key; a bare id is a REST sender (``rest:<id>``)."""
        key = sender if sender.split(":", 1)[0] in CHANNEL_NAMES and ":" in sender else f"rest:{sender}"
        response = self.http.get(f"{self.rasa}/conversations/{quote(key, safe=':')}/tracker",
                                 params={"token": self.stack.env["RASA_TOKEN"]})
        response.raise_for_status()
        return response.json()

    def console(self, role: str = "agent") -> httpx.Client:
        """A logged-in console client."""
        username, password = STAFF[role]
        client = httpx.Client(base_url=self.handoff, timeout=30, follow_redirects=False)
        page = client.get("/console/login")
        token = re.search(r'name="login_token" value="([^"]+)"', page.text)
        assert token, page.text[:300]
        response = client.post("/console/login", data={"login_token": token.group(1), "username": username,
                                                       "password": password, "next": "/console/"})
        assert response.status_code == 303, response.text[:300]
        return client

    def logs(self) -> dict[str, str]:
        return {p.name: p.read_text(errors="replace") for p in sorted(self.log_dir.glob("*.log"))}


def _endpoints(path: Path, ports: Ports, pg_port: int, redis_port: int, db_name: str, prefix: str) -> Path:
    path.write_text(f"""action_endpoint:
  url: http://127.0.0.1:{ports.actions}/webhook
  headers:
    X-Helpline-Action-Secret: ${{HELPLINE_ACTION_SECRET}}
tracker_store:
  type: bot.tracker_store.CoreSQLTrackerStore
  dialect: postgresql
  url: 127.0.0.1
  port: {pg_port}
  db: {db_name}
  username: postgres
  password: {DB_PASSWORD}
  query:
    connect_timeout: "3"
lock_store:
  type: bot.lock_store.AtomicRedisLockStore
  url: 127.0.0.1
  port: {redis_port}
  key_prefix: {prefix}
  socket_timeout: 3
""")
    return path


@pytest.fixture(scope="session")
def hardened(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hardened]:
    if not RASA_MODEL.is_file():
        pytest.fail(f"no trained Rasa model at {RASA_MODEL}: run `make setup`")
    psycopg = pytest.importorskip("psycopg", reason="the hardened stack needs psycopg 3 (action environment)")
    try:
        admin = psycopg.connect(PG_ADMIN_URL, connect_timeout=3, autocommit=True)
    except psycopg.OperationalError as exc:
        _missing(f"PostgreSQL is not reachable at {PG_ADMIN_URL}: {str(exc).splitlines()[0]}")
    try:
        with socket.create_connection(("127.0.0.1", REDIS_PORT), timeout=3):
            pass
    except OSError:
        admin.close()
        _missing(f"Redis is not reachable on 127.0.0.1:{REDIS_PORT}")
    db_name = f"helpline_hardened_{uuid.uuid4().hex[:10]}"
    admin.execute(f'CREATE DATABASE "{db_name}"')
    pg = TcpProxy(urlsplit(PG_ADMIN_URL).port or 5432, urlsplit(PG_ADMIN_URL).hostname or "127.0.0.1").start()
    redis = TcpProxy(REDIS_PORT).start()
    platforms: dict[str, FakePlatform] = {"zalo": FakeZalo(), "zalobot": FakeZaloBot(), "facebook": FakeFacebook(),
                                          "telegram": FakeTelegram()}
    for fake in platforms.values():
        fake.start()
    data_dir = tmp_path_factory.mktemp("hardened-data")
    log_dir = tmp_path_factory.mktemp("hardened-logs")
    ports = Ports(rasa=free_port(), actions=free_port(), handoff=free_port())
    db_url = f"postgresql://postgres:{DB_PASSWORD}@127.0.0.1:{pg.port}/{db_name}"
    env = base_env()
    for fake in platforms.values():
        env.update(fake.env())  # type: ignore[attr-defined]
    env.update(DATABASE_URL=db_url, HELPLINE_TRACKER_DB_URL=db_url, HELPLINE_CONFIG="/nonexistent.yml",
               HELPLINE_DESK_TICK_SECONDS="1", HELPLINE_ESCALATE_AFTER_SECONDS="3600", HELPLINE_LOG_LEVEL="DEBUG",
               HELPLINE_CHANNEL_TIMEOUT="2", HELPLINE_TURN_TIMEOUT_SECONDS="10", SANIC_REAL_IP_HEADER="X-Real-IP",
               HELPLINE_REST_ENABLED="1")  # behind a (declared) proxy the REST channel is off unless enabled
    stack = Stack(data_dir, ports, log_dir=log_dir, env=env)
    endpoints = _endpoints(data_dir / "endpoints.yml", ports, pg.port, redis.port, db_name,
                           f"hardened{uuid.uuid4().hex[:8]}")
    rasa_cmd = stack.services["rasa"].command
    rasa_cmd[rasa_cmd.index("bot/endpoints.yml")] = str(endpoints)
    rasa_cmd.append("--debug")
    hard = Hardened(stack, platforms, pg, redis, log_dir, db_name)
    try:
        for username, password in STAFF.values():
            role = "supervisor" if username == STAFF["supervisor"][0] else "agent"
            created = subprocess.run(
                [str(ACTIONS_VENV / "bin" / "python"), "-m", "helpline.handoff.staff", "add", "--username", username,
                 "--role", role], input=password + "\n", text=True, capture_output=True, env=stack.env,
                cwd=PROJECT_ROOT, timeout=120)
            assert created.returncode == 0, created.stderr
        stack.start_all(timeout=300)
        yield hard
    except BaseException:
        for name, text in hard.logs().items():
            print(f"----- {name} -----\n{text[-4000:]}")
        raise
    finally:
        stack.stop_all()
        hard.http.close()
        for fake in platforms.values():
            fake.stop()
        pg.stop()
        redis.stop()
        admin.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
        admin.close()
