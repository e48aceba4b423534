"""`make eval`: FAQ retrieval quality on the project's own labelled questions.

Prints top-1, top-3 and MRR overall, by style and by topic, the rate of
confident wrong answers, and how often the bot asks instead of answering.
The evaluation questions (tests/data/retrieval_eval.yml) are never indexed:
the script refuses to run if one of them also appears in the knowledge base.

    python scripts/eval_retrieval.py [--set FILE] [--build-dir DIR] [--check] [--misses]

With --check it exits 1 when a target from issue 3 is missed.
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
from helpline.kb.retriever import FaqRetriever  # noqa: E402
from helpline.settings import PROJECT_ROOT, Settings  # noqa: E402
from helpline.text import fold  # noqa: E402

DEFAULT_SET = PROJECT_ROOT / "tests" / "data" / "retrieval_eval.yml"
TARGETS = {"top1_accented": 0.90, "top1_unaccented": 0.85, "confident_wrong": 0.03}


@dataclass
class Outcome:
    q: str
    ids: list[str]
    style: str
    topic: str
    ranked: list[str]
    confident: bool

    @property
    def rank(self) -> int | None:
        for i, entry_id in enumerate(self.ranked, 1):
            if entry_id in self.ids:
                return i
        return None

    @property
    def answered_wrong(self) -> bool:
        return self.confident and (not self.ids or self.ranked[0] not in self.ids)


def load_items(path: Path) -> list[dict]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    # The golden set labels one entry per item as `id`; the evaluation set uses `ids`.
    return [{**i, "ids": i.get("ids", [i["id"]] if "id" in i else [])} for i in data["items"]]


def evaluate(retriever: FaqRetriever, items: list[dict]) -> list[Outcome]:
    known = set(retriever.entries)
    indexed = {fold(t) for e in retriever.entries.values() for t in e.texts}
    leaks = [i["q"] for i in items if fold(i["q"]) in indexed]
    if leaks:
        raise SystemExit(f"{len(leaks)} evaluation questions are also in the knowledge base, e.g. {leaks[:3]}")
    unknown = sorted({x for i in items for x in i.get("ids") or [] if x not in known})
    if unknown:
        raise SystemExit(f"evaluation set refers to unknown entries: {unknown}")
    outcomes = []
    for item in items:
        ids = list(item.get("ids") or [])
        result = retriever.retrieve(item["q"], k=10)
        topic = retriever.entries[ids[0]].topic if ids else "(out of scope)"
        outcomes.append(Outcome(item["q"], ids, item.get("style", "?"), topic,
                                [h.entry_id for h in result.hits], result.confident))
    return outcomes


def summarise(outcomes: list[Outcome]) -> dict[str, float]:
    scoped = [o for o in outcomes if o.ids]
    n = len(scoped) or 1
    return {
        "n": len(scoped),
        "top1": sum(o.rank == 1 for o in scoped) / n,
        "top3": sum(o.rank is not None and o.rank <= 3 for o in scoped) / n,
        "mrr": sum(1 / o.rank for o in scoped if o.rank) / n,
        "answered": sum(o.confident for o in scoped) / n,
    }


def row(name: str, s: dict[str, float]) -> str:
    return f"{name:<22}{s['n']:>5}{s['top1']:>8.3f}{s['top3']:>8.3f}{s['mrr']:>8.3f}{s['answered']:>10.3f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--set", type=Path, default=DEFAULT_SET)
    parser.add_argument("--build-dir", type=Path, default=None)
    parser.add_argument("--check", action="store_true", help="exit 1 if a target is missed")
    parser.add_argument("--misses", action="store_true", help="list the questions answered wrongly")
    args = parser.parse_args()
    settings = Settings.from_env()
    embedder = Embedder(settings.embed_model, query_prefix=settings.embed_query_prefix,
                        doc_prefix=settings.embed_doc_prefix)
    retriever = FaqRetriever(args.build_dir or settings.index_dir, embedder,
                             threshold=settings.answer_threshold, margin=settings.answer_margin)
    outcomes = evaluate(retriever, load_items(args.set))

    header = f"{'':<22}{'n':>5}{'top1':>8}{'top3':>8}{'MRR':>8}{'answered':>10}"
    print(f"FAQ retrieval on {args.set.name}: {len(outcomes)} questions, index {retriever.index_path.name}, "
          f"threshold {settings.answer_threshold}, margin {settings.answer_margin}\n")
    print(header)
    print(row("all", summarise(outcomes)))
    by_style: dict[str, list[Outcome]] = defaultdict(list)
    by_topic: dict[str, list[Outcome]] = defaultdict(list)
    for o in outcomes:
        by_style[o.style].append(o)
        by_topic[o.topic].append(o)
    print("\nby style")
    for style in ("accented", "unaccented", "teencode", "long_story"):
        if by_style.get(style):
            print(row(f"  {style}", summarise(by_style[style])))
    print("\nby topic")
    for topic in sorted(t for t in by_topic if t != "(out of scope)"):
        print(row(f"  {topic}", summarise(by_topic[topic])))

    wrong = [o for o in outcomes if o.answered_wrong]
    oos = by_topic.get("(out of scope)", [])
    confident_wrong = len(wrong) / len(outcomes)
    unsure = sum(not o.confident for o in outcomes) / len(outcomes)
    print(f"\nconfident wrong answers: {len(wrong)}/{len(outcomes)} = {confident_wrong:.3f} "
          f"(target <= {TARGETS['confident_wrong']})")
    print(f"asked instead of answering: {unsure:.3f}; out-of-scope answered confidently: "
          f"{sum(o.confident for o in oos)}/{len(oos)}")
    if args.misses:
        print("\nconfident wrong answers:")
        for o in wrong:
            print(f"  [{o.style}] {o.q!r}\n      expected {o.ids}, answered {o.ranked[:1]}")

    checks = {f"confident wrong {confident_wrong:.3f} <= {TARGETS['confident_wrong']}":
              confident_wrong <= TARGETS["confident_wrong"]}
    accented = [o for o in by_style.get("accented", []) if o.ids]
    unaccented = [o for o in by_style.get("unaccented", []) + by_style.get("teencode", []) if o.ids]
    if accented:
        top1 = summarise(accented)["top1"]
        checks[f"top-1 accented {top1:.3f} >= {TARGETS['top1_accented']}"] = top1 >= TARGETS["top1_accented"]
    if unaccented:
        top1 = summarise(unaccented)["top1"]
        checks[f"top-1 unaccented+teencode {top1:.3f} >= {TARGETS['top1_unaccented']}"] = (
            top1 >= TARGETS["top1_unaccented"])
    print("\ntargets:")
    for name, ok in checks.items():
        print(f"  {'OK  ' if ok else 'MISS'} {name}")
    return 1 if args.check and not all(checks.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
