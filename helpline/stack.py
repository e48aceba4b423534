"""Start, watch and stop the assistant's processes on one machine.

Used by ``make run`` (foreground until Ctrl-C) and by the integration tests,
which need to stop one service in the middle of a conversation. Standard
library only: it runs before anything else is known to work.

Every secret reaches the processes through their environment, never their command line
(which ``ps`` shows to every local user): the Rasa API token (``RASA_TOKEN``), the staff API
token and the secret Rasa sends to the action server (``HELPLINE_ACTION_SECRET``). Unless set,
each is made once and kept in the data folder (0700, files 0600). Every port listens on
127.0.0.1, and the processes create their files private to their user (umask 077).
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from helpline.settings import PROJECT_ROOT

RASA_VENV = PROJECT_ROOT / ".venvs" / "rasa"
ACTIONS_VENV = PROJECT_ROOT / ".venvs" / "actions"
RASA_MODEL = PROJECT_ROOT / "models" / "rasa" / "helpline.tar.gz"


@dataclass
class Ports:
    rasa: int = 5005
    actions: int = 5055
    handoff: int = 5080

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Ports:
        return cls(
            rasa=int(env.get("HELPLINE_RASA_PORT", 5005)),
            actions=int(env.get("HELPLINE_ACTIONS_PORT", 5055)),
            handoff=int(env.get("HELPLINE_HANDOFF_PORT", 5080)),
        )


@dataclass
class Service:
    name: str
    command: list[str]
    health_url: str
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None


# Files the started processes create (SQLite databases, spool files) are readable by their owner only.
PROCESS_UMASK = 0o077


def _local_secret(data_dir: Path, name: str) -> str:
    """A per-installation secret kept in the data folder (mode 0600 from the start), made on first use."""
    path = data_dir / name
    if path.is_file():
        if path.stat().st_mode & 0o077:
            path.chmod(0o600)
        return path.read_text().strip()
    token = secrets.token_urlsafe(24)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(token)
    return token


def private_data_dir(data_dir: Path) -> None:
    """The data folder holds transcripts and secrets: only its owner may enter it."""
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    if data_dir.stat().st_mode & 0o077:
        data_dir.chmod(0o700)


def stack_environment(data_dir: Path, ports: Ports, base: Mapping[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ if base is None else base)
    private_data_dir(data_dir)
    for name, file in (("HELPLINE_STAFF_TOKEN", "staff_token"), ("RASA_TOKEN", "rasa_token"),
                       ("HELPLINE_ACTION_SECRET", "action_secret")):
        if not env.get(name):
            env[name] = _local_secret(data_dir, file)
    env.update(
        HELPLINE_DATA_DIR=str(data_dir),
        HELPLINE_ACTION_URL=f"http://127.0.0.1:{ports.actions}/webhook",
        HELPLINE_ACTIONS_PORT=str(ports.actions),
        HELPLINE_HANDOFF_PORT=str(ports.handoff),
        HELPLINE_RASA_URL=f"http://127.0.0.1:{ports.rasa}",
        RASA_TELEMETRY_ENABLED="false",
        PYTHONPATH=str(PROJECT_ROOT) + os.pathsep + env.get("PYTHONPATH", ""),
        PYTHONUNBUFFERED="1",
    )
    # One TensorFlow thread per pool: Rasa still loads TensorFlow, and on 2 cores its extra
    # threads cost more in synchronisation than they gain (docs/performance.md).
    env.setdefault("TF_INTRA_OP_PARALLELISM_THREADS", "1")
    env.setdefault("TF_INTER_OP_PARALLELISM_THREADS", "1")
    return env


def services(ports: Ports, env: Mapping[str, str], model: Path = RASA_MODEL) -> list[Service]:
    # `rasa run` with the measured fix of bot/rasa_server.py (HELPLINE_RASA_PATCHES=0: plain Rasa);
    # it reads the API token from RASA_TOKEN (never --auth-token: `ps` would show it).
    rasa = [str(RASA_VENV / "bin" / "python"), "-m", "bot.rasa_server"]
    py = str(ACTIONS_VENV / "bin" / "python")
    return [
        Service("actions", [py, "-m", "actions.server", "--port", str(ports.actions)],
                f"http://127.0.0.1:{ports.actions}/health"),
        Service("handoff", [py, "-m", "helpline.handoff"], f"http://127.0.0.1:{ports.handoff}/health"),
        Service(
            "rasa",
            [*rasa, "run", "--model", str(model), "--endpoints", "bot/endpoints.yml",
             "--credentials", "bot/credentials.yml", "--port", str(ports.rasa), "--interface", "127.0.0.1",
             "--enable-api"],
            f"http://127.0.0.1:{ports.rasa}/webhooks/rest/",
        ),
    ]


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:  # noqa: S310 - loopback health check
            return 200 <= resp.status < 300
    except (urllib.error.URLError, OSError):
        return False


class Stack:
    """The processes of one running assistant."""

    def __init__(self, data_dir: Path, ports: Ports | None = None, log: Callable[[str], None] = print,
                 log_dir: Path | None = None, env: Mapping[str, str] | None = None) -> None:
        self.ports = ports or Ports()
        self.env = stack_environment(data_dir, self.ports, env)
        self.services = {s.name: s for s in services(self.ports, self.env)}
        self.log = log
        self.log_dir = log_dir
        self._pumps: list[threading.Thread] = []

    def start(self, name: str) -> None:
        service = self.services[name]
        if service.running:
            return
        out = subprocess.PIPE if self.log_dir is None else open(  # noqa: SIM115
            self.log_dir / f"{name}.log", "ab", opener=lambda path, flags: os.open(path, flags, 0o600))
        service.process = subprocess.Popen(  # noqa: S603
            service.command, cwd=PROJECT_ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True, umask=PROCESS_UMASK,
        )
        if self.log_dir is None:
            pump = threading.Thread(target=self._pump, args=(service,), daemon=True)
            pump.start()
            self._pumps.append(pump)

    def _pump(self, service: Service) -> None:
        assert service.process is not None and service.process.stdout is not None
        for line in iter(service.process.stdout.readline, b""):
            self.log(f"[{service.name:7}] {line.decode(errors='replace').rstrip()}")

    def wait_healthy(self, names: list[str] | None = None, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        pending = list(names or self.services)
        while pending:
            for name in list(pending):
                service = self.services[name]
                if not service.running:
                    raise RuntimeError(f"{name} exited with code {service.process and service.process.poll()}")
                if _healthy(service.health_url):
                    self.log(f"[stack  ] {name} is ready ({service.health_url})")
                    pending.remove(name)
            if pending and time.monotonic() > deadline:
                raise TimeoutError(f"not ready after {timeout:.0f} s: {', '.join(pending)}")
            time.sleep(0.5)

    def stop(self, name: str, timeout: float = 15) -> None:
        service = self.services[name]
        if not service.running or service.process is None:
            return
        os.killpg(service.process.pid, signal.SIGTERM)
        try:
            service.process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(service.process.pid, signal.SIGKILL)
            service.process.wait()

    def start_all(self, timeout: float = 180) -> None:
        for name in self.services:
            self.start(name)
        self.wait_healthy(timeout=timeout)

    def stop_all(self) -> None:
        for name in reversed(list(self.services)):
            self.stop(name)

    def first_exited(self) -> Service | None:
        return next((s for s in self.services.values() if s.process is not None and not s.running), None)


def run_foreground(data_dir: Path, stack: Stack | None = None) -> int:
    """Run until Ctrl-C or until one service dies; stop everything cleanly either way."""
    stack = stack or Stack(data_dir, Ports.from_env(os.environ))
    stopping = threading.Event()

    def _on_signal(signum: int, _frame: object) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    code = 0
    try:
        stack.start_all()
        p = stack.ports
        print(f"\nReady. REST channel: http://127.0.0.1:{p.rasa}/webhooks/rest/webhook"
              f"\n       Ticket API:   http://127.0.0.1:{p.handoff}/api/tickets "
              f"(token in {data_dir / 'staff_token'})"
              f"\n       Staff console: http://127.0.0.1:{p.handoff}/console/ (accounts: "
              "python -m helpline.handoff.staff add --username NAME --role agent|supervisor)"
              "\n       Chat in another terminal with `make chat`. Ctrl-C stops everything.\n", flush=True)
        while not stopping.wait(1.0):
            dead = stack.first_exited()
            if dead is not None:
                print(f"[stack  ] {dead.name} stopped unexpectedly; shutting down", file=sys.stderr)
                code = 1
                break
    except (RuntimeError, TimeoutError) as exc:
        print(f"[stack  ] start failed: {exc}", file=sys.stderr)
        code = 1
    finally:
        print("[stack  ] stopping ...", flush=True)
        stack.stop_all()
        print("[stack  ] stopped.", flush=True)
    return code
