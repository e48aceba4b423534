"""What simulated users say: realistic conversations of small talk, FAQ questions and emergencies.

- FAQ questions are the 513 labelled evaluation questions (tests/data/retrieval_eval.yml),
  drawn with a Zipf law (weight 1/rank over a seeded shuffle): in a campaign a few
  questions come back again and again, the rest once in a while.
- Emergencies are the labelled immediate/urgent messages of tests/data/safety_eval.yml. An
  emergency opens a ticket for staff, so it always starts a new conversation (one ticket each).
- A conversation: a greeting, 1-4 questions, thanks or goodbye; about 1 in 12 is an emergency.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
SMALL_TALK_OPEN = ("chào bạn", "chao ban", "xin chào", "hi bạn ơi", "chào em")
SMALL_TALK_CLOSE = ("cảm ơn bạn", "cam on ban nhe", "tạm biệt", "tam biet", "cảm ơn nhiều nha", "ok cảm ơn")
BASELINE_TEXT = "chào bạn"  # answered by a rule (utter_greet): no action server involved
EMERGENCY_SHARE = 1 / 12


@dataclass(frozen=True)
class Message:
    kind: str  # small_talk | faq | emergency
    text: str


class Workload:
    """The message pools; each simulated user draws from its own seeded stream."""

    def __init__(self) -> None:
        items = yaml.safe_load((ROOT / "tests/data/retrieval_eval.yml").read_text(encoding="utf-8"))["items"]
        self.questions = [str(i["q"]) for i in items]
        random.Random(7).shuffle(self.questions)
        self._weights = list(itertools.accumulate(1.0 / rank for rank in range(1, len(self.questions) + 1)))
        safety = yaml.safe_load((ROOT / "tests/data/safety_eval.yml").read_text(encoding="utf-8"))["items"]
        self.emergencies = [str(i["text"]) for i in safety if i.get("level") in ("immediate", "urgent")]

    def question(self, rng: random.Random) -> str:
        return rng.choices(self.questions, cum_weights=self._weights)[0]

    def conversation(self, rng: random.Random) -> list[Message]:
        if rng.random() < EMERGENCY_SHARE:
            opening = [Message("small_talk", rng.choice(SMALL_TALK_OPEN))] if rng.random() < 0.3 else []
            return [*opening, Message("emergency", rng.choice(self.emergencies))]
        turns = [Message("small_talk", rng.choice(SMALL_TALK_OPEN))]
        turns += [Message("faq", self.question(rng)) for _ in range(rng.randint(1, 4))]
        turns.append(Message("small_talk", rng.choice(SMALL_TALK_CLOSE)))
        return turns

    def conversations(self, seed: int) -> Iterator[list[Message]]:
        """An endless stream of conversations for one simulated user."""
        rng = random.Random(seed)
        while True:
            yield self.conversation(rng)
