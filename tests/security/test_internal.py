"""Internal trust and hygiene, against the session's real stack (tests/stacks.py) and a real nginx.

- The action server obeys only Rasa: a forged tracker without the shared secret, or with a wrong
  one, deletes nothing and opens nothing; Rasa's own calls still work and what they change is audited.
- Errors return no internals; secrets never reach ``ps`` or the logs; data files are private.
- Every server closes a connection whose request never finishes arriving (slowloris).
- The reverse-proxy template publishes the webhooks and the console, never Rasa's HTTP API.
"""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from helpline import replies
from helpline.handoff import HandoffStore
from helpline.logmask import secrets_from_env
from helpline.settings import Settings
from helpline.stack import Stack
from helpline.stack_scaled import ScaledPorts, nginx_binary, render_nginx_conf
from tests.fakes.base import FakePlatform
from tests.fakes.webhooks import signed, text_event
from tests.stacks import Bot, free_port

SECRET_HEADER = "X-Helpline-Action-Secret"
EMERGENCY = "cứu tôi với, tôi bị nhốt ở campuchia, họ lấy mất hộ chiếu rồi"
DELETE_CONFIRM = "Bạn có chắc muốn xóa toàn bộ dữ liệu"
DEFAULTS = Settings()
# A connection whose headers (body) never finish must be gone by then: the deadline plus the
# servers' check interval (Sanic looks every few seconds) plus slack for a loaded 2-core machine.
HEADER_BOUND = DEFAULTS.header_timeout_seconds + 9
BODY_BOUND = DEFAULTS.body_timeout_seconds + 9


def _store(stack: Stack) -> HandoffStore:
    return HandoffStore.from_url(f"sqlite:///{Path(stack.env['HELPLINE_DATA_DIR']) / 'handoff.db'}")


def _actions(stack: Stack) -> str:
    return f"http://127.0.0.1:{stack.ports.actions}"


def _tracker(sender_id: str, channel: str) -> dict[str, Any]:
    """A tracker as Rasa posts it to the action server, for a conversation the attacker names."""
    return {"sender_id": sender_id, "slots": {}, "latest_message": {"text": "/affirm", "intent": {"name": "affirm"},
                                                                    "entities": []},
            "events": [{"event": "user", "text": "Tôi là nhân viên, ghi nhận giúp", "timestamp": time.time()},
                       {"event": "bot", "text": "Đã chuyển nhân viên", "timestamp": time.time()}],
            "paused": False, "followup_action": None, "active_loop": {}, "latest_action_name": "action_listen",
            "latest_input_channel": channel}


def _call(action: str, sender_id: str, channel: str = "rest") -> dict[str, Any]:
    return {"next_action": action, "sender_id": sender_id, "tracker": _tracker(sender_id, channel),
            "domain": {}, "version": "3.6.21"}


def _open_tickets(stack: Stack) -> list[Any]:
    return _store(stack).list_tickets("open", limit=1000)


def _victim_ticket(bot: Bot, stack: Stack) -> Any:
    """Someone in danger writes in: Rasa runs action_emergency, which opens their ticket."""
    before = {t.id for t in _open_tickets(stack)}
    reply = bot.text(f"victim-{uuid.uuid4().hex[:10]}", EMERGENCY)
    assert "111" in reply
    new = [t for t in _open_tickets(stack) if t.id not in before]
    assert len(new) == 1, f"the emergency opened {len(new)} tickets"
    return new[0]


def test_forged_action_calls_are_refused_and_change_nothing(stack: Stack, bot: Bot) -> None:
    victim = _victim_ticket(bot, stack)
    intruder = f"forged-{uuid.uuid4().hex[:10]}"
    calls = [_call("action_delete_my_data", victim.sender_id, victim.channel),
             _call("action_handoff", intruder, "telegram"), _call("action_emergency", intruder, "zalo")]
    for headers in ({}, {SECRET_HEADER: "not-the-secret"}, {SECRET_HEADER: stack.env["HELPLINE_ACTION_SECRET"][:-1]}):
        for call in calls:
            resp = httpx.post(f"{_actions(stack)}/webhook", json=call, headers=headers, timeout=30)
            assert resp.status_code == 401, (call["next_action"], resp.status_code)
            assert victim.sender_id not in resp.text and intruder not in resp.text, "nothing of the call comes back"
        listing = httpx.get(f"{_actions(stack)}/actions", headers=headers, timeout=30)
        assert listing.status_code == 401
    store = _store(stack)
    assert store.get(victim.id) is not None and store.get(victim.id).status == "open", "the victim's ticket is intact"
    assert not [t for t in _open_tickets(stack) if intruder in t.sender_id], "no forged ticket was opened"
    log = (stack.log_dir / "actions.log").read_text(errors="replace")  # type: ignore[operator]
    assert log.count("refused POST /webhook") >= 9 and "refused GET /actions" in log, "every refusal is logged"
    assert "not-the-secret" not in log and stack.env["HELPLINE_ACTION_SECRET"][:-1] not in log


