"""Phrases matched from the positions arrays score exactly as Whoosh's own phrase search, on real articles."""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import numpy as np
import pytest
from whoosh.query import Or, Phrase

from kb.content import load_library
from kb.search import phrases
from kb.search.indexer import build_index, current_build
from kb.search.keyword import KeywordIndex

PROJECT = Path(__file__).resolve().parent.parent
ARTICLES = {a.id: a for a in load_library(PROJECT / "articles")}


@pytest.fixture(scope="module")
def demo_keywords(tmp_path_factory: pytest.TempPathFactory) -> dict[str, KeywordIndex]:
    """The demo's keyword indexes in every language (no models: phrases are keyword work)."""
    index_dir = tmp_path_factory.mktemp("phrases") / "search_index"
    build_index(load_library(PROJECT / "articles"), index_dir, {})
    build = current_build(index_dir)
    assert build is not None
    return {folder.name: KeywordIndex(folder, folder.name) for folder in (build / "keyword").iterdir()}


def whoosh(kw: KeywordIndex, stems: list[str], fields: tuple[str, ...], boost: float) -> dict[int, float]:
    query = Or([Phrase(f, stems, slop=1, boost=boost) for f in fields])
    return {r.docnum: r.score for r in kw.searcher.search(query, limit=None)}


def sample_phrases(kw: KeywordIndex, rng: random.Random) -> list[list[str]]:
    """Runs of two to four stems from the articles' own text (they match), the same stems shuffled (they
    mostly do not), a stem repeated, and a stem no article has."""
    found: list[list[str]] = []
    for docnum in rng.sample(range(kw.postings.doc_count), min(12, kw.postings.doc_count)):
        article = ARTICLES[kw.searcher.stored_fields(docnum)["id"]]
        stems = kw.stems(" ".join([article.title, *(s.text for s in article.sections)]))
        for _ in range(6):
            if len(stems) < 5:
                break
            size = rng.randint(2, 4)
            start = rng.randrange(len(stems) - size)
            run = stems[start : start + size]
            found += [run, rng.sample(run, len(run)), [run[0], run[0]], [run[0], "zzzunknownzzz"]]
    return found


@pytest.mark.parametrize("locale", ["en", "fr", "ko", "ar"])
def test_phrase_scores_are_whooshs_in_every_language(demo_keywords: dict[str, KeywordIndex], locale: str) -> None:
    kw = demo_keywords[locale]
    rng = random.Random(7)
    matched = 0
    for stems in sample_phrases(kw, rng):
        for fields, boost in ((("title", "body"), 2.0), (phrases.FIELDS, 0.7)):
            expected = whoosh(kw, stems, fields, boost)
            got = kw.phrases.score(stems, fields, boost)
            assert got.keys() == expected.keys(), stems
            assert [got[d] for d in sorted(got)] == pytest.approx([expected[d] for d in sorted(got)], rel=1e-12)
            matched += bool(expected)
    assert matched >= 40  # most runs from the text match: the comparison is not of empty results


def test_words_apart_or_out_of_order_are_no_phrase(demo_keywords: dict[str, KeywordIndex]) -> None:
    kw = demo_keywords["en"]
    assert kw.phrases.score(kw.stems("points expiry"), ("title",), 2.0)  # "Set up points expiry"
    assert not kw.phrases.score(kw.stems("expiry points"), ("title",), 2.0)
    assert not kw.phrases.score(kw.stems("set expiry"), ("title",), 2.0)  # "points" stands between


def test_an_index_without_phrase_arrays_reads_them_from_whoosh(
    demo_keywords: dict[str, KeywordIndex], tmp_path: Path
) -> None:
    folder = Path(demo_keywords["en"].ix.storage.folder)
    old = shutil.copytree(folder, tmp_path / "en")
    shutil.rmtree(old / phrases.FOLDER)
    kw = KeywordIndex(old, "en")
    stems = kw.stems("points expiry")
    assert kw.phrases.score(stems, ("title", "body"), 2.0) == demo_keywords["en"].phrases.score(
        stems, ("title", "body"), 2.0
    )
    assert whoosh(kw, stems, ("title", "body"), 2.0)


def test_documents_in_both_lists_are_numpy_s_intersection() -> None:
    from kb.search.phrases import in_both

    rng = np.random.default_rng(8)
    for n, m in ((0, 5), (5, 0), (1, 1), (30, 50_000), (50_000, 30), (4_000, 4_000)):
        a = np.sort(rng.choice(100_000, n, replace=False)).astype(np.int64)
        b = np.sort(rng.choice(100_000, m, replace=False)).astype(np.int64)
        assert in_both(a, b).tolist() == np.intersect1d(a, b, assume_unique=True).tolist()
