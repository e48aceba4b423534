"""`make run`: start the action server, the handoff service and Rasa; Ctrl-C stops all."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from helpline.settings import Settings  # noqa: E402
from helpline.stack import run_foreground  # noqa: E402

if __name__ == "__main__":
    sys.exit(run_foreground(Settings.from_env().data_dir))
