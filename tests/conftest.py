"""Shared fixtures: a settable clock and real databases (SQLite file, PostgreSQL schema)."""

from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.hardened import hardened  # noqa: F401 - the stack of tests/faults and tests/fuzz, started on demand
from tests.stacks import bot, platforms, stack  # noqa: F401 - the SQLite stack of tests/integration and tests/security

PG_URL = os.environ.get("HELPLINE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
T0 = dt.datetime(2025, 7, 1, 8, 0, tzinfo=dt.timezone.utc)


class Clock:
    """A settable clock shared by the store under test."""

    def __init__(self, start: dt.datetime = T0) -> None:
        self.now = start

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> dt.datetime:
        self.now += dt.timedelta(**delta)
        return self.now


def pg_driver() -> Any:
    """psycopg v3, else psycopg2 (the store accepts either), else skip."""
    try:
        import psycopg

        return psycopg
    except ImportError:
        return pytest.importorskip("psycopg2", reason="neither psycopg nor psycopg2 is installed")


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A URL whose search_path is a fresh schema, dropped after the test."""
    driver = pg_driver()
    try:
        admin = driver.connect(PG_URL, connect_timeout=3)
    except driver.OperationalError as exc:
        reason = f"PostgreSQL is not reachable at {PG_URL}: {str(exc).splitlines()[0]}"
        if os.environ.get("CI"):
            pytest.fail(reason)  # CI machines run PostgreSQL: never hide that mode there
        pytest.skip(reason)
    admin.autocommit = True
    schema = f"handoff_test_{uuid.uuid4().hex[:12]}"
    admin.cursor().execute(f'CREATE SCHEMA "{schema}"')
    try:
        sep = "&" if "?" in PG_URL else "?"
        yield f"{PG_URL}{sep}options=-csearch_path%3D{schema}"
    finally:
        admin.cursor().execute(f'DROP SCHEMA "{schema}" CASCADE')
        admin.close()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'not-yet' / 'handoff.db'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def clock() -> Clock:
    return Clock()
