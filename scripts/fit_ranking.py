"""Fit the ranking model and the answer policy (helpline/kb/ranking_model.json) on tuning halves only.

    python scripts/fit_ranking.py [--write] [--max-wrong 0.015]

The tuning half of each evaluation set is its even-numbered items (0, 2, 4, ...); the odd
items are never used here, so `make eval --half held` reports on questions the fit never saw.
Steps:
1. feature rows of every candidate entry for each tuning question (retriever.feature_rows);
2. listwise maximum likelihood: a softmax over each question's candidates plus a "none of them"
   option must put its mass on the right entries (on "none" for out-of-scope questions);
3. thresholds: `answer_at` is the lowest probability at which answers shown alone are wrong
   (or answer an out-of-scope question) at most --max-wrong of the time, in each set; `suggest_at`
   is the highest threshold under which the first entries are right less than 40 % of the time,
   taken together: below it the bot asks instead of answering with alternatives.
Without --write it prints what it would write.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from helpline.kb.embedder import Embedder  # noqa: E402
from helpline.kb.ranking import FEATURES, FIXED_WEIGHTS, HAND_SET, MODEL_FILE, Outcome, RankingModel  # noqa: E402
from helpline.kb.retriever import POOL, FaqRetriever  # noqa: E402
from helpline.settings import PROJECT_ROOT, Settings  # noqa: E402
from scripts.eval_retrieval import SETS, load_items  # noqa: E402
from scripts.evaluation import half  # noqa: E402

TOP_CANDIDATES = 80
MIN_BAND = 10  # questions needed below a threshold before they can set suggest_at
ASK_BELOW_RIGHT = 0.4


def tuning_items() -> list[dict]:
    """The even-numbered items of each evaluation set, each marked with the set it comes from."""
    items = []
    for path in SETS:
        if path.is_file():
            items += [{**i, "set": path.name} for i in half(load_items(path), "tune")]
    return items


def collect(retriever: FaqRetriever, items: list[dict]) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per question: the feature rows of its best candidates (by the hand-set fusion) and their labels."""
    ids_of = list(retriever.entries)
    out = []
    for n, item in enumerate(items, 1):
        _, candidate, rows = retriever.feature_rows(item["q"])
        base = np.where(candidate, HAND_SET.scores(rows), -np.inf)
        top = np.argsort(-base)[:TOP_CANDIDATES]
        top = top[np.isfinite(base[top])]
        wanted = set(item["ids"])
        out.append((rows[top], np.asarray([ids_of[i] in wanted for i in top], dtype=np.float64)))
        if n % 100 == 0:
            print(f"  features of {n}/{len(items)} tuning questions", flush=True)
    return out


def _loss(params: np.ndarray, groups: list[tuple[np.ndarray, np.ndarray]], l2: float) -> tuple[float, np.ndarray]:
    """Listwise negative log-likelihood (softmax over candidates + "none") and its gradient."""
    w, none = params[:-1], params[-1]
    loss = l2 * float(w @ w)
    grad = np.zeros_like(params)
    grad[:-1] = 2 * l2 * w
    for rows, labels in groups:
        z = np.append(rows @ w, none) if len(rows) else np.asarray([none])
        target = np.append(labels, 0.0 if labels.any() else 1.0)
        z_max = z.max()
        p = np.exp(z - z_max)
        total = p.sum()
        p /= total
        right = target > 0
        loss -= float(np.log(p[right].sum()))
        # d(-log sum_right p)/dz = p - p * right / p_right
        q = p.copy()
        q[right] -= p[right] / p[right].sum()
        grad[:-1] += rows.T @ q[:-1] if len(rows) else 0.0
        grad[-1] += q[-1]
    return loss / len(groups), grad / len(groups)


def _answer_threshold(probs: np.ndarray, right: np.ndarray, max_wrong: float) -> float:
    """The lowest probability from which answers shown alone are wrong at most max_wrong of the time."""
    answer_at = 1.0
    for t in sorted(set(np.round(probs, 3).tolist()), reverse=True):
        if ((probs >= t) & ~right).sum() / len(probs) > max_wrong:
            break
        answer_at = t
    return answer_at


