"""Where trained Rasa models send messages at run time, to compare NLU pipelines.

Runs in the Rasa environment (`.venvs/rasa/bin/python scripts/nlu_routing.py MODEL [MODEL ...]`).
For each model it parses, with the whole pipeline (emergency override and fallback included):

- the held-out NLU examples: correct at run time when the final intent is the labelled one, or
  both are answered by FAQ retrieval (ask_faq, out_of_scope and nlu_fallback all go there);
- the retrieval evaluation questions: which intents they land on (anything but the FAQ intents,
  emergency and ask_hotline means the person does not get an answer to their question);
- the safety evaluation messages: how many of each risk level are treated as an emergency;
- the parse time per message, in process.

`rasa test nlu` (make eval-nlu) scores the classifier; this shows what the person would get.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections import Counter
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # bot.components (in the model's pipeline) and scripts.eval_nlu

from scripts.eval_nlu import HOLDOUT, labelled  # noqa: E402

DATA = ROOT / "tests" / "data"
RETRIEVAL = frozenset({"ask_faq", "out_of_scope", "nlu_fallback"})
ANSWERED = RETRIEVAL | {"emergency", "ask_hotline"}


def correct(got: str, want: str) -> bool:
    return got == want or (got in RETRIEVAL and want in RETRIEVAL)


async def report(model: Path) -> None:
    from rasa.core.agent import Agent

    agent = Agent.load(str(model))

    async def intent(text: str) -> str:
        return (await agent.parse_message(text))["intent"]["name"]

    held = labelled(HOLDOUT)
    questions = [item["q"] for item in yaml.safe_load((DATA / "retrieval_eval.yml").read_text("utf-8"))["items"]]
    safety = yaml.safe_load((DATA / "safety_eval.yml").read_text("utf-8"))["items"]
    for text, _ in held[:10]:
        await intent(text)  # warm-up
    started = time.perf_counter()
    got_held = [await intent(text) for text, _ in held]
    got_questions = Counter([await intent(q) for q in questions])
    got_safety = [(item["level"], await intent(item["text"])) for item in safety]
    per_message = (time.perf_counter() - started) / (len(held) + len(questions) + len(safety))

    ok = sum(correct(got, want) for got, (_, want) in zip(got_held, held, strict=True))
    print(f"\n{model}")
    print(f"  held-out examples correct at run time: {ok}/{len(held)} "
          f"(nlu_fallback {got_held.count('nlu_fallback')})")
    lost = sum(n for name, n in got_questions.items() if name not in ANSWERED)
    print(f"  retrieval questions: {dict(got_questions.most_common())}; not answered: {lost}/{len(questions)}")
    levels = Counter(level for level, _ in got_safety)
    flagged = Counter(level for level, name in got_safety if name == "emergency")
    print("  safety messages treated as emergency: "
          + ", ".join(f"{level} {flagged[level]}/{levels[level]}" for level in ("immediate", "urgent",
                                                                                 "concern", "none")))
    print(f"  parse time: {per_message * 1000:.2f} ms per message (mean, in process)")


def main(argv: list[str]) -> int:
    if not argv or any(not Path(p).is_file() for p in argv):
        print(__doc__, file=sys.stderr)
        return 2
    logging.disable(logging.INFO)
    for path in argv:
        asyncio.run(report(Path(path)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
