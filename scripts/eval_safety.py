"""Evaluate helpline.safety.detect on the labelled set tests/data/safety_eval.yml.

Prints recall and precision per level, the emergency recall, the false-alarm
rate (NONE/CONCERN items flagged IMMEDIATE/URGENT), a per-style breakdown and
every miss. Exits 1 when a target is missed.

    python3 scripts/eval_safety.py [--set PATH] [--quiet]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from helpline.safety import RiskLevel, detect  # noqa: E402

DEFAULT_SET = ROOT / "tests" / "data" / "safety_eval.yml"
TARGET_EMERGENCY_RECALL = 0.98
TARGET_FALSE_ALARM = 0.05
LEVELS = [RiskLevel.IMMEDIATE, RiskLevel.URGENT, RiskLevel.CONCERN, RiskLevel.NONE]
EMERGENCY = {RiskLevel.IMMEDIATE, RiskLevel.URGENT}


@dataclass(frozen=True)
class Result:
    text: str
    style: str
    expected: RiskLevel
    got: RiskLevel
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class Summary:
    results: list[Result]
    emergency_recall: float
    false_alarm_rate: float
    ms_per_message: float

    @property
    def passed(self) -> bool:
        return self.emergency_recall >= TARGET_EMERGENCY_RECALL and self.false_alarm_rate <= TARGET_FALSE_ALARM


def load_items(path: Path = DEFAULT_SET) -> list[dict]:
    with open(path, encoding="utf-8") as fh:
        data = yaml.safe_load(fh)
    if data.get("version") != 1:
        raise ValueError(f"{path}: unsupported version")
    return data["items"]


def _ratio(num: int, den: int) -> float:
    return num / den if den else 1.0


def evaluate(items: list[dict]) -> Summary:
    results = []
    detect("warm-up")  # load the lexicon outside the timing
    started = time.perf_counter()
    for item in items:
        risk = detect(item["text"], intent=item.get("intent"), in_emergency=bool(item.get("in_emergency")))
        results.append(Result(item["text"], item["style"], RiskLevel(item["level"]), risk.level, risk.reasons))
    elapsed = (time.perf_counter() - started) * 1000 / max(len(items), 1)
    emergencies = [r for r in results if r.expected in EMERGENCY]
    others = [r for r in results if r.expected not in EMERGENCY]
    return Summary(
        results=results,
        emergency_recall=_ratio(sum(r.got in EMERGENCY for r in emergencies), len(emergencies)),
        false_alarm_rate=sum(r.got in EMERGENCY for r in others) / len(others) if others else 0.0,
        ms_per_message=elapsed,
    )


def report(summary: Summary, quiet: bool = False) -> str:
    res = summary.results
    lines = [f"items: {len(res)}   ({summary.ms_per_message:.3f} ms per message)", ""]
    lines.append(f"{'level':<10}{'n':>5}{'recall':>9}{'precision':>11}")
    for level in LEVELS:
        n = sum(r.expected == level for r in res)
        tp = sum(r.expected == level and r.got == level for r in res)
        predicted = sum(r.got == level for r in res)
        lines.append(f"{level.value:<10}{n:>5}{_ratio(tp, n):>9.3f}{_ratio(tp, predicted):>11.3f}")
    lines.append("")
    lines.append(f"{'style':<12}{'n':>5}{'em.recall':>11}{'false alarm':>13}{'exact':>8}")
    for style in sorted({r.style for r in res}):
        sub = [r for r in res if r.style == style]
        em = [r for r in sub if r.expected in EMERGENCY]
        other = [r for r in sub if r.expected not in EMERGENCY]
        lines.append(
            f"{style:<12}{len(sub):>5}{_ratio(sum(r.got in EMERGENCY for r in em), len(em)):>11.3f}"
            f"{(sum(r.got in EMERGENCY for r in other) / len(other) if other else 0.0):>13.3f}"
            f"{sum(r.got == r.expected for r in sub) / len(sub):>8.3f}"
        )
    lines.append("")
    confusion = Counter((r.expected, r.got) for r in res)
    lines.append("confusion (rows expected, columns got): " + " ".join(lv.value[:4] for lv in LEVELS))
    for exp in LEVELS:
        lines.append(f"  {exp.value:<10}" + " ".join(f"{confusion[(exp, got)]:>4}" for got in LEVELS))
    lines.append("")
    ok_recall = "OK" if summary.emergency_recall >= TARGET_EMERGENCY_RECALL else "MISSED"
    ok_alarm = "OK" if summary.false_alarm_rate <= TARGET_FALSE_ALARM else "MISSED"
    lines.append(
        f"emergency recall (immediate+urgent flagged as either): {summary.emergency_recall:.3f}"
        f"  target >= {TARGET_EMERGENCY_RECALL}  {ok_recall}"
    )
    lines.append(
        f"false alarm rate (none+concern flagged as emergency):  {summary.false_alarm_rate:.3f}"
        f"  target <= {TARGET_FALSE_ALARM}  {ok_alarm}"
    )
    if not quiet:
        misses = [r for r in res if r.got != r.expected]
        if misses:
            lines.append("")
            lines.append("misses (! = crosses the emergency line):")
            for r in sorted(misses, key=lambda r: (LEVELS.index(r.expected), r.got.value)):
                mark = "!" if (r.expected in EMERGENCY) != (r.got in EMERGENCY) else " "
                lines.append(f" {mark} {r.expected.value:>9} -> {r.got.value:<9} [{r.style}] {r.text}")
                lines.append(f"{'':>27}{', '.join(r.reasons) or '-'}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", type=Path, default=DEFAULT_SET, help="labelled YAML set")
    parser.add_argument("--quiet", action="store_true", help="do not list misses")
    args = parser.parse_args(argv)
    summary = evaluate(load_items(args.set))
    print(report(summary, quiet=args.quiet))
    return 0 if summary.passed else 1


if __name__ == "__main__":
    sys.exit(main())
