"""Measure search quality: recall@k, MRR, nDCG, suggestion hit rate and abstention, latency.

Used by ``kb eval`` on a JSONL file and by ``kb check`` on the writers' ``_search_tests.yml``.
"""

from __future__ import annotations

import json
import math
import statistics
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from kb.content import Problem
from kb.content.yaml_values import items, read
from kb.search import Searcher

TESTS_FILE = "_search_tests.yml"


@dataclass(frozen=True)
class LabelledQuery:
    query: str
    relevant: list[str]  # slugs; empty when no article answers the query
    locale: str = "en"
    line: int = 0
    file: str = TESTS_FILE
    known_gap: str = ""  # a miss the writers know about: reported as a warning, like an expected failure


@dataclass
class Outcome:
    query: LabelledQuery
    ranked: list[str]
    suggested: list[str]
    ms: float


def read_jsonl(path: Path) -> list[LabelledQuery]:
    queries = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            data = json.loads(line)
            queries.append(
                LabelledQuery(
                    str(data["query"]),
                    [str(r) for r in data.get("relevant") or []],
                    str(data.get("locale") or data.get("lang") or "en"),
                    number,
                )
            )
    return queries


def read_search_tests(articles_dir: Path) -> tuple[list[LabelledQuery], list[Problem]]:
    """Read the writers' search tests: ``_search_tests.yml`` at the top (English unless an item says
    ``locale:``) and ``<locale>/_search_tests.yml`` per language."""
    queries: list[LabelledQuery] = []
    problems: list[Problem] = []
    files = [(articles_dir / TESTS_FILE, "en")]
    files += [(p, p.parent.name) for p in sorted(articles_dir.glob(f"*/{TESTS_FILE}"))]
    for path, locale in files:
        if path.exists():
            found, wrong = _read_tests_file(path, path.relative_to(articles_dir).as_posix(), locale)
            queries += found
            problems += wrong
    return queries, problems


def _read_tests_file(path: Path, rel: str, default_locale: str) -> tuple[list[LabelledQuery], list[Problem]]:
    data, problems = read(path, rel)
    if data is None:
        return [], problems
    if not isinstance(data, yaml.SequenceNode):
        return [], [Problem(rel, 1, "expected a list of tests, each `- q: ...` with `expect: ...`")]
    queries: list[LabelledQuery] = []
    for line, entry in items(data, rel, problems):
        if not isinstance(entry, dict) or not str(entry.get("q") or "").strip() or "expect" not in entry:
            problems.append(Problem(rel, line, "each test needs `q:` and `expect:` (a slug, a list, or null)"))
            continue
        expect = entry["expect"]
        relevant = [] if expect is None else [str(e) for e in (expect if isinstance(expect, list) else [expect])]
        queries.append(
            LabelledQuery(
                str(entry["q"]),
                relevant,
                str(entry.get("locale") or default_locale),
                line,
                rel,
                str(entry.get("known_gap") or ""),
            )
        )
    return queries, problems


def run(searcher: Searcher, queries: Iterable[LabelledQuery], mode: str = "hybrid") -> list[Outcome]:
    """Run every query once; ``suggested`` is what the contact form would show."""
    outcomes = []
    for q in queries:
        started = time.perf_counter()
        ranked, _ = searcher.rank(q.query, q.locale, mode)
        top = ranked[:10]
        ms = (time.perf_counter() - started) * 1000
        slugs = [c.article_id.split("/", 1)[1] for c in top]
        suggested = [c.article_id.split("/", 1)[1] for c in top[:3] if c.confidence >= searcher.threshold]
        outcomes.append(Outcome(q, slugs, suggested, ms))
    return outcomes


def metrics(outcomes: list[Outcome]) -> dict[str, Any]:
    answerable = [o for o in outcomes if o.query.relevant]
    unanswerable = [o for o in outcomes if not o.query.relevant]
    n = max(1, len(answerable))

    def hit(o: Outcome, ranked: list[str], k: int) -> bool:
        return any(r in o.query.relevant for r in ranked[:k])

    def rr(o: Outcome) -> float:
        return next((1 / (i + 1) for i, r in enumerate(o.ranked[:10]) if r in o.query.relevant), 0.0)

    def ndcg(o: Outcome) -> float:
        dcg = sum(1 / math.log2(i + 2) for i, r in enumerate(o.ranked[:10]) if r in o.query.relevant)
        ideal = sum(1 / math.log2(i + 2) for i in range(min(10, len(o.query.relevant))))
        return dcg / ideal

    ms = sorted(o.ms for o in outcomes) or [0.0]
    hit_rate = sum(hit(o, o.suggested, 3) for o in answerable) / n
    abstain = sum(not o.suggested for o in unanswerable) / len(unanswerable) if unanswerable else None
    return {
        "queries": len(outcomes),
        "answerable": len(answerable),
        "unanswerable": len(unanswerable),
        "recall@1": sum(hit(o, o.ranked, 1) for o in answerable) / n,
        "recall@3": sum(hit(o, o.ranked, 3) for o in answerable) / n,
        "recall@10": sum(hit(o, o.ranked, 10) for o in answerable) / n,
        "mrr@10": sum(rr(o) for o in answerable) / n,
        "ndcg@10": sum(ndcg(o) for o in answerable) / n,
        "suggest_hit_rate": hit_rate,
        "abstain_rate": abstain,
        "deflection_balanced": (hit_rate + abstain) / 2 if abstain is not None else None,
        "p50_ms": statistics.median(ms),
        "p95_ms": ms[min(len(ms) - 1, int(0.95 * len(ms)))],
    }


def failures(outcomes: list[Outcome]) -> list[Problem]:
    """The writers' tests that broke: a top-3 miss, or a suggestion where none should be.

    A test marked ``known_gap: why`` that fails is a warning (``kb check --strict`` still fails on it);
    one that passes again is a warning too, so the mark gets removed.
    """
    found = []
    for o in outcomes:
        if o.query.known_gap:
            missed = (o.query.relevant and not any(r in o.query.relevant for r in o.ranked[:3])) or (
                not o.query.relevant and o.suggested
            )
            message = (
                f"known gap still open: {o.query.query!r} ({o.query.known_gap})"
                if missed
                else f"known gap now passes: {o.query.query!r}; remove `known_gap`"
            )
            found.append(Problem(o.query.file, o.query.line, message, "warning"))
            continue
        if o.query.relevant and not any(r in o.query.relevant for r in o.ranked[:3]):
            got = ", ".join(o.ranked[:3]) or "nothing"
            found.append(
                Problem(
                    o.query.file,
                    o.query.line,
                    f"search test failed: {o.query.query!r} should find {' or '.join(o.query.relevant)} "
                    f"in the top 3, got {got}",
                )
            )
        elif not o.query.relevant and o.suggested:
            found.append(
                Problem(
                    o.query.file,
                    o.query.line,
                    f"search test failed: {o.query.query!r} has no answer but the contact form would "
                    f"suggest {', '.join(o.suggested)}",
                )
            )
    return found
