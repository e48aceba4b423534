"""Starting a real stack in a test fixture: on failure, stop it and show the end of each process's log."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from helpline.stack import Stack


def start_or_show_logs(stack: Stack, log_dir: Path, cleanup: Callable[[], None] | None = None,
                       tail: int = 4000) -> None:
    try:
        stack.start_all(timeout=300)
    except Exception:
        stack.stop_all()
        for log in sorted(log_dir.glob("*.log")):
            print(f"----- {log.name} -----\n{log.read_text(errors='replace')[-tail:]}")
        if cleanup is not None:
            cleanup()
        raise
