"""`make eval`: FAQ answer quality on the project's own labelled questions.

Two sets, never indexed or trained on (the script refuses to run if a question also appears in
the knowledge base):
- tests/data/retrieval_eval.yml: short user-style questions (accented, unaccented, teen code,
  long stories), written with the first handbook;
- tests/data/retrieval_real.yml: questions in the styles real people write (letters to a lawyer,
  formal legal phrasing, press style, long Zalo stories, multi-part, related offences, procedure),
  written before the ranking was tuned.

For each set it prints, overall and by style: top-1 / top-3 / MRR, and what the bot would do:
a correct direct answer (alone or with alternatives), an answer with alternatives, a
clarification (the bot asks), a confident wrong answer (shown alone and wrong, or any answer
alone to an out-of-scope question), and a correct answer within one tap (direct, or among the
alternatives / clarification buttons). The ranking model was fitted on the even-numbered items
(scripts/fit_ranking.py): `--half held` reports on the odd-numbered ones only.

    python scripts/eval_retrieval.py [--set FILE ...] [--half all|tune|held] [--check] [--misses]

With --check it exits 1 when a regression floor (FLOORS) is crossed; issue 12's targets are printed.
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from helpline.kb.embedder import Embedder  # noqa: E402
from helpline.kb.ranking import Outcome as Policy  # noqa: E402
from helpline.kb.retriever import FaqRetriever  # noqa: E402
from helpline.settings import PROJECT_ROOT, Settings  # noqa: E402
from helpline.text import fold  # noqa: E402
from scripts.evaluation import half, print_checks  # noqa: E402

SHORT_SET = PROJECT_ROOT / "tests" / "data" / "retrieval_eval.yml"
REAL_SET = PROJECT_ROOT / "tests" / "data" / "retrieval_real.yml"
SETS = (SHORT_SET, REAL_SET)
# Issue 12's targets: on the real-style set; on the short set top-1 per style. Printed, not gated.
TARGETS = {"direct_correct": 0.85, "clarify": 0.15, "confident_wrong": 0.03, "top1_style": 0.93,
           "top1_long_story": 0.85}
# What --check gates on (make test): the safety bound, and floors a little under what the
# current ranking reaches on the whole of each set, so a regression fails the build.
FLOORS = {"confident_wrong": 0.03, "clarify": 0.15, "real_direct": 0.78, "short_direct": 0.84, "short_top1": 0.90,
          "real_top1": 0.85}


@dataclass
class Outcome:
    q: str
    ids: list[str]
    style: str
    topic: str
    ranked: list[str]
    policy: Policy
    offered: list[str]  # entries offered beside the answer (alternatives, follow-ups)
    also: list[str]

    @property
    def rank(self) -> int | None:
        for i, entry_id in enumerate(self.ranked, 1):
            if entry_id in self.ids:
                return i
        return None

    @property
    def top_right(self) -> bool:
        return bool(self.ids) and bool(self.ranked) and self.ranked[0] in self.ids

    @property
    def direct_right(self) -> bool:
        return self.policy is not Policy.ASK and self.top_right

    @property
    def confident_wrong(self) -> bool:
        return self.policy is Policy.ANSWER and not self.top_right

    @property
    def one_tap(self) -> bool:
        if self.direct_right:
            return True
        if self.policy is Policy.ASK:
            return self.rank is not None and self.rank <= 3
        return any(i in self.ids for i in self.offered)


def load_items(path: Path) -> list[dict]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    # The golden set labels one entry per item as `id`; the evaluation sets use `ids`.
    return [{**i, "ids": i.get("ids", [i["id"]] if "id" in i else [])} for i in data["items"]]


def evaluate(retriever: FaqRetriever, items: list[dict]) -> list[Outcome]:
    known = set(retriever.entries)
    indexed = {fold(t) for e in retriever.entries.values() for t in e.texts}
    leaks = [i["q"] for i in items if fold(i["q"]) in indexed]
    if leaks:
        raise SystemExit(f"{len(leaks)} evaluation questions are also in the knowledge base, e.g. {leaks[:3]}")
    unknown = sorted({x for i in items for x in (i.get("ids") or []) + (i.get("also") or []) if x not in known})
    if unknown:
        raise SystemExit(f"evaluation set refers to unknown entries: {unknown}")
    outcomes = []
    for item in items:
        ids = list(item.get("ids") or [])
        result = retriever.retrieve(item["q"], k=10)
        topic = retriever.entries[ids[0]].topic if ids else "(out of scope)"
        policy = result.outcome if result.hits else Policy.ASK
        offered = [e.id for e in retriever.alternatives(result)]
        outcomes.append(Outcome(item["q"], ids, item.get("style", "?"), topic, [h.entry_id for h in result.hits],
                                policy, offered, list(item.get("also") or [])))
    return outcomes


def summarise(outcomes: list[Outcome]) -> dict[str, float]:
    n = len(outcomes) or 1
    scoped = [o for o in outcomes if o.ids]
    s = len(scoped) or 1
    return {
        "n": len(outcomes),
        "top1": sum(o.rank == 1 for o in scoped) / s,
        "top3": sum(o.rank is not None and o.rank <= 3 for o in scoped) / s,
        "mrr": sum(1 / o.rank for o in scoped if o.rank) / s,
        "direct": sum(o.direct_right for o in outcomes) / n,
        "alts": sum(o.policy is Policy.ANSWER_WITH_ALTERNATIVES for o in outcomes) / n,
        "clarify": sum(o.policy is Policy.ASK for o in outcomes) / n,
        "wrong": sum(o.confident_wrong for o in outcomes) / n,
        "one_tap": sum(o.one_tap for o in outcomes) / n,
    }


HEADER = (f"{'':<20}{'n':>5}{'top1':>7}{'top3':>7}{'MRR':>7}{'direct✓':>9}{'w/ alts':>9}{'asks':>7}"
          f"{'wrong':>7}{'1 tap✓':>8}")


def row(name: str, s: dict[str, float]) -> str:
    return (f"{name:<20}{s['n']:>5}{s['top1']:>7.3f}{s['top3']:>7.3f}{s['mrr']:>7.3f}{s['direct']:>9.3f}"
            f"{s['alts']:>9.3f}{s['clarify']:>7.3f}{s['wrong']:>7.3f}{s['one_tap']:>8.3f}")


def report(name: str, outcomes: list[Outcome], misses: bool) -> dict[str, dict[str, float]]:
    print(f"\n== {name}: {len(outcomes)} questions")
    print(HEADER)
    out = {"all": summarise(outcomes)}
    print(row("all", out["all"]))
    by_style: dict[str, list[Outcome]] = defaultdict(list)
    by_topic: dict[str, list[Outcome]] = defaultdict(list)
    for o in outcomes:
        by_style[o.style].append(o)
        by_topic[o.topic].append(o)
    print("by style")
    for style, group in sorted(by_style.items()):
        out[style] = summarise(group)
        print(row(f"  {style}", out[style]))
    print("by topic")
    for topic in sorted(by_topic):
        print(row(f"  {topic}", summarise(by_topic[topic])))
    multi = [o for o in outcomes if o.also]
    if multi:
        second = sum(any(a in o.offered for a in o.also) for o in multi) / len(multi)
        print(f"multi-part: second part offered as a follow-up in {second:.3f} of {len(multi)}")
    if misses:
        print("wrong first entries (policy, expected, got):")
        for o in outcomes:
            if o.ranked and not o.top_right:
                print(f"  [{o.style}] {o.policy.value:<24} {o.q[:150]!r}\n      expected {o.ids}, got {o.ranked[:3]}")
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--set", type=Path, action="append", default=None)
    parser.add_argument("--half", choices=("all", "tune", "held"), default="all")
    parser.add_argument("--build-dir", type=Path, default=None)
    parser.add_argument("--check", action="store_true", help="exit 1 if a regression floor is crossed")
    parser.add_argument("--misses", action="store_true", help="list the questions whose first entry is wrong")
    args = parser.parse_args()
    settings = Settings.from_env()
    embedder = Embedder(settings.embed_model, query_prefix=settings.embed_query_prefix,
                        doc_prefix=settings.embed_doc_prefix)
    retriever = FaqRetriever(args.build_dir or settings.index_dir, embedder)
    model = retriever.model
    print(f"FAQ answers, index {retriever.index_path.name}; ranking model fitted on {model.fitted_on}; "
          f"answer alone from P >= {model.answer_at}, with alternatives from P >= {model.suggest_at}; "
          f"half: {args.half}")
    results: dict[str, dict[str, dict[str, float]]] = {}
    for path in args.set or [p for p in SETS if p.is_file()]:
        outcomes = evaluate(retriever, half(load_items(path), args.half))
        results[path.name] = report(path.name, outcomes, args.misses)

    targets: dict[str, bool] = {}
    checks: dict[str, bool] = {}
    if real := results.get(REAL_SET.name):
        a = real["all"]
        targets[f"real: correct direct answers {a['direct']:.3f} >= {TARGETS['direct_correct']}"] = (
            a["direct"] >= TARGETS["direct_correct"])
        targets[f"real: clarifications {a['clarify']:.3f} <= {TARGETS['clarify']}"] = a["clarify"] <= TARGETS["clarify"]
        targets[f"real: confident wrong {a['wrong']:.3f} <= {TARGETS['confident_wrong']}"] = (
            a["wrong"] <= TARGETS["confident_wrong"])
        checks[f"real: confident wrong {a['wrong']:.3f} <= {FLOORS['confident_wrong']}"] = (
            a["wrong"] <= FLOORS["confident_wrong"])
        checks[f"real: clarifications {a['clarify']:.3f} <= {FLOORS['clarify']}"] = a["clarify"] <= FLOORS["clarify"]
        checks[f"real: correct direct answers {a['direct']:.3f} >= {FLOORS['real_direct']}"] = (
            a["direct"] >= FLOORS["real_direct"])
        checks[f"real: top-1 {a['top1']:.3f} >= {FLOORS['real_top1']}"] = a["top1"] >= FLOORS["real_top1"]
    if short := results.get(SHORT_SET.name):
        a = short["all"]
        checks[f"short: confident wrong {a['wrong']:.3f} <= {FLOORS['confident_wrong']}"] = (
            a["wrong"] <= FLOORS["confident_wrong"])
        checks[f"short: correct direct answers {a['direct']:.3f} >= {FLOORS['short_direct']}"] = (
            a["direct"] >= FLOORS["short_direct"])
        checks[f"short: top-1 {a['top1']:.3f} >= {FLOORS['short_top1']}"] = a["top1"] >= FLOORS["short_top1"]
        for style, st in short.items():
            if style == "all":
                continue
            target = TARGETS["top1_long_story"] if style == "long_story" else TARGETS["top1_style"]
            targets[f"short: top-1 {style} {st['top1']:.3f} >= {target}"] = st["top1"] >= target
    print_checks("\nissue 12 targets (reported):", targets, "MISS")
    print_checks("\nregression floors (--check):", checks)
    return 1 if args.check and not all(checks.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
