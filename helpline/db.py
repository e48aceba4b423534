"""Database plumbing shared by the stores (handoff tickets, outbox): URLs, dialects, transactions, schema.

One code path serves SQLite (the default) and PostgreSQL (psycopg v3). A transaction
has a connection to itself; idle connections are kept for the next transaction
(:class:`IdleConnections`), because opening one costs more than the small
transactions the stores run (a PostgreSQL connection forks a server process).
Only module constants are ever spliced into SQL text.
"""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from helpline.errors import HandoffError

_PG_SCHEMA_LOCK = 0x48656C70  # advisory lock key: serialises schema creation across processes


@dataclass(frozen=True)
class Dialect:
    """What differs between the two databases."""

    kind: str
    id_column: str
    timestamp_type: str
    errors: tuple[type[BaseException], ...]
    integrity_error: type[BaseException]

    @property
    def is_sqlite(self) -> bool:
        return self.kind == "sqlite"

    def sql(self, statement: str) -> str:
        """Translate ``?`` placeholders to the driver's style."""
        return statement if self.is_sqlite else statement.replace("?", "%s")

    def ts(self, value: dt.datetime) -> Any:
        """A datetime as a query parameter."""
        if self.is_sqlite:
            # Fixed-format UTC ISO text sorts and compares like the instant it names.
            return value.astimezone(dt.timezone.utc).isoformat(timespec="microseconds")
        return value


def from_db_ts(value: Any) -> dt.datetime:
    """A stored timestamp (ISO text or datetime) as an aware UTC datetime."""
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return value.astimezone(dt.timezone.utc)


def db_message(exc: BaseException) -> str:
    """A driver error as one line, without the row values psycopg puts in DETAIL."""
    primary = getattr(getattr(exc, "diag", None), "message_primary", None)
    if primary:
        return str(primary)
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def _postgres_driver() -> Any:
    """psycopg v3, or psycopg2 where only that is installed (the Rasa environment ships it)."""
    try:
        import psycopg

        return psycopg
    except ImportError:
        pass
    try:
        import psycopg2

        return psycopg2
    except ImportError:
        raise HandoffError("a PostgreSQL URL needs psycopg v3: pip install 'psycopg[binary]'") from None


def private_file(path: Path) -> None:
    """Create a SQLite file (and its folder, 0700) readable by its owner only (0600), or tighten it to that.

    Tickets, transcripts and password hashes live in these files. SQLite creates the WAL and
    shared-memory files with the database file's mode, so they are private too.
    """
    if not path.parent.is_dir():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
        return
    if mode & 0o077:
        path.chmod(0o600)


class UniqueConflict(HandoffError):
    """A concurrent writer won a race on a unique index; the caller may retry."""


