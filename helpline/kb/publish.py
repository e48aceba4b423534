"""Publishing: rebuild the FAQ index in the background after an approved change.

The build runs as its own process (``python -m helpline.kb build``, the same command as
``make index``), so a crash or a validation failure cannot take the console down, and its output
lines are the progress the editor sees. :func:`helpline.kb.index.build_index` only moves
``current`` after the new folder loaded, so a failed build leaves the working index serving; the
running action servers pick up a new ``current`` by themselves (``FaqRetriever.maybe_reload``).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from helpline.handoff.models import utc_now

logger = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parents[2]
KEEP_LINES = 40
BUILD_TIMEOUT_SECONDS = 3600


@dataclass
class BuildStatus:
    state: str = "idle"  # idle | running | ok | failed
    reason: str = ""  # who asked for it (e.g. "bản nháp #3")
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    lines: deque[str] = field(default_factory=lambda: deque(maxlen=KEEP_LINES))
    error: str = ""
    queued: bool = False

    @property
    def last_line(self) -> str:
        return self.lines[-1] if self.lines else ""


class Publisher:
    """One index build at a time; a request during a build runs once more after it."""

    def __init__(self, env: Mapping[str, str] | None = None, command: list[str] | None = None,
                 on_done: Callable[[BuildStatus], None] | None = None) -> None:
        self._env = {**os.environ, **(env or {})}
        self._env.setdefault("PYTHONPATH", str(PROJECT_ROOT))
        self._command = command or [sys.executable, "-m", "helpline.kb", "build"]
        self._lock = threading.Lock()
        self._on_done = on_done
        self.status = BuildStatus()

    def request(self, reason: str) -> None:
        with self._lock:
            if self.status.state == "running":
                self.status.queued = True
                return
            self.status = BuildStatus("running", reason, utc_now())
        threading.Thread(target=self._run, name="kb-publish", daemon=True).start()

    def wait(self, timeout: float) -> BuildStatus:
        """For tests and the CLI: block until no build runs (or the timeout)."""
        done = threading.Event()

        def poll() -> None:
            while self.status.state == "running" or self.status.queued:
                if done.wait(0.2):
                    return
            done.set()

        thread = threading.Thread(target=poll, daemon=True)
        thread.start()
        thread.join(timeout)
        done.set()
        return self.status

    def _run(self) -> None:
        status = self.status
        try:
            proc = subprocess.Popen(self._command, cwd=PROJECT_ROOT, env=self._env, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, text=True, bufsize=1)
            assert proc.stdout is not None
            for raw in proc.stdout:
                # tqdm redraws with carriage returns: keep the newest state of the line.
                line = raw.rstrip("\n").split("\r")[-1].strip()
                if line:
                    status.lines.append(line[:300])
            code = proc.wait(BUILD_TIMEOUT_SECONDS)
            if code == 0:
                status.state = "ok"
            else:
                status.state = "failed"
                errors = [ln for ln in status.lines if ln.startswith(("error", "- ", "Traceback"))]
                status.error = "\n".join((errors or list(status.lines))[-12:])
        except Exception as exc:  # the console must survive any failure of the build
            status.state, status.error = "failed", f"{type(exc).__name__}: {exc}"
        status.finished_at = utc_now()
        if self._on_done is not None:
            try:
                self._on_done(status)
            except Exception:
                logger.exception("after the index build")
        with self._lock:
            again = status.queued
            status.queued = False
        if again:
            self.request(status.reason)
