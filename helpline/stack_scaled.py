"""Scaled mode on one machine: Rasa and action-server replicas behind nginx, shared state in PostgreSQL and Redis.

``make run-scaled`` (``scripts/run_scaled.py``) and ``tests/scale`` use it; the single-machine
mode (:mod:`helpline.stack`, ``make run``) is unchanged. The processes are the ones a production
deployment runs, one per container (docs/deployment.md)::

    client ─▶ nginx :5005 ─┬─▶ rasa-1 :5006 ─┐          tracker store: PostgreSQL
   /webhooks/*, /console/* ├─▶ rasa-2 :5007 ─┤          lock store:    Redis
                           └─▶ handoff :5080 (console)  ▼
              nginx :5055 ─┬─▶ actions-1 :5056          tickets, outbox, channel state:
                           └─▶ actions-2 :5057          PostgreSQL (DATABASE_URL)
    handoff ─▶ nginx :5004 ─▶ rasa-1, rasa-2 (Rasa's HTTP API, internal only)

nginx :5005 publishes only the webhooks and the console; Rasa's HTTP API has its own internal
listener (:5004) for the handoff service.

The nginx configuration is written from a template into the data folder at start and nginx
runs in the foreground as a child process, so no root paths are needed besides the binary.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlsplit

from helpline.settings import PROJECT_ROOT
from helpline.stack import ACTIONS_VENV, RASA_MODEL, RASA_VENV, Ports, Service, Stack, stack_environment

ENDPOINTS = "bot/endpoints.scaled.yml"
NGINX_TEMPLATE = PROJECT_ROOT / "deploy" / "nginx.conf.template"

# Local defaults for what production sets in the environment (docs/deployment.md).
SCALED_DEFAULTS: dict[str, str] = {
    "HELPLINE_PG_HOST": "127.0.0.1",
    "HELPLINE_PG_PORT": "5432",
    "HELPLINE_PG_USER": "postgres",
    "HELPLINE_PG_PASSWORD": "",
    "HELPLINE_PG_DB": "helpline",
    "HELPLINE_TRACKER_DB": "helpline_tracker",
    "HELPLINE_REDIS_HOST": "127.0.0.1",
    "HELPLINE_REDIS_PORT": "6379",
    "HELPLINE_REDIS_DB": "1",
    "HELPLINE_REDIS_PASSWORD": "",
    "HELPLINE_REDIS_PREFIX": "helpline",
    # nginx appends the client's address to X-Forwarded-For; Sanic takes that last entry as the
    # client, so per-address rate limits see people, not the load balancer (a client cannot spoof it).
    "SANIC_PROXIES_COUNT": "1",
}


@dataclass
class ScaledPorts:
    """``rasa``/``actions`` are the load balancer's ports (what clients and Rasa call)."""

    rasa: int = 5005
    actions: int = 5055
    handoff: int = 5080
    rasa_replicas: tuple[int, ...] = (5006, 5007)
    actions_replicas: tuple[int, ...] = (5056, 5057)
    rasa_api: int = 5004  # nginx's internal listener for Rasa's HTTP API (the handoff service calls it)

    @classmethod
    def from_env(cls, env: Mapping[str, str], replicas: int = 2) -> ScaledPorts:
        lb = int(env.get("HELPLINE_RASA_PORT", 5005))
        alb = int(env.get("HELPLINE_ACTIONS_PORT", 5055))
        return cls(rasa=lb, actions=alb, handoff=int(env.get("HELPLINE_HANDOFF_PORT", 5080)),
                   rasa_replicas=tuple(lb + 1 + i for i in range(replicas)),
                   actions_replicas=tuple(alb + 1 + i for i in range(replicas)),
                   rasa_api=int(env.get("HELPLINE_RASA_API_PORT", lb - 1)))


def nginx_binary() -> str:
    found = os.environ.get("HELPLINE_NGINX") or shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(found).is_file():
        raise RuntimeError("nginx not found: apt-get install nginx-light (or set HELPLINE_NGINX)")
    return found


def _upstream(ports: tuple[int, ...]) -> str:
    return "\n".join(f"    server 127.0.0.1:{p} max_fails=2 fail_timeout=5s;" for p in ports)


def render_nginx_conf(ports: ScaledPorts, folder: Path, template: Path = NGINX_TEMPLATE) -> Path:
    """Write nginx.conf for these ports into ``folder`` (with nginx's temp folders) and return its path."""
    folder.mkdir(parents=True, exist_ok=True)
    for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (folder / sub).mkdir(exist_ok=True)
    text = template.read_text(encoding="utf-8")
    values = {
        "DIR": str(folder),
        "RASA_PORT": str(ports.rasa),
        "RASA_API_PORT": str(ports.rasa_api),
        "ACTIONS_PORT": str(ports.actions),
        "HANDOFF_PORT": str(ports.handoff),
        "RASA_SERVERS": _upstream(ports.rasa_replicas),
        "ACTIONS_SERVERS": _upstream(ports.actions_replicas),
    }
    for key, value in values.items():
        text = text.replace("{{" + key + "}}", value)
    conf = folder / "nginx.conf"
    conf.write_text(text, encoding="utf-8")
    return conf


