"""Fuzzing with hypothesis: a fixed seed (reproducible in CI, no example database written), moderate example
counts, and a count of every generated case, printed at the end of the run.

``HELPLINE_FUZZ_SCALE=10`` multiplies the example counts for a longer local run.
"""

from __future__ import annotations

import os
from collections import Counter
from typing import Any

from hypothesis import HealthCheck, settings

CASES: Counter[str] = Counter()
OUTCOMES: dict[str, Counter[int]] = {}
SCALE = max(1, int(os.environ.get("HELPLINE_FUZZ_SCALE", "1")))


def examples(n: int) -> int:
    return n * SCALE


def record(target: str, status: int) -> None:
    """Count one generated case and its HTTP status."""
    CASES[target] += 1
    OUTCOMES.setdefault(target, Counter())[status] += 1


settings.register_profile(
    "helpline", derandomize=True, database=None, deadline=None, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                           HealthCheck.data_too_large, HealthCheck.filter_too_much],
)
settings.load_profile("helpline")


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not CASES:
        return
    terminalreporter.section("fuzz cases (hypothesis)")
    for target, count in sorted(CASES.items()):
        statuses = ", ".join(f"{s}×{n}" for s, n in sorted(OUTCOMES[target].items()))
        terminalreporter.write_line(f"{target:32} {count:5d} cases   statuses: {statuses}")
    terminalreporter.write_line(f"{'total':32} {sum(CASES.values()):5d} cases, no 5xx (else a test above failed)")
