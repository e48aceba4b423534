"""Pieces shared by the evaluation scripts (make eval, make eval-safety)."""

from __future__ import annotations


def half(items: list[dict], which: str) -> list[dict]:
    """``tune``: the even-numbered items (0, 2, ...), on which anything may be fitted; ``held``: the odd ones."""
    if which == "all":
        return items
    keep = 0 if which == "tune" else 1
    return [item for n, item in enumerate(items) if n % 2 == keep]


def print_checks(title: str, checks: dict[str, bool], failed: str = "FAIL") -> None:
    """A heading and one line per check: OK, or the word for a failed one."""
    print(title)
    for name, ok in checks.items():
        print(f"  {'OK  ' if ok else failed:<4} {name}")
