"""`make eval-nlu`: intent accuracy of the trained Rasa model on held-out examples.

The examples in tests/data/nlu_holdout.yml are never trained on (this script refuses to run if
one of them is in bot/data/nlu/). It runs Rasa's own `rasa test nlu` in the Rasa environment and
prints accuracy, recall per intent and every misclassified example. With --check it fails below
the targets: a change to the NLU pipeline (another classifier, say) must keep them.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
HOLDOUT = ROOT / "tests" / "data" / "nlu_holdout.yml"
TRAINING = ROOT / "bot" / "data" / "nlu"
RASA = ROOT / ".venvs" / "rasa" / "bin" / "rasa"
MODEL = ROOT / "models" / "rasa" / "helpline.tar.gz"
MIN_ACCURACY = 0.90
MIN_EMERGENCY_RECALL = 1.0


def labelled(path: Path) -> list[tuple[str, str]]:
    """(example text, intent) of a Rasa NLU file, in file order."""
    out: list[tuple[str, str]] = []
    for block in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("nlu", []):
        for line in str(block.get("examples", "")).splitlines():
            text = line.strip().removeprefix("- ").strip()
            if text:
                out.append((text, str(block.get("intent"))))
    return out


def examples(path: Path) -> dict[str, str]:
    """Example text (normalised for comparison) -> intent."""
    return {" ".join(text.lower().split()): intent for text, intent in labelled(path)}


def leaked() -> list[str]:
    held = examples(HOLDOUT)
    trained: dict[str, str] = {}
    for path in sorted(TRAINING.glob("*.yml")):
        trained.update(examples(path))
    return sorted(text for text in held if text in trained)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=MODEL)
    parser.add_argument("--check", action="store_true", help=f"exit 1 below accuracy {MIN_ACCURACY} or "
                                                             f"emergency recall {MIN_EMERGENCY_RECALL}")
    args = parser.parse_args(argv)
    if not args.model.is_file():
        print(f"no trained model at {args.model}: run `make train`", file=sys.stderr)
        return 2
    overlap = leaked()
    if overlap:
        print(f"{len(overlap)} held-out examples are also training data, e.g. {overlap[0]!r}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="helpline-nlu-eval-") as out:
        print(f"rasa test nlu on {len(examples(HOLDOUT))} held-out examples (~40 s) ...", flush=True)
        env = {**os.environ, "RASA_TELEMETRY_ENABLED": "false"}
        run = subprocess.run([str(RASA), "test", "nlu", "--nlu", str(HOLDOUT), "--model", str(args.model),
                              "--out", out], cwd=ROOT, env=env, capture_output=True, text=True)
        if run.returncode != 0:
            print(run.stdout[-3000:] + run.stderr[-3000:], file=sys.stderr)
            return 1
        report = json.loads((Path(out) / "intent_report.json").read_text(encoding="utf-8"))
        errors = json.loads((Path(out) / "intent_errors.json").read_text(encoding="utf-8"))
    intents = {k: v for k, v in report.items() if isinstance(v, dict) and "recall" in v and not k.endswith(" avg")}
    print(f"\n{'intent':<16}{'n':>4}{'recall':>8}{'precision':>11}")
    for name, row in sorted(intents.items()):
        print(f"{name:<16}{row['support']:>4}{row['recall']:>8.3f}{row['precision']:>11.3f}")
    accuracy = float(report["accuracy"])
    emergency = float(intents.get("emergency", {}).get("recall", 0.0))
    print(f"\naccuracy {accuracy:.3f} on {sum(r['support'] for r in intents.values())} examples; "
          f"emergency recall {emergency:.3f}")
    for error in errors:
        predicted = error.get("intent_prediction", {})
        print(f"  wrong: {error['text']!r}: {error['intent']} -> {predicted.get('name')} "
              f"({float(predicted.get('confidence') or 0):.2f})")
    ok = accuracy >= MIN_ACCURACY and emergency >= MIN_EMERGENCY_RECALL
    print(f"targets: accuracy >= {MIN_ACCURACY} and emergency recall >= {MIN_EMERGENCY_RECALL}: "
          f"{'OK' if ok else 'MISS'}")
    return 0 if ok or not args.check else 1


if __name__ == "__main__":
    sys.exit(main())
