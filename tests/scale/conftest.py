"""The scaled stack for real: 2 Rasa replicas, 2 action servers, nginx, PostgreSQL, Redis.

Each session gets its own PostgreSQL databases (dropped afterwards) and its own Redis key
prefix, and the Zalo channel is enabled against a local fake so that both replicas run an
outbox worker on the shared outbox.
"""

from __future__ import annotations

import os
import shutil
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from helpline.stack import RASA_MODEL
from helpline.stack_scaled import ScaledPorts, ScaledStack, drop_databases
from tests.fakes.zalo import FakeZalo
from tests.stacks import STACK_SECRETS, start_or_show_logs

REDIS_DB = "3"  # a dedicated Redis database for tests


def _free_ports(n: int) -> list[int]:
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    ports = [int(s.getsockname()[1]) for s in socks]
    for s in socks:
        s.close()
    return ports


def _reachable(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def zalo() -> Iterator[FakeZalo]:
    fake = FakeZalo()
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture(scope="session")
def scaled(tmp_path_factory: pytest.TempPathFactory, zalo: FakeZalo) -> Iterator[ScaledStack]:
    if not RASA_MODEL.is_file():
        pytest.fail(f"no trained Rasa model at {RASA_MODEL}: run `make setup`")
    missing = [name for name, port in (("PostgreSQL", 5432), ("Redis", 6379)) if not _reachable(port)]
    if not (shutil.which("nginx") or Path("/usr/sbin/nginx").is_file()):
        missing.append("nginx")
    if missing:
        reason = f"scaled mode needs {', '.join(missing)} on this machine"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    tag = uuid.uuid4().hex[:10]
    env = {k: v for k, v in os.environ.items()
           if k not in STACK_SECRETS and not k.startswith("HELPLINE_PG_")
           and not k.startswith("HELPLINE_REDIS_")}
    env.update(zalo.env(), HELPLINE_PG_DB=f"helpline_scale_{tag}", HELPLINE_TRACKER_DB=f"helpline_scale_{tag}_tracker",
               HELPLINE_REDIS_DB=REDIS_DB, HELPLINE_REDIS_PREFIX=f"scale{tag}",
               # The tests speak REST through nginx from 127.0.0.1 (off behind a proxy unless enabled).
               HELPLINE_REST_ENABLED="1", HELPLINE_RATE_LIMIT_NEW_IP="off")
    lb, alb, handoff, r1, r2, a1, a2, api = _free_ports(8)
    ports = ScaledPorts(rasa=lb, actions=alb, handoff=handoff, rasa_replicas=(r1, r2), actions_replicas=(a1, a2),
                        rasa_api=api)
    log_dir = tmp_path_factory.mktemp("scale-logs")
    stack = ScaledStack(tmp_path_factory.mktemp("scale-data"), ports, log_dir=log_dir, env=env)
    start_or_show_logs(stack, log_dir, cleanup=lambda: drop_databases(stack.env))
    yield stack
    stack.stop_all()
    drop_databases(stack.env)
