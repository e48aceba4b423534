"""`make eval-offers`: the offer check on the labelled offers of tests/data/offers_eval.yml.

Prints per-sign precision and recall, band accuracy and how many scam offers were rated in the
lowest band, for one half of the set (``--half tune`` = even items 0, 2, 4 …, the only ones used
while tuning; ``--half held`` = odd items, never looked at) or all of it, and by spelling.
``--check`` fails below the floors, set a little under what the held half measures.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from helpline.offers import SIGN_IDS, analyse  # noqa: E402

DATA = ROOT / "tests" / "data" / "offers_eval.yml"
# A little below the held half's measured recall 0.864, precision 0.851, band accuracy 0.698 (2026-12-04).
# Issue 16's targets are recall 0.90 and precision 0.85 (TARGETS): recall is not met on the held half yet.
FLOORS = {"recall": 0.83, "precision": 0.83, "band_accuracy": 0.67}
TARGETS = {"recall": 0.90, "precision": 0.85}
MAX_SCAM_LOW = 0


def load(path: Path) -> list[dict[str, Any]]:
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    items = raw if isinstance(raw, list) else next(v for v in (raw or {}).values() if isinstance(v, list))
    for item in items:
        unknown = set(item.get("signs") or []) - set(SIGN_IDS)
        if unknown:
            raise SystemExit(f"{item.get('id')}: unknown sign ids {sorted(unknown)}")
    return items


def pick(items: list[dict[str, Any]], half: str) -> list[dict[str, Any]]:
    if half == "tune":
        return items[0::2]
    if half == "held":
        return items[1::2]
    return items


def score(items: list[dict[str, Any]], verbose: bool = False) -> dict[str, Any]:
    tp: Counter[str] = Counter()
    fp: Counter[str] = Counter()
    fn: Counter[str] = Counter()
    band_ok = 0
    scam_low: list[str] = []
    mistakes: list[str] = []
    for item in items:
        result = analyse(str(item["text"]))
        got, want = set(result.sign_ids), set(item.get("signs") or [])
        for s in got & want:
            tp[s] += 1
        for s in got - want:
            fp[s] += 1
        for s in want - got:
            fn[s] += 1
        band_ok += result.band.value == item.get("band")
        if item.get("kind") in ("scam", "marriage") and result.band.value == "low":
            scam_low.append(str(item.get("id")))
        if verbose and (got != want or result.band.value != item.get("band")):
            mistakes.append(f"  {item.get('id')}: band {result.band.value} (want {item.get('band')}); "
                            f"extra {sorted(got - want)} missed {sorted(want - got)}\n    {item['text'][:160]!r}")
    n_tp, n_fp, n_fn = sum(tp.values()), sum(fp.values()), sum(fn.values())
    return {
        "n": len(items), "tp": tp, "fp": fp, "fn": fn,
        "precision": n_tp / (n_tp + n_fp) if n_tp + n_fp else 1.0,
        "recall": n_tp / (n_tp + n_fn) if n_tp + n_fn else 1.0,
        "band_accuracy": band_ok / len(items) if items else 0.0,
        "scam_low": scam_low, "mistakes": mistakes,
    }


def report(title: str, s: dict[str, Any], per_sign: bool) -> None:
    print(f"\n{title}: n={s['n']}  sign precision {s['precision']:.3f}  recall {s['recall']:.3f}  "
          f"band accuracy {s['band_accuracy']:.3f}  scam/marriage rated low {len(s['scam_low'])}")
    if per_sign:
        print(f"  {'sign':<20}{'tp':>4}{'fp':>4}{'fn':>4}{'precision':>11}{'recall':>8}")
        for sign in SIGN_IDS:
            tp, fp, fn = s["tp"][sign], s["fp"][sign], s["fn"][sign]
            p = tp / (tp + fp) if tp + fp else float("nan")
            r = tp / (tp + fn) if tp + fn else float("nan")
            print(f"  {sign:<20}{tp:>4}{fp:>4}{fn:>4}{p:>11.3f}{r:>8.3f}")
    if s["scam_low"]:
        print(f"  scam offers rated low: {', '.join(s['scam_low'])}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--half", choices=("all", "tune", "held"), default="held")
    parser.add_argument("--check", action="store_true", help=f"exit 1 below {FLOORS} or with a scam rated low")
    parser.add_argument("--mistakes", action="store_true", help="list every item with a wrong sign or band "
                                                                 "(use on the tune half only)")
    args = parser.parse_args(argv)
    if not args.data.is_file():
        print(f"no evaluation set at {args.data}", file=sys.stderr)
        return 2
    items = pick(load(args.data), args.half)
    overall = score(items, verbose=args.mistakes)
    report(f"half={args.half}", overall, per_sign=True)
    by_spelling: dict[str, list[dict[str, Any]]] = defaultdict(list)
    by_kind: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for item in items:
        by_spelling[str(item.get("spelling", "?"))].append(item)
        by_kind[str(item.get("kind", "?"))].append(item)
    for name, group in sorted(by_spelling.items()):
        report(f"  spelling={name}", score(group), per_sign=False)
    for name, group in sorted(by_kind.items()):
        report(f"  kind={name}", score(group), per_sign=False)
    if args.mistakes:
        print("\n".join(overall["mistakes"]))
    ok = all(overall[k] >= v for k, v in FLOORS.items()) and len(overall["scam_low"]) <= MAX_SCAM_LOW
    met = all(overall[k] >= v for k, v in TARGETS.items()) and not overall["scam_low"]
    print(f"\nfloors {FLOORS}, scam rated low <= {MAX_SCAM_LOW}: {'OK' if ok else 'MISS'}")
    print(f"issue 16 targets {TARGETS}, no scam rated low: {'met' if met else 'not met'}")
    return 0 if ok or not args.check else 1


if __name__ == "__main__":
    sys.exit(main())