def fit(groups: list[tuple[np.ndarray, np.ndarray]], sets: np.ndarray, max_wrong: float, l2: float,
        drop: tuple[str, ...] = ()) -> RankingModel:
    from scipy.optimize import minimize

    start = np.append(HAND_SET.vector, HAND_SET.none_score)
    pinned = {**FIXED_WEIGHTS, **dict.fromkeys(drop, 0.0)}
    fixed = [(i, pinned[f]) for i, f in enumerate(FEATURES) if f in pinned]
    bounds = [(v, v) if (v := pinned.get(f)) is not None else (None, None) for f in FEATURES] + [(None, None)]
    for i, value in fixed:
        start[i] = value
    result = minimize(_loss, start, args=(groups, l2), jac=True, method="L-BFGS-B", bounds=bounds)
    weights = dict(zip(FEATURES, result.x[:-1].tolist(), strict=True))
    model = RankingModel(weights=weights, none_score=float(result.x[-1]))

    probs, right = [], []
    for rows, labels in groups:
        if len(rows) == 0:
            probs.append(0.0)
            right.append(False)
            continue
        scores = model.scores(rows)
        order = np.argsort(-scores)
        probs.append(float(model.probabilities(scores[order][:POOL])[0]))
        right.append(bool(labels[order[0]] > 0))
    p_arr, right_arr = np.asarray(probs), np.asarray(right)
    total = len(groups)
    # The strictest threshold any one set needs: short questions are easier than letters.
    answer_at = max(_answer_threshold(p_arr[sets == name], right_arr[sets == name], max_wrong)
                    for name in sorted(set(sets.tolist())))
    # The bot asks below the highest threshold (in steps of 0.05) under which the first entries
    # are right less than ASK_BELOW_RIGHT of the time, taken together. An answer with
    # alternatives still leaves the right entry one tap away, so asking pays only where the
    # first entry is mostly wrong. Cumulative, so a small noisy band cannot move it.
    suggest_at = 0.05
    for t in np.arange(0.05, answer_at, 0.05):
        below = p_arr < t
        if below.sum() >= MIN_BAND and right_arr[below].mean() < ASK_BELOW_RIGHT:
            suggest_at = float(t)
    alone, shown = p_arr >= answer_at, p_arr >= suggest_at
    notes = {
        "loss": float(result.fun),
        "tuning_questions": float(total),
        "tuning_top1": float(right_arr.mean()),
        "tuning_answered_alone": float(alone.mean()),
        "tuning_wrong_alone": float((alone & ~right_arr).sum() / total),
        "tuning_answered_any": float(shown.mean()),
        "tuning_right_answered": float((shown & right_arr).sum() / total),
    }
    return RankingModel(weights={k: round(v, 5) for k, v in weights.items()}, none_score=round(model.none_score, 5),
                        answer_at=round(answer_at, 3), suggest_at=round(suggest_at, 3),
                        fitted_on="even-numbered items of " + ", ".join(p.name for p in SETS if p.is_file()),
                        notes={k: round(v, 4) for k, v in notes.items()})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--write", action="store_true", help=f"write {MODEL_FILE.relative_to(PROJECT_ROOT)}")
    parser.add_argument("--max-wrong", type=float, default=0.015)
    parser.add_argument("--l2", type=float, default=0.001)
    parser.add_argument("--drop", action="append", default=[], choices=FEATURES,
                        help="pin a feature's weight at 0 (ablation); repeatable")
    args = parser.parse_args()
    settings = Settings.from_env()
    embedder = Embedder(settings.embed_model, query_prefix=settings.embed_query_prefix,
                        doc_prefix=settings.embed_doc_prefix)
    retriever = FaqRetriever(settings.index_dir, embedder, model=HAND_SET)
    items = tuning_items()
    print(f"fitting on {len(items)} tuning questions (even-numbered items); index {retriever.index_path.name}")
    model = fit(collect(retriever, items), np.asarray([i["set"] for i in items]), args.max_wrong, args.l2,
                tuple(args.drop))
    print(model.to_json())
    print(f"outcomes: answer alone from P >= {model.answer_at}, with alternatives from P >= {model.suggest_at}, "
          f"else {Outcome.ASK.value}")
    if args.write:
        MODEL_FILE.write_text(model.to_json(), encoding="utf-8")
        print(f"wrote {MODEL_FILE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
