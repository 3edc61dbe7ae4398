"""`kb eval` figures and dump on hand-made queries, and `kb check` running the writers' search tests."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import Any

import pytest
from conftest import make_app

FIGURES = (
    "recall@1",
    "recall@3",
    "recall@10",
    "mrr@10",
    "ndcg@10",
    "suggest_hit_rate",
    "abstain_rate",
    "p50_ms",
    "p95_ms",
)

HYBRID_QUERIES = [
    {"query": "PK-4011", "relevant": ["install-on-shopify"], "locale": "en"},  # first
    {"query": "how do I cancel my subscription", "relevant": ["cancel-your-subscription"]},  # first
    {"query": "launch the program", "relevant": ["no-such-article"], "locale": "en"},  # never
    {"query": "how do I bake sourdough bread", "relevant": [], "locale": "en"},  # no answer
]

KEYWORD_QUERIES = [
    {"query": "PK-4011", "relevant": ["install-on-shopify"]},  # only match: first
    {"query": "Store connection expired", "relevant": ["set-up-points-expiry"]},  # second, after the install
    {"query": "I no longer want to be charged", "relevant": ["cancel-your-subscription"]},  # no shared word
    {"query": "sourdough bread", "relevant": []},  # no answer, no match
]


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def evaluate(app: Any, tmp_path: Path, rows: list[dict[str, Any]], mode: str) -> tuple[dict[str, Any], list[dict]]:
    queries = write_jsonl(tmp_path / f"queries-{mode}.jsonl", rows)
    dump = tmp_path / f"dump-{mode}.jsonl"
    result = app.test_cli_runner().invoke(args=["eval", str(queries), "--mode", mode, "--json", "--dump", str(dump)])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output[result.output.index("{") :])
    lines = [json.loads(line) for line in dump.read_text(encoding="utf-8").splitlines()]
    return figures, lines


def test_hybrid_figures_on_hand_made_queries(indexed_app: Any, tmp_path: Path) -> None:
    figures, dump = evaluate(indexed_app, tmp_path, HYBRID_QUERIES, "hybrid")
    assert set(FIGURES) <= set(figures)
    assert (figures["queries"], figures["answerable"], figures["unanswerable"]) == (4, 3, 1)
    for key in ("recall@1", "recall@3", "recall@10", "mrr@10", "ndcg@10"):
        assert figures[key] == pytest.approx(2 / 3), key
    assert figures["suggest_hit_rate"] == pytest.approx(2 / 3)
    assert figures["abstain_rate"] == 1.0
    assert figures["mode"] == "hybrid" and figures["semantic"] is True
    assert [d["ranked"][0] for d in dump[:2]] == ["install-on-shopify", "cancel-your-subscription"]
    assert dump[3]["suggested"] == []


def test_keyword_figures_on_hand_made_queries(indexed_app: Any, tmp_path: Path) -> None:
    figures, dump = evaluate(indexed_app, tmp_path, KEYWORD_QUERIES, "keyword")
    assert [d["ranked"] for d in dump] == [
        ["install-on-shopify"],
        ["install-on-shopify", "set-up-points-expiry"],
        [],
        [],
    ]
    assert figures["recall@1"] == pytest.approx(1 / 3)
    assert figures["recall@3"] == pytest.approx(2 / 3)
    assert figures["recall@10"] == pytest.approx(2 / 3)
    assert figures["mrr@10"] == pytest.approx((1 + 1 / 2) / 3)
    assert figures["ndcg@10"] == pytest.approx((1 + 1 / math.log2(3)) / 3)
    assert figures["abstain_rate"] == 1.0
    assert dump[0]["suggested"] == ["install-on-shopify"]  # one exact error-code match: sure
    assert figures["suggest_hit_rate"] == pytest.approx(
        sum(
            bool(set(d["suggested"]) & set(q["relevant"]))
            for d, q in zip(dump, KEYWORD_QUERIES, strict=True)
            if q["relevant"]
        )
        / 3
    )


def test_semantic_mode_finds_the_paraphrase(indexed_app: Any, tmp_path: Path) -> None:
    figures, dump = evaluate(indexed_app, tmp_path, KEYWORD_QUERIES, "semantic")
    assert dump[2]["ranked"][0] == "cancel-your-subscription"
    assert figures["mode"] == "semantic"


@pytest.mark.parametrize("mode", ["hybrid", "keyword", "semantic"])
def test_the_dump_has_one_line_per_query_in_order_and_agrees_with_the_figures(
    indexed_app: Any, tmp_path: Path, mode: str
) -> None:
    rows = HYBRID_QUERIES + KEYWORD_QUERIES + [{"query": "points", "relevant": ["set-up-points-expiry"]}]
    figures, dump = evaluate(indexed_app, tmp_path, rows, mode)
    assert [d["query"] for d in dump] == [r["query"] for r in rows]
    for d in dump:
        assert set(d) == {"query", "ranked", "suggested", "ms"}
        assert len(d["ranked"]) <= 10 and len(set(d["ranked"])) == len(d["ranked"])
        assert all("/" not in slug for slug in d["ranked"])  # slugs, not ids
        assert len(d["suggested"]) <= 3 and d["suggested"] == d["ranked"][: len(d["suggested"])]
        assert d["ms"] >= 0
    answerable = [(d, r) for d, r in zip(dump, rows, strict=True) if r["relevant"]]
    for k in (1, 3, 10):
        hits = sum(bool(set(d["ranked"][:k]) & set(r["relevant"])) for d, r in answerable)
        assert figures[f"recall@{k}"] == pytest.approx(hits / len(answerable))
    ms = sorted(d["ms"] for d in dump)
    assert figures["p50_ms"] <= figures["p95_ms"] <= ms[-1] + 0.01


def test_plain_output_prints_every_figure(indexed_app: Any, tmp_path: Path) -> None:
    queries = write_jsonl(tmp_path / "q.jsonl", HYBRID_QUERIES)
    result = indexed_app.test_cli_runner().invoke(args=["eval", str(queries)])
    assert result.exit_code == 0, result.output
    for key in FIGURES:
        assert any(line.split()[:1] == [key] for line in result.output.splitlines()), key


# -- kb check ----------------------------------------------------------------------------------------

PASSING = """\
# Questions merchants ask.
- q: PK-4011
  expect: install-on-shopify
