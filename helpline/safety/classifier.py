"""A small emergency / not-emergency classifier, an extra signal beside the lexicon.

Trained at ``make index`` (``python -m helpline.safety.classifier build``) on text nobody evaluates
with: the NLU examples (``emergency`` against every other intent), the handbook's questions and
paraphrases as informational negatives (except the report-a-missing-person topic, whose
paraphrases read like reports), and the hand-written sentences of ``training.yml``. Never on
``tests/data``. Linear over folded syllables and character n-grams (the FAQ classifier's
features), so teen code and missing diacritics weigh like the plain forms. Saved as arrays
(npz + JSON), never pickled; scoring needs numpy only, so the Rasa process can load it too.

It can only *add* an ``urgent`` flag to a message the lexicon left unflagged and unframed
(see :func:`helpline.safety.emergency.detect`); the lexicon stays authoritative.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys
import time
from functools import lru_cache
from pathlib import Path

import numpy as np
import yaml

from helpline.kb.classifier import EntryClassifier

logger = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parents[2]
MODEL_ENV = "HELPLINE_SAFETY_MODEL"
DEFAULT_DIR = PROJECT_ROOT / "models" / "safety"
TRAINING_FILE = Path(__file__).with_name("training.yml")
EMERGENCY, OTHER = "emergency", "other"
# Handbook topics left out of the negatives: their paraphrases are reports ("con toi mat tich ...").
REPORT_TOPICS = ("bao-tin",)
_ENTITY = re.compile(r"\[([^\]]*)\]\([^)]*\)")


class SafetyClassifier:
    def __init__(self, model: EntryClassifier) -> None:
        if sorted(model.labels) != [EMERGENCY, OTHER] or model.weights.shape[1] != 1:
            raise ValueError("not a safety classifier (labels or shape)")
        self._model = model
        # sklearn's binary model has one column, for the second label in sorted order ("other")
        self._sign = -1.0 if model.labels[1] == OTHER else 1.0

    def probability(self, text: str) -> float:
        """P(emergency) for one message."""
        idx, values = self._model._vector(text)
        z = float(self._model.bias[0]) + (float(values @ self._model.weights[idx, 0]) if len(idx) else 0.0)
        return float(1.0 / (1.0 + np.exp(-self._sign * z)))

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self._model.save(folder)

    @classmethod
    def load(cls, folder: Path) -> SafetyClassifier:
        return cls(EntryClassifier.load(folder))

    @classmethod
    def train(cls, texts: list[str], labels: list[str]) -> SafetyClassifier:
        return cls(EntryClassifier.train(texts, labels))


def _nlu_examples(nlu_dir: Path) -> list[tuple[str, str]]:
    rows = []
    for path in sorted(nlu_dir.glob("*.yml")):
        for block in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("nlu", []):
            if "intent" not in block:
                continue
            label = EMERGENCY if block["intent"] == "emergency" else OTHER
            for line in str(block.get("examples", "")).splitlines():
                line = line.strip()
                if line.startswith("- "):
                    rows.append((_ENTITY.sub(r"\1", line[2:]).strip(), label))
    return rows


def training_rows(root: Path = PROJECT_ROOT) -> list[tuple[str, str]]:
    """(text, label) pairs from the NLU data, the handbook and training.yml, in a fixed order."""
    from helpline.kb.entries import load_entries, load_urgent_steps

    rows = _nlu_examples(root / "bot" / "data" / "nlu")
    skip = set(load_urgent_steps(root / "knowledge_base" / "urgent_steps.yml"))
    for entry in load_entries(root / "knowledge_base" / "faq"):
        if entry.id in skip or entry.id.startswith(REPORT_TOPICS):
            continue
        rows += [(q, OTHER) for q in (entry.question, *entry.paraphrases)]
    data = yaml.safe_load(TRAINING_FILE.read_text(encoding="utf-8"))
    for item in data["items"]:
        if item["label"] not in (EMERGENCY, OTHER):
            raise ValueError(f"{TRAINING_FILE}: bad label {item['label']!r}")
        rows.append((str(item["text"]), item["label"]))
    return [(t, lab) for t, lab in rows if t]


def model_dir() -> Path:
    return Path(os.environ.get(MODEL_ENV) or DEFAULT_DIR)


@lru_cache(maxsize=1)
def loaded() -> SafetyClassifier | None:
    """The built classifier, or None (lexicon only) when it has not been built."""
    folder = model_dir()
    if not (folder / "classifier.npz").is_file():
        logger.warning("no safety classifier in %s (run `make index`): the lexicon works alone", folder)
        return None
    try:
        return SafetyClassifier.load(folder)
    except Exception:
        logger.exception("could not load the safety classifier from %s: the lexicon works alone", folder)
        return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="build the safety classifier")
    parser.add_argument("command", choices=("build",))
    parser.add_argument("--out", type=Path, default=None, help=f"folder (default ${MODEL_ENV} or {DEFAULT_DIR})")
    args = parser.parse_args(argv)
    rows = training_rows()
    started = time.perf_counter()
    clf = SafetyClassifier.train([t for t, _ in rows], [lab for _, lab in rows])
    out = args.out or model_dir()
    clf.save(out)
    n_em = sum(lab == EMERGENCY for _, lab in rows)
    took = time.perf_counter() - started
    print(f"safety classifier: {len(rows)} sentences ({n_em} emergency) in {took:.1f} s -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