def postgres_url(env: Mapping[str, str], database: str) -> str:
    user = quote(env["HELPLINE_PG_USER"], safe="")
    password = env.get("HELPLINE_PG_PASSWORD", "")
    auth = f"{user}:{quote(password, safe='')}" if password else user
    return f"postgresql://{auth}@{env['HELPLINE_PG_HOST']}:{env['HELPLINE_PG_PORT']}/{database}"


def ensure_databases(env: Mapping[str, str]) -> None:
    """Create the tickets and tracker databases if they do not exist (production provisions them)."""
    import psycopg

    wanted = {urlsplit(env["DATABASE_URL"]).path.lstrip("/"), env["HELPLINE_TRACKER_DB"]}
    with psycopg.connect(postgres_url(env, "postgres"), autocommit=True, connect_timeout=5) as conn:
        for name in sorted(wanted):
            if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is None:
                conn.execute(f'CREATE DATABASE "{name}"')


def drop_databases(env: Mapping[str, str]) -> None:
    """Drop the databases :func:`ensure_databases` made (tests and benchmarks)."""
    import psycopg

    names = {urlsplit(env["DATABASE_URL"]).path.lstrip("/"), env["HELPLINE_TRACKER_DB"]}
    with psycopg.connect(postgres_url(env, "postgres"), autocommit=True, connect_timeout=5) as conn:
        for name in sorted(names):
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def scaled_environment(data_dir: Path, ports: ScaledPorts, base: Mapping[str, str] | None = None) -> dict[str, str]:
    source = dict(os.environ if base is None else base)
    for key, value in SCALED_DEFAULTS.items():
        source.setdefault(key, value)
    source.setdefault("DATABASE_URL", postgres_url(source, source["HELPLINE_PG_DB"]))
    # The single-machine helper sets tokens, the data folder and the URLs of the load balancers.
    env = stack_environment(data_dir, Ports(rasa=ports.rasa, actions=ports.actions, handoff=ports.handoff), source)
    # The handoff service reaches Rasa's HTTP API through nginx's internal listener, not the public one.
    env["HELPLINE_RASA_URL"] = f"http://127.0.0.1:{ports.rasa_api}"
    # nginx on this machine fronts the console: believe its X-Forwarded-For, or every staff member would
    # share one address (and one login limit) with whoever guesses passwords.
    env.setdefault("HELPLINE_TRUSTED_PROXIES", "127.0.0.1")
    if not env["DATABASE_URL"].startswith(("postgresql://", "postgres://")):
        raise RuntimeError("scaled mode keeps tickets and the outbox in PostgreSQL: DATABASE_URL must be postgresql://")
    return env


def scaled_services(ports: ScaledPorts, env: Mapping[str, str], nginx_conf: Path,
                    model: Path = RASA_MODEL) -> list[Service]:
    # `rasa run` with the measured fix of bot/rasa_server.py (HELPLINE_RASA_PATCHES=0: plain Rasa);
    # the API token comes from RASA_TOKEN in the environment, never the command line.
    rasa = [str(RASA_VENV / "bin" / "python"), "-m", "bot.rasa_server"]
    py = str(ACTIONS_VENV / "bin" / "python")
    out = [Service(f"actions-{i}", [py, "-m", "actions.server", "--port", str(port)],
                   f"http://127.0.0.1:{port}/health") for i, port in enumerate(ports.actions_replicas, 1)]
    out.append(Service("handoff", [py, "-m", "helpline.handoff"], f"http://127.0.0.1:{ports.handoff}/health"))
    out += [
        Service(f"rasa-{i}", [*rasa, "run", "--model", str(model), "--endpoints", ENDPOINTS,
                              "--credentials", "bot/credentials.yml", "--port", str(port), "--interface", "127.0.0.1",
                              "--enable-api"],
                f"http://127.0.0.1:{port}/webhooks/rest/")
        for i, port in enumerate(ports.rasa_replicas, 1)
    ]
    folder = str(nginx_conf.parent)
    out.append(Service("nginx", [nginx_binary(), "-p", folder, "-c", str(nginx_conf), "-e", "stderr"],
                       f"http://127.0.0.1:{ports.rasa}/nginx-health"))
    return out


class ScaledStack(Stack):
    """The same start/stop/health machinery as :class:`Stack`, over the replicated processes."""

    def __init__(self, data_dir: Path, ports: ScaledPorts | None = None, log: Callable[[str], None] = print,
                 log_dir: Path | None = None, env: Mapping[str, str] | None = None) -> None:
        self.scaled_ports = ports or ScaledPorts()
        self.ports = Ports(rasa=self.scaled_ports.rasa, actions=self.scaled_ports.actions,
                           handoff=self.scaled_ports.handoff)
        self.env = scaled_environment(data_dir, self.scaled_ports, env)
        conf = render_nginx_conf(self.scaled_ports, data_dir / "nginx")
        self.services = {s.name: s for s in scaled_services(self.scaled_ports, self.env, conf)}
        self.log = log
        self.log_dir = log_dir
        self._pumps = []

    def replica_urls(self) -> list[str]:
        """Each Rasa replica's own address (bypassing nginx)."""
        return [f"http://127.0.0.1:{p}" for p in self.scaled_ports.rasa_replicas]

    def start_all(self, timeout: float = 300) -> None:
        ensure_databases(self.env)
        super().start_all(timeout)