- q: how do I cancel my subscription
  expect: [cancel-your-subscription, launch-your-program]
- q: lanch the programm
  expect: launch-your-program
- q: how do I bake sourdough bread
  expect: null
"""


def indexed_copy(indexed_root: Path, tmp_path: Path, tests: str) -> Any:
    shutil.copytree(indexed_root / "articles", tmp_path / "articles")
    shutil.copytree(indexed_root / "search_index", tmp_path / "search_index")
    (tmp_path / "articles" / "_search_tests.yml").write_text(tests, encoding="utf-8")
    return make_app(tmp_path / "articles", tmp_path / "search_index", tmp_path / "kb.sqlite3")


def test_check_passes_when_every_search_test_passes(indexed_root: Path, tmp_path: Path) -> None:
    result = indexed_copy(indexed_root, tmp_path, PASSING).test_cli_runner().invoke(args=["check"])
    assert result.exit_code == 0, result.output
    assert "4 articles, 4 search tests: 0 error(s)" in result.output
    assert "search test failed" not in result.output


def test_a_failing_search_test_fails_check_with_its_line(indexed_root: Path, tmp_path: Path) -> None:
    failing = PASSING + (
        "- q: PK-4011\n"  # line 10: a draft is never served, so never found
        "  expect: draft-tiktok-points\n"
        "- q: how do I cancel my subscription\n"  # line 12
        "  expect: null\n"
    )
    result = indexed_copy(indexed_root, tmp_path, failing).test_cli_runner().invoke(args=["check"])
    assert result.exit_code == 1, result.output
    problems = [line for line in result.output.splitlines() if "search test failed" in line]
    assert len(problems) == 2, result.output
    assert problems[0].startswith("_search_tests.yml:10: error:")
    assert "'PK-4011' should find draft-tiktok-points in the top 3, got install-on-shopify," in problems[0]
    assert problems[1].startswith("_search_tests.yml:12: error:")
    assert "would suggest cancel-your-subscription" in problems[1]
    assert "4 articles, 6 search tests: 2 error(s)" in result.output


def test_a_malformed_search_test_is_located(indexed_root: Path, tmp_path: Path) -> None:
    result = (
        indexed_copy(indexed_root, tmp_path, PASSING + "- q: no expectation here\n")
        .test_cli_runner()
        .invoke(args=["check"])
    )
    assert result.exit_code == 1, result.output
    assert "_search_tests.yml:10: error:" in result.output


def test_check_updates_a_stale_index_first(app: Any, articles_dir: Path) -> None:
    (articles_dir / "_search_tests.yml").write_text(PASSING, encoding="utf-8")
    result = app.test_cli_runner().invoke(args=["check"])
    assert result.exit_code == 0, result.output
    assert "out of date" in result.output
    assert "4 search tests: 0 error(s)" in result.output
