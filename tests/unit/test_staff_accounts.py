"""Staff accounts, login backoff, password strength, TOTP and sessions (SQLite and PostgreSQL), and the account CLI."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from helpline.handoff import HandoffStore
from helpline.handoff.accounts import FREE_FAILURES, MAX_ACCOUNT_DELAY_SECONDS, StaffAccounts, account_delay
from helpline.settings import PROJECT_ROOT
from tests.conftest import Clock

PASSWORD = "mat-khau-dai-du-12"
HOUR = dt.timedelta(hours=1)
IDLE = dt.timedelta(minutes=30)


@pytest.fixture
def store(db_url: str, clock: Clock) -> HandoffStore:
    return HandoffStore.from_url(db_url, now=clock)


@pytest.fixture
def accounts(store: HandoffStore, clock: Clock) -> StaffAccounts:
    return StaffAccounts(store.database, now=clock)


def _rows(store: HandoffStore, sql: str) -> list[tuple[object, ...]]:
    with store.database.transaction("test read", write=False) as q:
        return q.all(sql)


def test_add_user_hashes_with_argon2(accounts: StaffAccounts, store: HandoffStore) -> None:
    user = accounts.add_user("minh", PASSWORD, "agent")
    assert (user.username, user.role, user.active) == ("minh", "agent", True)
    [(stored,)] = _rows(store, "SELECT password_hash FROM staff_users")
    assert str(stored).startswith("$argon2id$") and PASSWORD not in str(stored)
    with pytest.raises(ValueError, match="taken"):
        accounts.add_user("minh", PASSWORD, "agent")
    for username, password, role in (("Minh Nguyen", PASSWORD, "agent"), ("x", PASSWORD, "agent"),
                                     ("hoa", "short", "agent"), ("hoa", PASSWORD, "admin")):
        with pytest.raises(ValueError):
            accounts.add_user(username, password, role)
    assert [u.username for u in accounts.list_users()] == ["minh"]


def test_authenticate(accounts: StaffAccounts) -> None:
    accounts.add_user("lan", PASSWORD, "supervisor")
    ok = accounts.authenticate("lan", PASSWORD)
    assert ok.user is not None and ok.user.is_supervisor and ok.user.last_login_at is not None
    assert accounts.authenticate("lan", PASSWORD + "x").user is None
    assert accounts.authenticate("nobody", PASSWORD).user is None
    assert accounts.authenticate("lan", "x" * 1000).user is None


def test_failures_delay_the_account_but_never_lock_it(accounts: StaffAccounts, clock: Clock) -> None:
    accounts.add_user("lan", PASSWORD, "supervisor")
    for _ in range(FREE_FAILURES - 1):
        assert accounts.authenticate("lan", "sai-mat-khau").user is None
        assert accounts.login_delay("lan") == 0.0, "the first failures cost nothing"
    delays = []
    for _ in range(12):
        assert accounts.authenticate("lan", "sai-mat-khau").user is None
        delays.append(accounts.login_delay("lan"))
    assert delays[0] > 0 and delays[1] == 2 * delays[0], "the delay doubles"
    assert max(delays) == MAX_ACCOUNT_DELAY_SECONDS == account_delay(100), "and is bounded"
    result = accounts.authenticate("lan", PASSWORD)
    assert result.user is not None, "the right password still opens the account: no lockout"
    assert accounts.login_delay("lan") == 0.0, "a success forgets the failures"
    assert accounts.login_delay("nobody") == 0.0


def test_weak_passwords_are_refused(accounts: StaffAccounts) -> None:
    for weak in ("matkhau123", "123456789", "anhyeuem", "Anhyeuem@2024", "MatKhau123456", "qwertyuiop",
                 "1234567890", "aaaaaaaaaaaa", "hotline111!!", "xx-lan-ngan-2024"):
        with pytest.raises(ValueError, match="mật khẩu"):
            accounts.add_user("lan", weak, "agent")
    user = accounts.add_user("lan", PASSWORD, "agent")
    with pytest.raises(ValueError, match="tên đăng nhập"):
        accounts.set_password(user.username, "lan-oi-doi-mat-khau")
    with pytest.raises(ValueError, match="phổ biến"):
        accounts.set_password(user.username, "matkhau1234")


def test_totp_is_needed_once_enrolled(accounts: StaffAccounts, clock: Clock) -> None:
    pyotp = pytest.importorskip("pyotp")
    accounts.add_user("lan", PASSWORD, "supervisor")
    assert not accounts.has_totp("lan")
    uri = accounts.enroll_totp("lan")
    assert uri.startswith("otpauth://totp/") and accounts.has_totp("lan")
    secret = pyotp.parse_uri(uri).secret
    code = pyotp.TOTP(secret).at(clock.now.timestamp())
    assert accounts.authenticate("lan", PASSWORD).need_code, "the password alone is not enough"
    assert accounts.authenticate("lan", PASSWORD, "000000" if code != "000000" else "111111").bad_code
    assert accounts.authenticate("lan", PASSWORD + "x", code).user is None
    assert accounts.authenticate("lan", PASSWORD, code).user is not None
    assert accounts.authenticate("lan", PASSWORD, code).bad_code, "a code works only once"
    clock.advance(seconds=30)
    assert accounts.authenticate("lan", PASSWORD, pyotp.TOTP(secret).at(clock.now.timestamp())).user is not None
    assert accounts.remove_totp("lan") and accounts.authenticate("lan", PASSWORD).user is not None


def test_disabled_account_cannot_log_in_and_loses_its_sessions(accounts: StaffAccounts) -> None:
    user = accounts.add_user("minh", PASSWORD, "agent")
    sid, _ = accounts.create_session(user, HOUR)
    accounts.set_active("minh", False)
    assert accounts.session(sid, IDLE) is None
    assert accounts.authenticate("minh", PASSWORD).user is None
    accounts.set_active("minh", True)
    assert accounts.authenticate("minh", PASSWORD).user is not None
    with pytest.raises(ValueError):
        accounts.set_active("nobody", False)


def test_sessions_expire_absolutely_and_when_idle(accounts: StaffAccounts, store: HandoffStore,
                                                  clock: Clock) -> None:
    user = accounts.add_user("minh", PASSWORD, "agent")
    sid, csrf = accounts.create_session(user, HOUR)
    session = accounts.session(sid, IDLE)
    assert session is not None and session.user.username == "minh" and session.csrf_token == csrf
    [(stored,)] = _rows(store, "SELECT id_hash FROM staff_sessions")
    assert stored == hashlib.sha256(sid.encode()).hexdigest(), "only the hash of the id is stored"
    for minutes in (20, 20, 19):  # active use keeps it alive up to the absolute limit
        clock.advance(minutes=minutes)
        assert accounts.session(sid, IDLE) is not None
    clock.advance(minutes=2)
    assert accounts.session(sid, IDLE) is None, "61 minutes > the 1-hour lifetime"
    sid2, _ = accounts.create_session(user, HOUR)
    clock.advance(minutes=31)
    assert accounts.session(sid2, IDLE) is None, "idle for longer than 30 minutes"
    assert accounts.session("made-up", IDLE) is None and accounts.session(None, IDLE) is None


def test_new_session_replaces_the_old_one(accounts: StaffAccounts) -> None:
    user = accounts.add_user("minh", PASSWORD, "agent")
    old, _ = accounts.create_session(user, HOUR)
    new, _ = accounts.create_session(user, HOUR, replaces=old)
    assert new != old
    assert accounts.session(old, IDLE) is None and accounts.session(new, IDLE) is not None
    accounts.end_session(new)
    assert accounts.session(new, IDLE) is None


def test_password_change_ends_sessions_and_purge(accounts: StaffAccounts, store: HandoffStore,
                                                 clock: Clock) -> None:
    user = accounts.add_user("minh", PASSWORD, "agent")
    sid, _ = accounts.create_session(user, HOUR)
    accounts.set_password("minh", PASSWORD + "-moi")
    assert accounts.session(sid, IDLE) is None
    assert accounts.authenticate("minh", PASSWORD).user is None
    assert accounts.authenticate("minh", PASSWORD + "-moi").user is not None
    accounts.create_session(user, HOUR)
    accounts.create_session(user, dt.timedelta(hours=8))
    clock.advance(minutes=45)
    assert accounts.purge_sessions(IDLE) == 2
    assert _rows(store, "SELECT COUNT(*) FROM staff_sessions") == [(0,)]


def _cli(data_dir: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "HELPLINE_DATA_DIR": str(data_dir),
           "HELPLINE_CONFIG": "/nonexistent.yml"}
    env.pop("DATABASE_URL", None)
    return subprocess.run([sys.executable, "-m", "helpline.handoff.staff", *args], input=stdin, text=True,
                          capture_output=True, env=env, cwd=PROJECT_ROOT, timeout=60)


def test_cli_add_list_disable(tmp_path: Path) -> None:
    added = _cli(tmp_path, "add", "--username", "lan", "--role", "supervisor", stdin=PASSWORD + "\n")
    assert added.returncode == 0, added.stderr
    assert "created lan (supervisor)" in added.stdout and PASSWORD not in added.stdout + added.stderr
    assert _cli(tmp_path, "add", "--username", "lan", stdin=PASSWORD + "\n").returncode == 1
    short = _cli(tmp_path, "add", "--username", "hoa", stdin="ngan\n")
    assert short.returncode == 1 and "password" in short.stderr
    assert _cli(tmp_path, "disable", "--username", "lan").returncode == 0
    listing = _cli(tmp_path, "list")
    assert "lan" in listing.stdout and "supervisor" in listing.stdout and "disabled" in listing.stdout
    store = HandoffStore.from_url(f"sqlite:///{tmp_path / 'handoff.db'}")
    accounts = StaffAccounts(store.database)
    assert accounts.authenticate("lan", PASSWORD).user is None
    assert ("cli", "disable_staff lan") in [(e.who, e.action) for e in store.audit_entries()]
