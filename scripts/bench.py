"""`make bench`: latency, throughput, memory, cold start, scale-out and index size (see scripts/bench/main.py).

    .venvs/actions/bin/python scripts/bench.py [--duration 30] [--sustain 60] [--skip-scaled] [--skip-index]

Needs the set-up project (`make setup`); the scaled comparison also needs PostgreSQL and Redis
on 127.0.0.1 and nginx (docs/deployment.md). Not part of `make test`.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scripts.bench.main import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