def test_rasa_still_reaches_the_action_server_and_its_changes_are_audited(stack: Stack, bot: Bot) -> None:
    reply = bot.text(f"faq-{uuid.uuid4().hex[:8]}", "Tội mua bán người bị phạt tù bao nhiêu năm?")
    assert "Điều 150" in reply, "an FAQ answer needs the action server"

    ticket = _victim_ticket(bot, stack)
    entries = [e for e in _store(stack).audit_entries(ticket.id) if e.action.startswith("ticket_opened")]
    assert entries and entries[0].who == "actions", [e.action for e in _store(stack).audit_entries(ticket.id)]
    assert f"channel={ticket.channel}" in entries[0].action and "key=" in entries[0].action
    assert ticket.sender_id not in entries[0].action, "the audit log masks the conversation key"

    sender = f"forget-{uuid.uuid4().hex[:10]}"
    assert DELETE_CONFIRM in bot.text(sender, "xóa dữ liệu của tôi")
    assert replies.DATA_DELETED in bot.text(sender, "có")
    deleted = [e for e in _store(stack).audit_entries(None, limit=50) if e.action.startswith("delete_my_data")]
    assert deleted, "a deletion is in the audit log"
    assert all(sender not in e.action for e in deleted), "the audit log masks the conversation key"
    assert "via=action_delete_my_data" in deleted[0].action


def test_action_server_errors_show_no_internals(stack: Stack) -> None:
    marker = f"MARKER-{uuid.uuid4().hex}"
    broken = {"next_action": "action_answer_faq", "tracker": marker, "domain": {}, "version": "3.6.21"}
    resp = httpx.post(f"{_actions(stack)}/webhook", json=broken,
                      headers={SECRET_HEADER: stack.env["HELPLINE_ACTION_SECRET"]}, timeout=30)
    assert resp.status_code == 500
    for leak in (marker, "request_body", "Traceback", "TypeError", "string indices", "rasa_sdk"):
        assert leak not in resp.text, f"the 500 body shows {leak!r}: {resp.text[:200]}"


def test_data_folder_and_files_are_private(stack: Stack, bot: Bot) -> None:
    _victim_ticket(bot, stack)  # handoff.db, tracker.db and their WAL files all written
    data_dir = Path(stack.env["HELPLINE_DATA_DIR"])
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700, oct(data_dir.stat().st_mode)
    loose = []
    for folder in (data_dir, stack.log_dir):
        assert folder is not None
        for path in folder.rglob("*"):
            mode = stat.S_IMODE(path.stat().st_mode)
            if mode & 0o077:
                loose.append(f"{path.relative_to(folder)} {oct(mode)}")
    assert not loose, f"readable by other local users: {loose}"
    names = {p.name for p in data_dir.rglob("*")}
    assert {"tracker.db", "handoff.db", "rasa_token", "staff_token", "action_secret"} <= names, sorted(names)


def _secrets(stack: Stack) -> list[str]:
    found = secrets_from_env(stack.env)
    assert stack.env["RASA_TOKEN"] in found and stack.env["HELPLINE_ACTION_SECRET"] in found
    return sorted(found)


def test_no_secret_on_any_command_line_or_in_the_logs(stack: Stack, bot: Bot) -> None:
    bot.text(f"scan-{uuid.uuid4().hex[:8]}", "chào bạn")
    secrets = _secrets(stack)
    # -ww: the whole command line (piped, ps cuts it at 80 columns).
    ps = subprocess.run(["ps", "-ww", "-eo", "args"], capture_output=True, text=True, check=True, timeout=30).stdout
    assert "bot.rasa_server run" in ps and "--enable-api" in ps, "the scan sees the stack's full command lines"
    on_cmdline = [s[:4] + "…" for s in secrets if s in ps]
    assert not on_cmdline, f"visible in ps: {on_cmdline}"
    for log in sorted(stack.log_dir.glob("*.log")):  # type: ignore[union-attr]
        text = log.read_text(errors="replace")
        assert not [s for s in secrets if s in text], f"a secret is in {log.name}"


# -- slow clients ---------------------------------------------------------------------------------


def _closed_after(port: int, head: bytes, trickle: bytes, cap: float) -> float:
    """Send ``head``, then ``trickle`` every second; seconds until the server ends the connection."""
    start = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.settimeout(1.0)
        s.sendall(head)
        while time.monotonic() - start < cap:
            try:
                data = s.recv(4096)
                if not data:
                    return time.monotonic() - start  # closed (after an error response, or without one)
                continue  # a 408: wait for the close
            except TimeoutError:
                pass
            except OSError:
                return time.monotonic() - start
            try:
                s.sendall(trickle)
            except OSError:
                return time.monotonic() - start
    return float("inf")


def _slow_headers(path: str) -> tuple[bytes, bytes]:
    return f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n".encode(), b"X-Slow: 1\r\n"


def _slow_body(path: str) -> tuple[bytes, bytes]:
    head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            "Content-Length: 100000\r\n\r\n").encode()
    return head + b'{"sender": "', b"a"


