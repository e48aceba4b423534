"""Summarise a py-spy raw profile of the Rasa process or the action server into where its time goes.

    make bench BENCH_ARGS="--profile var/profiles"      # records both during the saturating phase, prints this
    py-spy record -p <rasa pid> --format raw -o rasa.raw -d 20 -r 200 --nonblocking   # or by hand
    .venvs/actions/bin/python -m scripts.bench.profile_summary rasa.raw

Idle samples (thread pools and the event loop waiting) are left out; deep jsonschema
recursion is cut by py-spy's depth limit, so it is recognised by its frames.
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

# First match wins, in this order.
CATEGORIES = (
    ("action response validation (jsonschema)", ("_validate_action_result", "jsonschema/")),
    ("SQLite calls of the channel code (threads)", ("helpline/db.py",)),
    ("tracker store: retrieve", ("fetch_tracker_and_update_session",)),
    ("tracker store: save", ("save_tracker",)),
    ("NLU pipeline (featurizers, classifier, emergency lexicon)", ("parse_message",)),
    ("dialogue policies", ("_predict_next_with_tracker",)),
    ("calling the action server", ("_run_action",)),
    # the action server
    ("FAQ: query encoding (e5)", ("encode_quer",)),
    ("FAQ: lexical scoring", ("kb/lexical.py",)),
    ("FAQ: entry classifier", ("kb/classifier.py",)),
    ("FAQ: dense search (faiss)", ("kb/index.py",)),
    ("FAQ: fusion and the rest of retrieve()", ("kb/retriever.py",)),
    ("emergency detection", ("helpline/safety/",)),
    ("rasa-sdk and Sanic request handling", ("rasa_sdk/", "sanic/")),
)
IDLE_LEAVES = ("_worker (concurrent/futures/thread.py", "wait (threading.py", "select (selectors.py")


def summarise(path: Path) -> list[tuple[str, float]]:
    counts: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not n.isdigit() or stack.split(";")[-1].startswith(IDLE_LEAVES):
            continue
        total += int(n)
        label = next((name for name, marks in CATEGORIES if any(m in stack for m in marks)), "other")
        counts[label] += int(n)
    return [(label, 100 * count / max(total, 1)) for label, count in counts.most_common()]


if __name__ == "__main__":
    for label, share in summarise(Path(sys.argv[1])):
        print(f"{share:5.1f}%  {label}")
