"""`make eval-safety`: emergency detection (helpline.safety.detect) on labelled message sets.

Two sets:
- tests/data/safety_eval.yml: written while the lexicon was built (in-sample: 1.000 there is a
  regression check, not a quality claim);
- tests/data/safety_real.yml: written by an independent writer before issue 14's tuning, never
  used to build the lexicon. The lexicon was tuned on its even-numbered items only
  (`--half tune`); `--half held` reports on the odd-numbered ones, which nobody tuned on.

For each set it prints recall per level (exact level, and flagged as an emergency), per style,
per category, the emergency recall (immediate+urgent flagged as either), the false-alarm rate
(a none/concern message flagged immediate/urgent), the recall on missing-children and
third-party categories, and with --misses every miss and false alarm.

    python scripts/eval_safety.py [--set FILE ...] [--half all|tune|held] [--misses] [--check]

Exit code 1 when a gate is crossed (always on; --check is accepted for symmetry with the other
evaluations): on safety_eval.yml (and any other set) the old targets (emergency recall >= 0.98,
false alarms <= 0.05); on safety_real.yml, over the whole set, regression floors a little under
today's figures (FLOORS). Issue 14's targets are printed beside them, not gated.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from helpline.safety import RiskLevel, detect  # noqa: E402
from scripts.evaluation import half, print_checks  # noqa: E402

DEFAULT_SET = ROOT / "tests" / "data" / "safety_eval.yml"
REAL_SET = ROOT / "tests" / "data" / "safety_real.yml"
FRESH_SET = ROOT / "tests" / "data" / "safety_fresh.yml"
SETS = (DEFAULT_SET, REAL_SET, FRESH_SET)
HALVED = (REAL_SET.name, FRESH_SET.name)  # tuned on the even half, reported on the odd (held) half
# The gate on the in-sample set (and on any set given with --set other than safety_real.yml).
TARGET_EMERGENCY_RECALL = 0.98
TARGET_FALSE_ALARM = 0.05
# Issue 14's targets (printed, not gated): on the unseen half of safety_real.yml.
ISSUE_TARGETS = {"emergency_recall": 0.98, "missing_children": 1.0, "false_alarm": 0.03}
# Regression floors on the held halves (gated), a little under what they measure (7470490: real
# held 0.925 / 0.957 / 0.063, fresh held 0.930 / 0.833 / 0.109; 0.117 false alarms once main's new
# NLU examples entered the classifier's training, 8009b85), so that a change that loses ground
# fails `make test`. Issue 14's targets (ISSUE_TARGETS) are printed beside them; they are not met.
FLOORS = {
    REAL_SET.name: {"emergency_recall": 0.91, "missing_children": 0.95, "false_alarm": 0.07, "steps": 0.95},
    FRESH_SET.name: {"emergency_recall": 0.91, "missing_children": 0.80, "false_alarm": 0.13, "steps": 0.95},
}
LEVELS = [RiskLevel.IMMEDIATE, RiskLevel.URGENT, RiskLevel.CONCERN, RiskLevel.NONE]
EMERGENCY = {RiskLevel.IMMEDIATE, RiskLevel.URGENT}
MISSING_CHILDREN = ("missing_child", "child_with_stranger")
THIRD_PARTY = ("third_party_missing", "days_no_contact")


@dataclass(frozen=True)
class Result:
    text: str
    style: str
    expected: RiskLevel
    got: RiskLevel
    reasons: tuple[str, ...]
    category: str = ""

    @property
    def flagged(self) -> bool:
        return self.got in EMERGENCY

    @property
    def crosses(self) -> bool:
        """A miss or a false alarm: the emergency line is on the wrong side."""
        return (self.expected in EMERGENCY) != self.flagged


def _ratio(num: int, den: int) -> float:
    return num / den if den else 1.0


def recall(results: list[Result]) -> float:
    """Share of the emergencies among ``results`` flagged immediate or urgent."""
    em = [r for r in results if r.expected in EMERGENCY]
    return _ratio(sum(r.flagged for r in em), len(em))


def false_alarms(results: list[Result]) -> float:
    """Share of the none/concern messages among ``results`` flagged immediate or urgent."""
    other = [r for r in results if r.expected not in EMERGENCY]
    return sum(r.flagged for r in other) / len(other) if other else 0.0


@dataclass(frozen=True)
class Summary:
    results: list[Result]
    emergency_recall: float
    false_alarm_rate: float
    ms_per_message: float
    steps: tuple[int, int] | None = None  # (urgent replies carrying the steps, urgent replies)

    @property
    def passed(self) -> bool:
        return self.emergency_recall >= TARGET_EMERGENCY_RECALL and self.false_alarm_rate <= TARGET_FALSE_ALARM

    def in_categories(self, categories: tuple[str, ...]) -> list[Result]:
        return [r for r in self.results if r.category in categories]


def load_items(path: Path = DEFAULT_SET) -> list[dict]:
    with open(path, encoding="utf-8") as fh:
        data = yaml.safe_load(fh)
    if not isinstance(data, dict) or data.get("version") != 1:
        raise ValueError(f"{path}: unsupported version")
    return data["items"]


def evaluate(items: list[dict], finder: StepsFinder | None = None) -> Summary:
    results = []
    detect("warm-up")  # load the lexicon outside the timing
    started = time.perf_counter()
    for item in items:
        risk = detect(item["text"], intent=item.get("intent"), in_emergency=bool(item.get("in_emergency")))
        results.append(
            Result(item["text"], item.get("style", "?"), RiskLevel(item["level"]), risk.level, risk.reasons,
                   str(item.get("category", "")))
        )
    elapsed = (time.perf_counter() - started) * 1000 / max(len(items), 1)
    steps = None
    if finder is not None:
        urgent = [r for r in results if r.got == RiskLevel.URGENT]
        steps = (sum(carries_steps(finder.steps(r.text), r.category) for r in urgent), len(urgent))
    return Summary(results, recall(results), false_alarms(results), elapsed, steps)


# The practical steps of an urgent reply (actions/emergency.py): the handbook entry the retriever
# picks among knowledge_base/urgent_steps.yml. "Carries the steps" = that reply exists and tells the
# family to report to the police; a ransom report's steps must also warn against paying first.
POLICE = ("công an", "113")
NO_PAYING = ("trước khi chuyển", "đừng chuyển", "không chuyển")


class StepsFinder:
    """The same path as actions/emergency.py: best_among over the urgent-steps entries."""

    def __init__(self) -> None:
        from helpline import replies
        from helpline.kb.embedder import Embedder
        from helpline.kb.entries import load_urgent_steps
        from helpline.kb.retriever import FaqRetriever
        from helpline.settings import Settings

        settings = Settings.from_env()
        embedder = Embedder(settings.embed_model, query_prefix=settings.embed_query_prefix,
                            doc_prefix=settings.embed_doc_prefix)
        self._retriever = FaqRetriever(settings.index_dir, embedder)
        self._ids = load_urgent_steps(settings.kb_dir.parent / "urgent_steps.yml")
        self._format = replies.urgent_steps

    def steps(self, text: str) -> str | None:
        entry = self._retriever.best_among(text, self._ids)
        return self._format(entry) if entry else None


def carries_steps(steps: str | None, category: str) -> bool:
    if not steps:
        return False
    low = steps.lower()
    ok = any(p in low for p in POLICE)
    if category == "ransom":
        ok = ok and any(p in low for p in NO_PAYING)
    return ok


def _group_rows(res: list[Result], key: Callable[[Result], str], title: str) -> list[str]:
    lines = [f"{title:<24}{'n':>5}{'emerg.':>7}{'recall':>8}{'others':>7}{'f.alarm':>9}{'exact':>7}"]
    for name in sorted({key(r) for r in res}):
        sub = [r for r in res if key(r) == name]
        n_em = sum(r.expected in EMERGENCY for r in sub)
        lines.append(
            f"  {name:<22}{len(sub):>5}{n_em:>7}{(f'{recall(sub):.3f}' if n_em else '-'):>8}"
            f"{len(sub) - n_em:>7}{(f'{false_alarms(sub):.3f}' if len(sub) > n_em else '-'):>9}"
            f"{sum(r.got == r.expected for r in sub) / len(sub):>7.3f}"
        )
    return lines


def report(summary: Summary, quiet: bool = True) -> str:
    """The figures; unless ``quiet``, every message whose level is wrong (! = crosses the line)."""
    res = summary.results
    lines = [f"items: {len(res)}   ({summary.ms_per_message:.3f} ms per message)", ""]
    lines.append(f"{'level':<12}{'n':>5}{'recall':>9}{'flagged':>9}{'precision':>11}")
    for level in LEVELS:
        sub = [r for r in res if r.expected == level]
        tp = sum(r.got == level for r in sub)
        predicted = sum(r.got == level for r in res)
        lines.append(
            f"  {level.value:<10}{len(sub):>5}{_ratio(tp, len(sub)):>9.3f}"
            f"{_ratio(sum(r.flagged for r in sub), len(sub)):>9.3f}{_ratio(tp, predicted):>11.3f}"
        )
    lines.append("  (recall: exact level; flagged: share flagged immediate/urgent)")
    lines.append("")
    lines += _group_rows(res, lambda r: r.style, "style")
    if any(r.category for r in res):
        lines.append("")
        lines += _group_rows(res, lambda r: r.category or "-", "category")
    lines.append("")
    confusion = Counter((r.expected, r.got) for r in res)
    lines.append("confusion (rows expected, columns got): " + " ".join(lv.value[:4] for lv in LEVELS))
    for exp in LEVELS:
        lines.append(f"  {exp.value:<10}" + " ".join(f"{confusion[(exp, got)]:>4}" for got in LEVELS))
    lines.append("")
    n_em = sum(r.expected in EMERGENCY for r in res)
    lines.append(f"emergency recall (immediate+urgent flagged as either): {summary.emergency_recall:.3f}"
                 f"  ({sum(r.flagged for r in res if r.expected in EMERGENCY)}/{n_em})")
    lines.append(f"false alarm rate (none+concern flagged as emergency):  {summary.false_alarm_rate:.3f}"
                 f"  ({sum(r.flagged for r in res if r.expected not in EMERGENCY)}/{len(res) - n_em})")
    for name, cats in (("missing children", MISSING_CHILDREN), ("third-party / no contact", THIRD_PARTY)):
        sub = [r for r in summary.in_categories(cats) if r.expected in EMERGENCY]
        if sub:
            lines.append(f"recall on {name} ({'+'.join(cats)}): {recall(sub):.3f}"
                         f"  ({sum(r.flagged for r in sub)}/{len(sub)})")
    if summary.steps is not None:
        carried, total = summary.steps
        lines.append(f"urgent replies carrying the practical steps: {_ratio(carried, total):.3f}  ({carried}/{total})")
    if not quiet:
        misses = sorted((r for r in res if r.got != r.expected),
                        key=lambda r: (not r.crosses, LEVELS.index(r.expected), r.got.value))
        if misses:
            lines.append("")
            lines.append("wrong level (! = a missed emergency or a false alarm):")
            for r in misses:
                mark = "!" if r.crosses else " "
                cat = f"/{r.category}" if r.category else ""
                lines.append(f" {mark} {r.expected.value:>9} -> {r.got.value:<9} [{r.style}{cat}] {r.text}")
                lines.append(f"{'':>27}{', '.join(r.reasons) or '-'}")
    return "\n".join(lines)


def gates(path: Path, summary: Summary, which: str) -> tuple[dict[str, bool], dict[str, bool]]:
    """(issue 14 targets, reported; gates, exit 1 when one fails) for one set and half."""
    targets: dict[str, bool] = {}
    checks: dict[str, bool] = {}
    rec, fa = summary.emergency_recall, summary.false_alarm_rate
    kids = [r for r in summary.in_categories(MISSING_CHILDREN) if r.expected in EMERGENCY]
    kids_recall = recall(kids)
    name = path.name
    if name not in HALVED:
        checks[f"{name}: emergency recall {rec:.3f} >= {TARGET_EMERGENCY_RECALL}"] = rec >= TARGET_EMERGENCY_RECALL
        checks[f"{name}: false alarms {fa:.3f} <= {TARGET_FALSE_ALARM}"] = fa <= TARGET_FALSE_ALARM
        return targets, checks
    if which != "held":
        return targets, checks
    targets[f"{name} (held half): emergency recall {rec:.3f} >= {ISSUE_TARGETS['emergency_recall']}"] = (
        rec >= ISSUE_TARGETS["emergency_recall"])
    targets[f"{name} (held half): missing children {kids_recall:.3f} >= {ISSUE_TARGETS['missing_children']}"] = (
        kids_recall >= ISSUE_TARGETS["missing_children"])
    targets[f"{name} (held half): false alarms {fa:.3f} <= {ISSUE_TARGETS['false_alarm']}"] = (
        fa <= ISSUE_TARGETS["false_alarm"])
    floors = FLOORS[name]
    checks[f"{name} (held half): emergency recall {rec:.3f} >= {floors['emergency_recall']}"] = (
        rec >= floors["emergency_recall"])
    checks[f"{name} (held half): missing children {kids_recall:.3f} >= {floors['missing_children']}"] = (
        kids_recall >= floors["missing_children"])
    checks[f"{name} (held half): false alarms {fa:.3f} <= {floors['false_alarm']}"] = fa <= floors["false_alarm"]
    if summary.steps is not None:
        share = _ratio(*summary.steps)
        checks[f"{name} (held half): urgent replies with steps {share:.3f} >= {floors['steps']}"] = (
            share >= floors["steps"])
    return targets, checks


def summary_row(name: str, which: str, summary: Summary) -> str:
    kids = [r for r in summary.in_categories(MISSING_CHILDREN) if r.expected in EMERGENCY]
    steps = f"{_ratio(*summary.steps):.3f}" if summary.steps is not None else "-"
    return (f"  {name:<18}{which:<6}{len(summary.results):>6}{summary.emergency_recall:>9.3f}"
            f"{(f'{recall(kids):.3f}' if kids else '-'):>9}{summary.false_alarm_rate:>9.3f}{steps:>8}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--set", type=Path, action="append", default=None, help="labelled YAML set (repeatable)")
    parser.add_argument("--half", choices=("both", "all", "tune", "held"), default="both",
                        help="tune: even-numbered items, held: odd-numbered items, both: held then tune "
                             "(sets that are not split are always scored whole)")
    parser.add_argument("--misses", action="store_true", help="list every message whose level is wrong")
    parser.add_argument("--quiet", action="store_true", help="do not list misses (the default)")
    parser.add_argument("--no-steps", action="store_true",
                        help="skip the practical-steps share (it loads the embedding model and the FAQ index)")
    parser.add_argument("--check", action="store_true", help="exit 1 if a gate fails (always on)")
    args = parser.parse_args(argv)
    finder = None
    if not args.no_steps:
        try:
            finder = StepsFinder()
        except Exception as exc:  # no index built yet: say so, score the rest
            print(f"practical steps not measured ({type(exc).__name__}: {exc}); run `make index`")
    targets: dict[str, bool] = {}
    checks: dict[str, bool] = {}
    rows: list[str] = []
    for path in args.set or [p for p in SETS if p.is_file()]:
        items = load_items(path)
        halves = ["all"] if path.name not in HALVED else (["held", "tune"] if args.half == "both" else [args.half])
        if args.half in ("tune", "held", "all") and path.name in HALVED:
            halves = [args.half]
        for which in halves:
            summary = evaluate(half(items, which), finder)
            print(f"== {path.name}, half: {which}")
            print(report(summary, quiet=args.quiet or not args.misses))
            print()
            rows.append(summary_row(path.name, which, summary))
            set_targets, set_checks = gates(path, summary, which)
            targets.update(set_targets)
            checks.update(set_checks)
    print(f"  {'set':<18}{'half':<6}{'n':>6}{'recall':>9}{'kids':>9}{'f.alarm':>9}{'steps':>8}")
    print("\n".join(rows))
    print()
    if targets:
        print_checks("issue 14 targets (reported; they apply to the held halves):", targets, "MISS")
    print_checks("gates (exit 1 if one fails):", checks)
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
