"""`make run-scaled`: 2 Rasa replicas and 2 action servers behind nginx, PostgreSQL + Redis; Ctrl-C stops all.

Configuration comes from the environment only (docs/deployment.md); local defaults:
PostgreSQL at 127.0.0.1:5432 as user postgres (databases helpline, helpline_tracker, created if
missing), Redis at 127.0.0.1:6379 db 1. HELPLINE_REPLICAS sets the number of replicas (default 2).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from helpline.settings import Settings  # noqa: E402
from helpline.stack import run_foreground  # noqa: E402
from helpline.stack_scaled import ScaledPorts, ScaledStack  # noqa: E402

if __name__ == "__main__":
    data_dir = Settings.from_env().data_dir / "scaled"
    replicas = int(os.environ.get("HELPLINE_REPLICAS", "2"))
    stack = ScaledStack(data_dir, ScaledPorts.from_env(os.environ, replicas))
    sys.exit(run_foreground(data_dir, stack))
