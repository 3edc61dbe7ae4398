"""The precomputed BM25F arrays score exactly as Whoosh does, and follow every rewrite of the index."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import MINI_ARTICLES, write_tree
from whoosh import index
from whoosh.query import Or, Term

from kb.content import load_library
from kb.search.indexer import build_index, current_build
from kb.search.keyword import FIELDS, KeywordIndex, WeightedQuery
from kb.search.postings import SCORES, VOCABULARY

EXPIRY = "en/points/set-up-points-expiry.md"


def whoosh_scores(kw: KeywordIndex, stem: str, category: str | None = None) -> dict[str, float]:
    query = Or([Term(f, stem) for f in FIELDS])
    flt = Term("category", category) if category else None
    return {r["id"]: r.score for r in kw.searcher.search(query, limit=None, filter=flt)}


def array_scores(kw: KeywordIndex, stem: str, category: str | None = None) -> dict[str, float]:
    return {h.article_id: h.score for h in kw.score(WeightedQuery({stem: 1.0}, []), limit=1000, category=category)}


@pytest.fixture
def english(indexed_root: Path) -> KeywordIndex:
    build = current_build(indexed_root / "search_index")
    assert build is not None
    return KeywordIndex(build / "keyword" / "en", "en")


def test_arrays_are_saved_with_each_locale_index(indexed_root: Path) -> None:
    build = current_build(indexed_root / "search_index")
    assert build is not None
    for folder in (build / "keyword").iterdir():
        assert (folder / SCORES).exists() and (folder / VOCABULARY).exists()


def test_single_term_scores_equal_whoosh_bm25f(english: KeywordIndex) -> None:
    stems = sorted(english.postings.terms)
    assert len(stems) > 50
    for stem in stems:
        expected, got = whoosh_scores(english, stem), array_scores(english, stem)
        assert got.keys() == expected.keys(), stem
        for article_id, score in expected.items():
            assert got[article_id] == pytest.approx(score, rel=1e-9), (stem, article_id)


def test_hits_name_the_stems_each_article_contains(english: KeywordIndex) -> None:
    terms = english.query_terms("points expiry shopify")
    hits = english.score(terms)  # the stems of the hits come from one call, as coverage asks for them
    by_id = english.matched_stems([h.article_id for h in hits], terms.terms)
    assert by_id["en/set-up-points-expiry"] >= {"point", "expiri"}
    assert "shopifi" in by_id["en/install-on-shopify"]
    assert english.matched_stems(["en/set-up-points-expiry", "fr/elsewhere"], ["expiri"]) == {
        "en/set-up-points-expiry": frozenset({"expiri"})
    }


def test_category_filter_keeps_only_that_category(english: KeywordIndex) -> None:
    for category in ("points", "billing", "getting-started"):
        got = array_scores(english, "point", category)
        assert got.keys() == whoosh_scores(english, "point", category).keys()
        assert all(article_id.startswith("en/") for article_id in got)
    assert array_scores(english, "point", "points")
    assert not array_scores(english, "point", "no-such-category")


def test_ranking_keeps_whooshs_order_with_phrases_and_synonyms(english: KeywordIndex) -> None:
    synonyms = [["cancel", "stop paying"]]
    questions = ("points expiry", "cancel subscription", "install perkly on shopify", "stop paying")
    long = ("hello, my points expiry is set but customers in shopify say points never expire, please cancel it",)
    for text in questions + long:
        query = english.build_query(text, synonyms)
        assert query is not None
        expected = [(r["id"], r.score) for r in english.searcher.search(query, limit=50)]
        got = [(h.article_id, h.score) for h in english.score(english.query_terms(text, synonyms))]
        assert [i for i, _ in got] == [i for i, _ in expected], text
        assert [s for _, s in got] == pytest.approx([s for _, s in expected], rel=1e-9)


def fresh_whoosh_scores(root: Path, folder: Path, stem: str) -> dict[str, float]:
    """Whoosh's scores on a fresh build of ``root``: an edited index's arrays must equal them (its own
    Whoosh segments still count the edited articles' old copies)."""
    build_index(load_library(root), folder, {})
    build = current_build(folder)
    assert build is not None
    return whoosh_scores(KeywordIndex(build / "keyword" / "en", "en"), stem)


def test_an_edited_article_gets_new_scores(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "articles", MINI_ARTICLES)
    index_dir = tmp_path / "search_index"
    build_index(load_library(root), index_dir, {})
    with (root / EXPIRY).open("a", encoding="utf-8") as f:
        f.write("\nThe zanzibar setting keeps zanzibar points forever.\n")
    build_index(load_library(root), index_dir, {})
    build = current_build(index_dir)
    assert build is not None
    kw = KeywordIndex(build / "keyword" / "en", "en")
    assert [h.article_id for h in kw.score(WeightedQuery({"zanzibar": 1.0}, []))] == ["en/set-up-points-expiry"]
    assert array_scores(kw, "point") == fresh_whoosh_scores(root, tmp_path / "fresh", "point")


def test_a_build_without_arrays_reads_them_from_whoosh(tmp_path: Path, indexed_root: Path) -> None:
    build = current_build(indexed_root / "search_index")
    assert build is not None
    old = shutil.copytree(build / "keyword" / "en", tmp_path / "en")
    (old / SCORES).unlink()
    kw = KeywordIndex(old, "en")
    assert array_scores(kw, "point") == pytest.approx(whoosh_scores(kw, "point"), rel=1e-9)


MANY = {
    f"en/guides/guide-{i}.md": f"---\ntitle: Guide number {i}\n---\n\nThis guide explains step {i} of the setup.\n"
    for i in range(30)
}


def _segments(build: Path) -> int:
    return len(index.open_dir(str(build / "keyword" / "en"))._segments())


def _edit(root: Path, number: int, word: str) -> None:
    path = root / f"en/guides/guide-{number}.md"
    path.write_text(path.read_text(encoding="utf-8").replace("explains", word), encoding="utf-8")


def test_an_edit_adds_a_segment_and_a_tenth_stale_rewrites_the_index(tmp_path: Path) -> None:
    # Rewriting the whole Whoosh index for one edited article took 88 s at 10,000 articles.
    root = write_tree(tmp_path / "articles", MANY)
    index_dir = tmp_path / "search_index"
    build_index(load_library(root), index_dir, {})
    _edit(root, 3, "zanzibar")
    build_index(load_library(root), index_dir, {})
    build = current_build(index_dir)
    assert build is not None and _segments(build) == 2  # the old segment kept, the edit beside it
    kw = KeywordIndex(build / "keyword" / "en", "en")
    assert [h.article_id for h in kw.score(WeightedQuery({"zanzibar": 1.0}, []))] == ["en/guide-3"]
    explains = {h.article_id for h in kw.score(WeightedQuery({"explain": 1.0}, []), limit=100)}
    assert "en/guide-3" not in explains and len(explains) == 29  # its old copy is gone from every list
    assert array_scores(kw, "guid") == fresh_whoosh_scores(root, tmp_path / "fresh", "guid")
    for number in (4, 5, 6):  # four of thirty edited: past a tenth stale, the whole index is rewritten
        _edit(root, number, "zanzibar")
        build_index(load_library(root), index_dir, {})
    build = current_build(index_dir)
    assert build is not None and _segments(build) == 1
    kw = KeywordIndex(build / "keyword" / "en", "en")
    assert {h.article_id for h in kw.score(WeightedQuery({"zanzibar": 1.0}, []))} == {
        f"en/guide-{n}" for n in (3, 4, 5, 6)
    }
    assert array_scores(kw, "guid") == whoosh_scores(kw, "guid")  # rewritten whole: Whoosh is fresh again


def test_the_top_of_many_matches_is_the_full_sort_s_ties_and_all() -> None:
    # A common word matches most of a large help center: only the top is sorted, with the ties at its edge.
    from kb.search.keyword import top_documents

    rng = np.random.default_rng(3)
    for size, limit in ((60_000, 50), (120, 50), (50, 50), (10, 50), (500, 1)):
        docs = np.sort(rng.choice(200_000, size, replace=False))
        scores = rng.integers(0, 40, size).astype(np.float64) / 8  # many equal scores
        full = docs[np.lexsort((docs, -scores))[:limit]]
        assert top_documents(docs, scores, limit).tolist() == full.tolist()