class Query:
    """A cursor inside one transaction, taking ``?`` placeholders for both databases."""

    def __init__(self, cursor: Any, dialect: Dialect) -> None:
        self._cur = cursor
        self._d = dialect

    def run(self, statement: str, params: Sequence[Any] = ()) -> int:
        """Execute a statement; return the number of rows it changed."""
        self._cur.execute(self._d.sql(statement), tuple(params))
        return int(self._cur.rowcount)

    def one(self, statement: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        """The first row of a query, or None."""
        self._cur.execute(self._d.sql(statement), tuple(params))
        return self._cur.fetchone()

    def all(self, statement: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """All rows of a query."""
        self._cur.execute(self._d.sql(statement), tuple(params))
        return list(self._cur.fetchall())

    def insert(self, statement: str, params: Sequence[Any]) -> int:
        """Execute an INSERT and return the new row's id."""
        if self._d.is_sqlite:
            self._cur.execute(statement, tuple(params))
            return int(self._cur.lastrowid)
        self._cur.execute(self._d.sql(statement) + " RETURNING id", tuple(params))
        return int(self._cur.fetchone()[0])


MAX_IDLE_CONNECTIONS = 8
# A connection idle for longer is checked before reuse: the server may have restarted meanwhile.
CHECK_AFTER_IDLE_SECONDS = 2.0
# PostgreSQL: find a dead peer (a network partition) instead of waiting forever on a pooled connection.
_PG_KEEPALIVE = {"keepalives": 1, "keepalives_idle": 5, "keepalives_interval": 2, "keepalives_count": 3}


class IdleConnections:
    """Connections between transactions, for reuse by any thread of this process.

    A connection is only ever used by one transaction at a time: it is taken out while in use.
    A connection that failed is closed, never put back; one inherited over ``fork`` is dropped.
    """

    def __init__(self, check: Callable[[Any], None], limit: int = MAX_IDLE_CONNECTIONS) -> None:
        self._check = check
        self._limit = limit
        self._lock = threading.Lock()
        self._idle: list[tuple[Any, float]] = []
        self._pid = os.getpid()

    def take(self) -> Any | None:
        while True:
            with self._lock:
                if self._pid != os.getpid():  # a forked child must not touch the parent's connections
                    self._idle, self._pid = [], os.getpid()
                if not self._idle:
                    return None
                conn, since = self._idle.pop()
            if time.monotonic() - since < CHECK_AFTER_IDLE_SECONDS:
                return conn
            try:
                self._check(conn)
                return conn
            except Exception:
                with suppress(Exception):
                    conn.close()

    def give_back(self, conn: Any) -> None:
        with self._lock:
            if self._pid == os.getpid() and len(self._idle) < self._limit:
                self._idle.append((conn, time.monotonic()))
                return
        with suppress(Exception):
            conn.close()


def _check_connection(conn: Any) -> None:
    if getattr(conn, "closed", False) or getattr(conn, "broken", False):
        raise ConnectionError("connection closed")
    cursor = conn.cursor()
    try:
        cursor.execute("SELECT 1")
        cursor.fetchall()
    finally:
        cursor.close()
    conn.rollback()


class Database:
    """A DB-API connection factory plus its dialect; creates its store's schema on first use."""

    def __init__(
        self, connect: Callable[[], Any], dialect: Dialect, description: str, schema: Sequence[str] = ()
    ) -> None:
        self._connect = connect
        self._schema = tuple(schema)
        self.dialect = dialect
        self.description = description
        self._schema_ready = False
        self._schema_lock = threading.Lock()
        self._wal = True
        self._idle = IdleConnections(_check_connection)

    @property
    def kind(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return self.dialect.kind

    @classmethod
    def from_url(cls, url: str, timeout: float = 10.0, schema: Sequence[str] = (), wal: bool = True) -> Database:
        """Parse ``sqlite:///path`` or ``postgresql://...`` (see ``HandoffStore.from_url``).

        ``wal=False`` leaves a SQLite file's journal mode alone (a database another program owns).

        Raises:
            HandoffError: If the URL is not supported or psycopg is missing.
        """
        scheme, sep, rest = url.partition("://")
        scheme = scheme.lower()
        if sep and scheme == "sqlite":
            database = cls._sqlite(rest, timeout, schema)
            database._wal = wal
            return database
        if sep and (scheme in ("postgres", "postgresql") or scheme.startswith("postgresql+")):
            return cls._postgres("postgresql://" + rest, timeout, schema)
        raise HandoffError("handoff database URL must start with sqlite:/// or postgresql://")

    @classmethod
    def _sqlite(cls, rest: str, timeout: float, schema: Sequence[str]) -> Database:
        if not rest.startswith("/") or rest[1:] in ("", ":memory:"):
            raise HandoffError(
                "a SQLite handoff URL must name a file: sqlite:///relative.db or sqlite:////absolute/path.db"
            )
        path = Path(rest[1:]).expanduser()

        def connect() -> sqlite3.Connection:
            private_file(path)
            # isolation_level=None: transactions are begun explicitly (see transaction()).
            # Any thread may reuse an idle connection, one transaction at a time.
            conn = sqlite3.connect(str(path), timeout=timeout, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA foreign_keys = ON")
            return conn

        dialect = Dialect(
            "sqlite",
            "INTEGER PRIMARY KEY AUTOINCREMENT",
            "TEXT",
            (sqlite3.Error, OSError),
            sqlite3.IntegrityError,
        )
        return cls(connect, dialect, f"sqlite ({path})", schema)

    @classmethod
    def _postgres(cls, conninfo: str, timeout: float, schema: Sequence[str]) -> Database:
        driver = _postgres_driver()
        parts = urlsplit(conninfo)
        where = f"{parts.hostname or 'localhost'}:{parts.port or 5432}{parts.path or ''}"

        def connect() -> Any:
            return driver.connect(conninfo, connect_timeout=max(1, int(timeout)),
                                  tcp_user_timeout=int(timeout * 1000), **_PG_KEEPALIVE)

        dialect = Dialect(
            "postgresql",
            "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
            "TIMESTAMPTZ",
            (driver.Error,),
            driver.IntegrityError,
        )
        # Never the full URL: it may hold a password.
        return cls(connect, dialect, f"postgresql ({where})", schema)

    @contextmanager
    def _translate(self, what: str) -> Iterator[None]:
        try:
            yield
        except self.dialect.integrity_error:
            raise UniqueConflict(f"handoff store ({self.kind}): conflict while trying to {what}") from None
        except self.dialect.errors as exc:
            raise HandoffError(f"handoff store ({self.kind}) could not {what}: {db_message(exc)}") from None

    @contextmanager
    def transaction(self, what: str, write: bool = True) -> Iterator[Query]:
        """One transaction on a fresh connection, committed if the block succeeds.

        Args:
            what: What the caller is doing, for the error message ("open a ticket").
            write: Whether the block writes (SQLite then takes the write lock at once).

        Raises:
            HandoffError: If the database fails (``UniqueConflict`` on a unique-index race).
        """
        if not self._schema_ready:
            self._create_schema()
        with self._raw_transaction(what, write) as query:
            yield query

    @contextmanager
    def _raw_transaction(self, what: str, write: bool) -> Iterator[Query]:
        with self._translate(what):
            conn = self._idle.take() or self._connect()
            try:
                cursor = conn.cursor()
                if self.dialect.is_sqlite:
                    # IMMEDIATE takes the write lock up front, so the busy timeout applies
                    # instead of a read-to-write lock upgrade failing at once.
                    cursor.execute("BEGIN IMMEDIATE" if write else "BEGIN")
                yield Query(cursor, self.dialect)
                conn.commit()
                cursor.close()
            except BaseException:
                # Whatever failed (the query, the connection, the caller's block): this connection is not reused.
                with suppress(Exception):
                    conn.rollback()
                with suppress(Exception):
                    conn.close()
                raise
            self._idle.give_back(conn)

    def _enable_wal(self, tries: int = 50) -> None:
        # Switching the journal mode does not wait on the busy timeout: while another store's
        # connection holds the write lock (two stores creating their tables in a new file), retry.
        for attempt in range(tries):
            try:
                with self._translate("enable WAL mode"):
                    conn = self._connect()
                    try:
                        # Persistent in the file; cannot be changed inside a transaction.
                        conn.execute("PRAGMA journal_mode = WAL")
                    finally:
                        conn.close()
                return
            except HandoffError:
                if attempt == tries - 1:
                    raise
                time.sleep(0.1)

    def _create_schema(self) -> None:
        with self._schema_lock:
            if self._schema_ready:
                return
            if self.dialect.is_sqlite and self._wal:
                self._enable_wal()
            with self._raw_transaction("create the schema", write=True) as q:
                if not self.dialect.is_sqlite:
                    q.one("SELECT pg_advisory_xact_lock(?)", (_PG_SCHEMA_LOCK,))
                for statement in self._schema:
                    q.run(statement.format(id=self.dialect.id_column, ts=self.dialect.timestamp_type))
            self._schema_ready = True
