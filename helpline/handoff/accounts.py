"""Staff accounts and console sessions, in the handoff database.

Passwords are hashed with argon2id (argon2-cffi). Sessions are server-side rows keyed by the
SHA-256 of a random id (the id itself only lives in the staff member's cookie), with an absolute
lifetime, an idle timeout and a per-session CSRF token. Not imported by :mod:`helpline.handoff`
itself: the bot side does not need argon2.

Wrong passwords never lock an account (anyone who knows a username could then lock its owner
out). Instead each failure after the first few makes the *next* check of that account wait
longer, doubling up to :data:`MAX_ACCOUNT_DELAY_SECONDS`: the console holds the request that long,
then checks the password, so the right password from anywhere still works within that bound. The
guessing address is slowed separately, and much more (:class:`helpline.ratelimit.Backoff`).

Staff may enrol a TOTP authenticator (``python -m helpline.handoff.staff totp``, meant for
supervisors): the login then also needs the current 6-digit code.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from helpline.db import Database, Query, UniqueConflict, from_db_ts
from helpline.handoff.models import utc_now
from helpline.handoff.passwords import MAX_PASSWORD, MIN_PASSWORD, password_problem
from helpline.handoff.schema import LEARNING_ROLES, ROLES

USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,31}$")
# Failures of one account before its checks are delayed; the delay then doubles from 1 s up to the maximum.
FREE_FAILURES = 3
MAX_ACCOUNT_DELAY_SECONDS = 15.0
TOTP_ISSUER = "Ban truc 111"
TOTP_CODE = re.compile(r"^[0-9]{6}$")
_TOUCH_EVERY = dt.timedelta(seconds=60)
# Sessions that expired or sat idle: parameters (now, now - idle time).
SESSIONS_PURGE_WHERE = "expires_at <= ? OR last_seen_at <= ?"
# argon2id at OWASP's recommended minimum (19 MiB, 2 passes, 1 lane): a login stays well under a
# second on a shared 2-core machine. Hashes made with other parameters are upgraded at login.
_hasher = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)
# Verified against when the username is unknown, so both cases take the same time.
_DUMMY_HASH = _hasher.hash("not-a-real-password-" + secrets.token_hex(8))


@dataclass(frozen=True)
class StaffUser:
    id: int
    username: str
    role: str
    active: bool
    created_at: dt.datetime
    last_login_at: dt.datetime | None

    @property
    def is_supervisor(self) -> bool:
        return self.role == "supervisor"

    @property
    def can_edit(self) -> bool:
        """May draft and approve handbook changes (editors and supervisors)."""
        return self.role in EDIT_ROLES


@dataclass(frozen=True)
class StaffSession:
    """A live console session; ``csrf_token`` must accompany every POST."""

    user: StaffUser
    csrf_token: str
    created_at: dt.datetime
    expires_at: dt.datetime


@dataclass(frozen=True)
class LoginResult:
    user: StaffUser | None
    known: bool = False  # the username exists (so it may go into the audit log)
    need_code: bool = False  # the password was right, but the account needs its TOTP code (none given)
    bad_code: bool = False  # the password was right, the TOTP code was not


def account_delay(failures: int) -> float:
    """Seconds the next check of an account waits after ``failures`` consecutive failures."""
    if failures < FREE_FAILURES:
        return 0.0
    return min(MAX_ACCOUNT_DELAY_SECONDS, 2.0 ** min(failures - FREE_FAILURES, 20))


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def _sid_hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("utf-8")).hexdigest()


def check_username(username: str) -> str:
    if not isinstance(username, str) or not USERNAME.match(username):
        raise ValueError("username: 2-32 characters, lowercase letters, digits, '.', '_' or '-'")
    return username


def check_password(password: str, username: str = "") -> str:
    """The password if it is strong enough (see :mod:`helpline.handoff.passwords`).

    Raises:
        ValueError: With a Vietnamese / English reason.
    """
    problem = password_problem(password, username)
    if problem:
        raise ValueError(problem)
    return password


def _pyotp() -> Any:
    try:
        import pyotp
    except ImportError:
        raise ValueError("TOTP needs the pyotp package (requirements/actions.txt)") from None
    return pyotp


# Every role an account can have: the base roles of staff_users' CHECK, and the later ones kept in
# staff_roles (a row there overrides the base role, so older databases need no migration).
ALL_ROLES: tuple[str, ...] = ROLES + LEARNING_ROLES
EDIT_ROLES: tuple[str, ...] = ("editor", "supervisor")


def _user_cols(alias: str = "staff_users") -> str:
    role = f"COALESCE((SELECT r.role FROM staff_roles r WHERE r.user_id = {alias}.id), {alias}.role)"
    return ", ".join(f"{alias}.{c}" if c != "role" else role
                     for c in ("id", "username", "role", "active", "created_at", "last_login_at"))


_USER_COLS = _user_cols()


def _user(row: tuple) -> StaffUser:  # type: ignore[type-arg]
    return StaffUser(int(row[0]), row[1], row[2], bool(row[3]), from_db_ts(row[4]),
                     from_db_ts(row[5]) if row[5] is not None else None)


class StaffAccounts:
    """Staff users, logins and sessions. Share the handoff store's database: ``StaffAccounts(store.database)``."""

    def __init__(self, database: Database, now: Callable[[], dt.datetime] = utc_now) -> None:
        self._db = database
        self._d = database.dialect
        self._now = now

    # -- accounts -----------------------------------------------------------------------------

    def add_user(self, username: str, password: str, role: str) -> StaffUser:
        """Create an account.

        Raises:
            ValueError: On a bad username, a short password, an unknown role or a taken username.
        """
        check_username(username)
        check_password(password, username)
        if role not in ALL_ROLES:
            raise ValueError(f"role must be one of {', '.join(ALL_ROLES)}")
        base = role if role in ROLES else "agent"
        try:
            with self._db.transaction("add a staff account") as q:
                user_id = q.insert("INSERT INTO staff_users (username, password_hash, role, active, created_at) "
                                   "VALUES (?, ?, ?, 1, ?)",
                                   (username, hash_password(password), base, self._d.ts(self._now())))
                if role != base:
                    q.run("INSERT INTO staff_roles (user_id, role) VALUES (?, ?)", (user_id, role))
        except UniqueConflict:
            raise ValueError(f"username {username!r} is taken") from None
        user = self.get_user(username)
        assert user is not None
        return user

    def get_user(self, username: str) -> StaffUser | None:
        with self._db.transaction("read a staff account", write=False) as q:
            row = q.one(f"SELECT {_USER_COLS} FROM staff_users WHERE username = ?", (username,))
        return _user(row) if row else None

    def list_users(self, active_only: bool = False) -> list[StaffUser]:
        where = "WHERE active = 1 " if active_only else ""
        with self._db.transaction("list staff accounts", write=False) as q:
            return [_user(r) for r in q.all(f"SELECT {_USER_COLS} FROM staff_users {where}ORDER BY username")]

    def set_active(self, username: str, active: bool) -> None:
        """Enable or disable an account; disabling ends its sessions at once."""
        with self._db.transaction("change a staff account") as q:
            if not q.run("UPDATE staff_users SET active = ?, failed_logins = 0, locked_until = NULL "
                         "WHERE username = ?", (1 if active else 0, username)):
                raise ValueError(f"no staff account {username!r}")
            if not active:
                q.run("DELETE FROM staff_sessions WHERE user_id = (SELECT id FROM staff_users WHERE username = ?)",
                      (username,))

    def set_password(self, username: str, password: str) -> None:
        """Change a password (same strength rules as new accounts); ends the account's sessions."""
        check_password(password, username)
        with self._db.transaction("change a password") as q:
            if not q.run("UPDATE staff_users SET password_hash = ?, failed_logins = 0, locked_until = NULL "
                         "WHERE username = ?", (hash_password(password), username)):
                raise ValueError(f"no staff account {username!r}")
            q.run("DELETE FROM staff_sessions WHERE user_id = (SELECT id FROM staff_users WHERE username = ?)",
                  (username,))

    # -- TOTP ---------------------------------------------------------------------------------

    def enroll_totp(self, username: str) -> str:
        """Give an account a new TOTP secret (replacing any earlier one); returns the otpauth URI.

        The URI holds the secret: show it once, to the staff member, and nowhere else.
        """
        pyotp = _pyotp()
        secret = pyotp.random_base32()
        with self._db.transaction("enrol a TOTP authenticator") as q:
            row = q.one("SELECT id FROM staff_users WHERE username = ?", (username,))
            if row is None:
                raise ValueError(f"no staff account {username!r}")
            q.run("DELETE FROM staff_totp WHERE user_id = ?", (row[0],))
            q.run("INSERT INTO staff_totp (user_id, secret, last_step, created_at) VALUES (?, ?, 0, ?)",
                  (row[0], secret, self._d.ts(self._now())))
            q.run("DELETE FROM staff_sessions WHERE user_id = ?", (row[0],))
        return str(pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=TOTP_ISSUER))

    def remove_totp(self, username: str) -> bool:
        """Remove an account's TOTP authenticator; False if it had none."""
        with self._db.transaction("remove a TOTP authenticator") as q:
            return bool(q.run("DELETE FROM staff_totp WHERE user_id = (SELECT id FROM staff_users WHERE username = ?)",
                              (username,)))

    def has_totp(self, username: str) -> bool:
        with self._db.transaction("read a TOTP enrolment", write=False) as q:
            return q.one("SELECT 1 FROM staff_totp t JOIN staff_users u ON u.id = t.user_id WHERE u.username = ?",
                         (username,)) is not None

    def _totp_step(self, secret: str, code: str, last_step: int) -> int | None:
        """The time step the code belongs to (this one or one either side), or None; never an old one again."""
        pyotp = _pyotp()
        totp = pyotp.TOTP(secret)
        now = self._now().timestamp()
        for drift in (0, -1, 1):
            moment = now + drift * totp.interval
            step = int(moment // totp.interval)
            if step > last_step and hmac.compare_digest(totp.at(moment), code):
                return step
        return None

    # -- login --------------------------------------------------------------------------------

    def login_delay(self, username: str) -> float:
        """How long the next password check of this account must wait (bounded; 0 for unknown names)."""
        with self._db.transaction("read a login delay", write=False) as q:
            row = q.one("SELECT locked_until FROM staff_users WHERE username = ?", (username,))
        if row is None or row[0] is None:
            return 0.0
        wait = (from_db_ts(row[0]) - self._now()).total_seconds()
        return max(0.0, min(MAX_ACCOUNT_DELAY_SECONDS, wait))

    def authenticate(self, username: str, password: str, code: str | None = None) -> LoginResult:
        """Check a password, and the TOTP code if the account has one.

        A failure (wrong password, wrong code) delays the account's next check (``locked_until``
        holds the time before which it should not be checked: see :meth:`login_delay`); it never
        locks the account. A right password without a code, on an account with TOTP, is not a
        failure: the form asks for the code.
        """
        now = self._now()
        with self._db.transaction("read a password hash", write=False) as q:
            row = q.one("SELECT u.id, u.password_hash, u.active, u.failed_logins, t.secret, t.last_step "
                        "FROM staff_users u LEFT JOIN staff_totp t ON t.user_id = u.id WHERE u.username = ?",
                        (username,))
        if row is None or not isinstance(password, str) or len(password) > MAX_PASSWORD:
            self._verify(_DUMMY_HASH, "x")
            return LoginResult(None)
        ok = self._verify(row[1], password)
        if not row[2]:
            return LoginResult(None, known=True)
        step: int | None = None
        if ok and row[4] is not None:
            if not code:
                return LoginResult(None, known=True, need_code=True)
            step = self._totp_step(row[4], code.strip(), int(row[5] or 0)) if TOTP_CODE.match(code.strip()) else None
            if step is None:
                self._record_failure(row[0], now)
                return LoginResult(None, known=True, bad_code=True)
        with self._db.transaction("record a login attempt") as q:
            if not ok:
                self._record_failure(row[0], now, q)
                return LoginResult(None, known=True)
            if step is not None:
                # Only if no one used this code (or a later one) meanwhile: a code works once.
                if not q.run("UPDATE staff_totp SET last_step = ? WHERE user_id = ? AND last_step < ?",
                             (step, row[0], step)):
                    return LoginResult(None, known=True, bad_code=True)
            new_hash = _hasher.hash(password) if _hasher.check_needs_rehash(row[1]) else row[1]
            q.run("UPDATE staff_users SET failed_logins = 0, locked_until = NULL, last_login_at = ?, "
                  "password_hash = ? WHERE id = ?", (self._d.ts(now), new_hash, row[0]))
            user = q.one(f"SELECT {_USER_COLS} FROM staff_users WHERE id = ?", (row[0],))
        assert user is not None
        return LoginResult(_user(user), known=True)

    def _record_failure(self, user_id: int, now: dt.datetime, q: Query | None = None) -> None:
        if q is None:
            with self._db.transaction("record a login failure") as fresh:
                self._record_failure(user_id, now, fresh)
            return
        row = q.one("SELECT failed_logins FROM staff_users WHERE id = ?", (user_id,))
        failures = int(row[0] if row else 0) + 1
        delay = account_delay(failures)
        until = self._d.ts(now + dt.timedelta(seconds=delay)) if delay else None
        q.run("UPDATE staff_users SET failed_logins = ?, locked_until = ? WHERE id = ?", (failures, until, user_id))

    @staticmethod
    def _verify(stored: str, password: str) -> bool:
        try:
            return _hasher.verify(stored, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    # -- sessions -----------------------------------------------------------------------------

    def create_session(self, user: StaffUser, lifetime: dt.timedelta, replaces: str | None = None) -> tuple[str, str]:
        """A new session for a logged-in user; ``replaces`` (the old cookie's id) is ended in the same step.

        Returns:
            ``(session_id, csrf_token)``: the id goes in the cookie and is never stored.
        """
        session_id = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(32)
        now = self._now()
        with self._db.transaction("start a session") as q:
            if replaces:
                q.run("DELETE FROM staff_sessions WHERE id_hash = ?", (_sid_hash(replaces),))
            q.run("INSERT INTO staff_sessions (id_hash, user_id, csrf_token, created_at, last_seen_at, expires_at) "
                  "VALUES (?, ?, ?, ?, ?, ?)",
                  (_sid_hash(session_id), user.id, csrf, self._d.ts(now), self._d.ts(now), self._d.ts(now + lifetime)))
        return session_id, csrf

    def session(self, session_id: str | None, idle: dt.timedelta) -> StaffSession | None:
        """The live session for a cookie value, or None if unknown, expired, idle too long or disabled."""
        if not session_id or len(session_id) > 128:
            return None
        now = self._now()
        key = _sid_hash(session_id)
        with self._db.transaction("read a session", write=False) as q:
            row = q.one(f"SELECT s.csrf_token, s.created_at, s.last_seen_at, s.expires_at, "
                        f"{_user_cols('u')} "
                        "FROM staff_sessions s JOIN staff_users u ON u.id = s.user_id WHERE s.id_hash = ?", (key,))
        if row is None:
            return None
        last_seen, expires = from_db_ts(row[2]), from_db_ts(row[3])
        user = _user(row[4:])
        if expires <= now or last_seen + idle <= now or not user.active:
            self.end_session(session_id)
            return None
        if now - last_seen >= _TOUCH_EVERY:
            with self._db.transaction("touch a session") as q:
                q.run("UPDATE staff_sessions SET last_seen_at = ? WHERE id_hash = ?", (self._d.ts(now), key))
        return StaffSession(user, row[0], from_db_ts(row[1]), expires)

    def end_session(self, session_id: str) -> None:
        with self._db.transaction("end a session") as q:
            q.run("DELETE FROM staff_sessions WHERE id_hash = ?", (_sid_hash(session_id),))

    def purge_sessions(self, idle: dt.timedelta) -> int:
        """Delete expired and idle sessions; returns how many."""
        now = self._now()
        with self._db.transaction("purge sessions") as q:
            return q.run(f"DELETE FROM staff_sessions WHERE {SESSIONS_PURGE_WHERE}",
                         (self._d.ts(now), self._d.ts(now - idle)))


__all__ = ["ALL_ROLES", "EDIT_ROLES",
           "MAX_PASSWORD", "MIN_PASSWORD", "LoginResult", "StaffAccounts", "StaffSession", "StaffUser", "account_delay",
           "hash_password"]