def _measure(targets: dict[str, tuple[int, bytes, bytes, float]]) -> dict[str, float]:
    results: dict[str, float] = {}

    def run(name: str, port: int, head: bytes, trickle: bytes, cap: float) -> None:
        results[name] = _closed_after(port, head, trickle, cap)

    threads = [threading.Thread(target=run, args=(name, *t)) for name, t in targets.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_every_server_drops_a_request_that_never_finishes_arriving(stack: Stack) -> None:
    p = stack.ports
    paths = {"rasa": (p.rasa, "/webhooks/rest/webhook"), "actions": (p.actions, "/webhook"),
             "handoff": (p.handoff, "/console/login")}
    targets: dict[str, tuple[int, bytes, bytes, float]] = {}
    for name, (port, path) in paths.items():
        targets[f"{name} headers"] = (port, *_slow_headers(path), HEADER_BOUND + 15)
        targets[f"{name} body"] = (port, *_slow_body(path), BODY_BOUND + 15)
    results = _measure(targets)
    late = {name: round(seconds, 1) for name, seconds in results.items()
            if seconds > (HEADER_BOUND if name.endswith("headers") else BODY_BOUND)}
    assert not late, f"still connected after (s): {late}; all: {results}"
    for name, (port, _path) in paths.items():  # and the servers still serve everyone else
        assert httpx.get(f"http://127.0.0.1:{port}/health" if name != "rasa" else
                         f"http://127.0.0.1:{port}/webhooks/rest/", timeout=10).status_code == 200, name


# -- the reverse proxy ----------------------------------------------------------------------------


@pytest.fixture
def nginx(stack: Stack, tmp_path: Path) -> Iterator[ScaledPorts]:
    """The shipped template, rendered in front of the running stack's Rasa and handoff service."""
    try:
        binary = nginx_binary()
    except RuntimeError as exc:
        if os.environ.get("CI"):
            pytest.fail(str(exc))
        pytest.skip(str(exc))
    ports = ScaledPorts(rasa=free_port(), actions=free_port(), handoff=stack.ports.handoff,
                        rasa_replicas=(stack.ports.rasa,), actions_replicas=(stack.ports.actions,),
                        rasa_api=free_port())
    conf = render_nginx_conf(ports, tmp_path / "nginx")
    checked = subprocess.run([binary, "-t", "-p", str(conf.parent), "-c", str(conf), "-e", "stderr"],
                             capture_output=True, text=True, timeout=30)
    assert checked.returncode == 0, checked.stderr
    proc = subprocess.Popen([binary, "-p", str(conf.parent), "-c", str(conf), "-e", "stderr"],  # noqa: S603
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{ports.rasa}/nginx-health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, "nginx did not start"
            time.sleep(0.2)
        yield ports
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_reverse_proxy_publishes_only_the_webhooks_and_the_console(stack: Stack, nginx: ScaledPorts,
                                                                   platforms: dict[str, FakePlatform]) -> None:
    public = f"http://127.0.0.1:{nginx.rasa}"
    token = stack.env["RASA_TOKEN"]
    staff = stack.env["HELPLINE_STAFF_TOKEN"]
    sender = str(7_000_000_000 + uuid.uuid4().int % 1_000_000_000)
    with httpx.Client(timeout=60) as http:
        # Published: the platforms' webhooks and the staff console (with its static files).
        body, headers = signed("telegram", text_event("telegram", sender, str(uuid.uuid4().int % 10**9), "chào bạn"))
        assert http.post(f"{public}/webhooks/telegram/webhook", content=body, headers=headers).status_code == 200
        assert platforms["telegram"].wait_texts(sender, timeout=60), "the bot answered through the proxy"
        login = http.get(f"{public}/console/login")
        assert login.status_code == 200 and "login_token" in login.text
        css = [s for s in (Path(__file__).parents[2] / "helpline" / "console" / "static").iterdir() if s.is_file()]
        assert css and http.get(f"{public}/console/static/{css[0].name}").status_code == 200
        # Not published, even with the right tokens: Rasa's HTTP API and the staff API.
        hidden = [("GET", f"/conversations/{sender}/tracker?token={token}"), ("GET", f"/status?token={token}"),
                  ("GET", "/version"), ("GET", "/"), ("POST", f"/model/parse?token={token}"),
                  ("PUT", f"/model?token={token}"), ("POST", f"/conversations/{sender}/tracker/events?token={token}"),
                  ("GET", "/api/tickets"), ("GET", "/health")]
        for method, path in hidden:
            resp = http.request(method, f"{public}{path}", headers={"Authorization": f"Bearer {staff}"},
                                json={"text": "x"} if method != "GET" else None)
            assert resp.status_code == 404, (method, path, resp.status_code)
        # The internal listener is where the handoff service reaches Rasa's API.
        internal = http.get(f"http://127.0.0.1:{nginx.rasa_api}/conversations/{sender}/tracker",
                            params={"token": token})
        assert internal.status_code == 200 and internal.json()["sender_id"]
    results = _measure({"nginx headers": (nginx.rasa, *_slow_headers("/webhooks/rest/webhook"), HEADER_BOUND + 15)})
    assert results["nginx headers"] <= HEADER_BOUND, results
