"""The staff desk under a ticket flood: queue page and ``/health`` latency with 1,000 open tickets.

Starts the real handoff service (``python -m helpline.handoff``, SQLite in a temporary folder),
opens 1,000 tickets through the real store from 1,000 sender ids with 4,096-character
adversarial texts (the worst cases of the old masking patterns), logs a supervisor in and times
the queue page, then ``/health`` while queue pages render. The same bound is a test
(``tests/security/test_flood_and_login.py``); this prints the numbers. Run on its own with
``python -m scripts.bench.desk_bench``.
"""

from __future__ import annotations

import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from helpline.handoff.store import HandoffStore
from helpline.settings import PROJECT_ROOT

TICKETS = 1000
TEXTS = ("1" * 4096, "a@" * 2048, "a." * 2048, "ngõ 12 1" + " " * 4087 + "x")
USER = ("bench-giamsat", "Ban-truc-do-tai-ca-dem-31")


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _login(base: str) -> httpx.Client:
    client = httpx.Client(base_url=base, timeout=60, follow_redirects=False)
    token = re.search(r'name="login_token" value="([^"]+)"', client.get("/console/login").text)
    assert token, "no login form"
    response = client.post("/console/login", data={"login_token": token.group(1), "username": USER[0],
                                                   "password": USER[1], "next": "/console/"})
    assert response.status_code == 303, f"login failed: HTTP {response.status_code}"
    return client


def run(tickets: int = TICKETS) -> dict[str, Any]:
    """Print and return the queue-page and ``/health`` latencies (ms) with ``tickets`` open tickets."""
    with tempfile.TemporaryDirectory(prefix="helpline-desk-bench-") as name:
        folder = Path(name)
        db_url = f"sqlite:///{folder / 'handoff.db'}"
        port = _port()
        env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "HELPLINE_TRUSTED_PROXIES"}}
        env.update(PYTHONPATH=str(PROJECT_ROOT), HELPLINE_CONFIG="/nonexistent.yml", HELPLINE_DATA_DIR=str(folder),
                   DATABASE_URL=db_url, HELPLINE_HANDOFF_HOST="127.0.0.1", HELPLINE_HANDOFF_PORT=str(port),
                   HELPLINE_STAFF_TOKEN=uuid.uuid4().hex, RASA_TOKEN=uuid.uuid4().hex,
                   HELPLINE_RASA_URL="http://127.0.0.1:9", HELPLINE_LOG_LEVEL="warning")
        made = subprocess.run([sys.executable, "-m", "helpline.handoff.staff", "add", "--username", USER[0],
                               "--role", "supervisor"], input=USER[1] + "\n", text=True, capture_output=True,
                              env=env, cwd=PROJECT_ROOT, timeout=120)
        assert made.returncode == 0, made.stderr
        store = HandoffStore.from_url(db_url)
        start = time.perf_counter()
        for n in range(tickets):
            store.open_ticket("rest", f"flood-{n}", "immediate", ["intent:emergency"], [("user", TEXTS[n % 4])])
        opened = time.perf_counter() - start
        base = f"http://127.0.0.1:{port}"
        with (folder / "handoff.log").open("w") as log:
            proc = subprocess.Popen([sys.executable, "-m", "helpline.handoff"], env=env, cwd=PROJECT_ROOT,
                                    stdout=log, stderr=subprocess.STDOUT)
            try:
                for _ in range(300):
                    try:
                        if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                            break
                    except httpx.HTTPError:
                        time.sleep(0.2)
                client = _login(base)
                queue = []
                for _ in range(9):
                    t0 = time.perf_counter()
                    client.get("/console/").raise_for_status()
                    queue.append((time.perf_counter() - t0) * 1000)
                stop = threading.Event()
                renders = [0]

                def render() -> None:
                    while not stop.is_set():  # queue pages, one after another, while /health is timed
                        client.get("/console/", params={"status": "all", "page": str(renders[0] % 10 + 1)})
                        renders[0] += 1

                worker = threading.Thread(target=render)
                worker.start()
                health = []
                with httpx.Client(base_url=base, timeout=30) as probe:
                    for _ in range(100):
                        t0 = time.perf_counter()
                        probe.get("/health")
                        health.append((time.perf_counter() - t0) * 1000)
                stop.set()
                worker.join()
            finally:
                proc.terminate()
                proc.wait(timeout=15)
    out = {"queue_p50": statistics.median(queue), "queue_max": max(queue),
           "health_p50": statistics.median(health) if health else 0.0, "health_max": max(health, default=0.0)}
    print(f"\nStaff desk with {tickets:,} open tickets (4,096-character adversarial texts; opened in {opened:.1f} s)")
    print(f"  queue page: p50 {out['queue_p50']:.0f} ms, max {out['queue_max']:.0f} ms (target p50 < 200 ms)")
    print(f"  /health while queue pages render: p50 {out['health_p50']:.0f} ms, max {out['health_max']:.0f} ms "
          f"({len(health)} requests, {renders[0]} queue pages meanwhile)")
    return out


if __name__ == "__main__":
    run()
