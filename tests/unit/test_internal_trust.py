"""Small pieces of the internal-trust work, without a stack (the stack tests are tests/security/test_internal.py)."""

from __future__ import annotations

import stat
from pathlib import Path

from bot.rasa_server import with_loopback_default, with_token_from_env
from helpline.db import Database
from helpline.stack import Ports, stack_environment
from helpline.text import mask_id


def test_the_rasa_token_is_added_in_the_process_not_on_the_command_line() -> None:
    argv = ["rasa", "run", "--enable-api"]
    dash = "-starts-with-a-dash"
    assert with_token_from_env(argv, {"RASA_TOKEN": dash}) == [*argv, f"--auth-token={dash}"]
    assert with_token_from_env(argv, {}) == argv
    given = [*argv, "--auth-token", "explicit"]
    assert with_token_from_env(given, {"RASA_TOKEN": "env"}) == given
    assert with_token_from_env(["rasa", "train"], {"RASA_TOKEN": "env"}) == ["rasa", "train"]


def test_rasa_listens_on_loopback_unless_told_otherwise() -> None:
    assert with_loopback_default(["rasa", "run"], {}) == ["rasa", "run", "--interface=127.0.0.1"]
    assert with_loopback_default(["rasa", "run"], {"HELPLINE_RASA_HOST": "10.0.0.11"})[-1] == "--interface=10.0.0.11"
    assert with_loopback_default(["rasa", "run", "-i", "10.0.0.5"], {}) == ["rasa", "run", "-i", "10.0.0.5"]


def test_conversation_keys_are_masked_in_the_audit_log() -> None:
    assert mask_id("telegram:123456789") == "telegram:12***89"
    assert mask_id("victim-0123456789") == "vi***89"
    assert mask_id("u1") == "***" and mask_id("rest:abc") == "rest:***"


def test_sqlite_files_and_local_secrets_are_private(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = stack_environment(data, Ports(), base={})
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    for name in ("rasa_token", "staff_token", "action_secret"):
        assert stat.S_IMODE((data / name).stat().st_mode) == 0o600
    assert env["HELPLINE_ACTION_SECRET"] == (data / "action_secret").read_text()
    assert stack_environment(data, Ports(), base={})["HELPLINE_ACTION_SECRET"] == env["HELPLINE_ACTION_SECRET"]

    db = Database.from_url(f"sqlite:///{data / 'sub' / 'x.db'}", schema=("CREATE TABLE t (id INTEGER)",))
    with db.transaction("write") as q:
        q.run("INSERT INTO t VALUES (1)")
    files = sorted((data / "sub").iterdir())
    assert files and all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in files), [
        (p.name, oct(p.stat().st_mode)) for p in files]
    loose = data / "old.db"
    loose.write_bytes(b"")
    loose.chmod(0o644)
    with Database.from_url(f"sqlite:///{loose}").transaction("read", write=False) as q:
        q.one("SELECT 1")
    assert stat.S_IMODE(loose.stat().st_mode) == 0o600, "an existing database is tightened"
