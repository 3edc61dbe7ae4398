"""The scoring arrays come from term counts kept beside the index: equal to what Whoosh holds after a
fresh build, and after an edit equal to a fresh build of the edited articles."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import write_tree

from kb.content import load_library
from kb.search import phrases, postings, term_counts
from kb.search.indexer import build_index, current_build
from kb.search.keyword import FIELDS

PROJECT = Path(__file__).resolve().parent.parent


def assert_same_postings(got: postings.Postings, expected: postings.Postings) -> None:
    assert got.terms == expected.terms and got.ids == expected.ids and got.words == expected.words
    assert list(got.categories) == list(expected.categories)
    for name in ("offsets", "docs", "weights", "coverage_df"):
        assert np.array_equal(getattr(got, name), getattr(expected, name)), name


def assert_same_phrases(got: phrases.Phrases, expected: phrases.Phrases) -> None:
    assert got.fields.keys() == expected.fields.keys()
    for field, want in expected.fields.items():
        have = got.fields[field]
        assert have.terms == want.terms, field
        for name in ("offsets", "docs", "weights", "starts", "positions"):
            assert np.array_equal(getattr(have, name), getattr(want, name)), (field, name)


@pytest.fixture(scope="module")
def demo_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    index_dir = tmp_path_factory.mktemp("counts") / "search_index"
    build_index(load_library(PROJECT / "articles"), index_dir, {})
    build = current_build(index_dir)
    assert build is not None
    return build


@pytest.mark.parametrize("locale", ["en", "fr", "ko", "ar"])
def test_arrays_from_counts_equal_whooshs_own_in_every_language(demo_build: Path, locale: str) -> None:
    folder = demo_build / "keyword" / locale
    assert_same_postings(postings.load(folder, FIELDS), postings.read_whoosh(folder, FIELDS))  # bit for bit
    assert_same_phrases(phrases.load(folder), phrases.read_whoosh(folder))


def guide(number: int, text: str = "This guide explains step {n} of the setup.") -> str:
    return (
        f"---\ntitle: Guide number {number}\n---\n\n{text.format(n=number)}\n\n## Details\n\nMore on step {number}.\n"
    )


def arrays(index_dir: Path) -> tuple[postings.Postings, phrases.Phrases]:
    build = current_build(index_dir)
    assert build is not None
    return postings.load(build / "keyword" / "en", FIELDS), phrases.load(build / "keyword" / "en")


def test_an_edit_gives_the_arrays_of_a_fresh_build(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "articles", {f"en/guides/guide-{i:02}.md": guide(i) for i in range(0, 40, 2)})
    index_dir = tmp_path / "search_index"
    build_index(load_library(root), index_dir, {})
    write_tree(root, {"en/guides/guide-07.md": guide(7, "A new guide in the middle: zanzibar step {n}.")})  # added
    write_tree(root, {"en/guides/guide-10.md": guide(10, "The zanzibar setting replaced step {n}.")})  # changed
    (root / "en/guides/guide-20.md").unlink()  # removed: its words must leave every statistic
    report = build_index(load_library(root), index_dir, {})
    assert (report.added, report.changed, report.removed) == (["en/guide-07"], ["en/guide-10"], ["en/guide-20"])
    edited = arrays(index_dir)
    fresh_dir = tmp_path / "fresh"
    build_index(load_library(root), fresh_dir, {})
    fresh = arrays(fresh_dir)
    assert_same_postings(edited[0], fresh[0])
    assert_same_phrases(edited[1], fresh[1])
    assert edited[0].ids == [a.id for a in load_library(root)]  # the added one in its place, the removed one gone


def test_counts_of_unchanged_articles_are_carried_not_analysed_again(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "articles", {f"en/guides/guide-{i:02}.md": guide(i) for i in range(5)})
    index_dir = tmp_path / "search_index"
    build_index(load_library(root), index_dir, {})
    build = current_build(index_dir)
    assert build is not None
    counts = term_counts.load(build / "keyword" / "en")
    assert counts is not None
    # Mark a word of an unchanged article in the kept counts: an edit elsewhere must carry it over as it is.
    counts.vocabulary[counts.vocabulary.index("setup")] = "setupmarked"
    term_counts.save(counts, build / "keyword" / "en")
    write_tree(root, {"en/guides/guide-03.md": guide(3, "Step {n} changed.")})
    build_index(load_library(root), index_dir, {})
    edited = arrays(index_dir)[0]
    assert "setupmarked" in edited.terms and "setup" not in edited.terms


def test_taking_documents_by_runs_equals_taking_them_one_by_one() -> None:
    # An edit's order is the old one with a few rows swapped in: copied a run at a time, as a gather would.
    rng = np.random.default_rng(4)
    for trial in range(60):
        n = int(rng.integers(1, 40))
        docs_at = term_counts._offsets(rng.integers(0, 5, n))
        entries = int(docs_at[-1])
        positions_at = term_counts._offsets(rng.integers(0, 4, entries))
        field = term_counts.FieldCounts(
            docs_at,
            rng.integers(0, 100, entries).astype(np.int32),
            rng.integers(1, 5, entries).astype(np.int32),
            rng.integers(0, 9, n),
            positions_at,
            rng.integers(0, 50, int(positions_at[-1])).astype(np.int32),
        )
        if trial % 3 == 0:  # an edit: the old order with one row moved to the end
            rows = np.concatenate([np.arange(0, n // 2), np.arange(n // 2 + 1, n), [n // 2]])
        else:  # any order, some rows left out
            rows = rng.permutation(n)[: int(rng.integers(0, n + 1))]
        rows = np.asarray(rows, dtype=np.int64)
        taken, gathered = term_counts._take(field, rows), term_counts._gather(field, rows)
        for name in ("docs_at", "terms", "freqs", "lengths", "positions_at", "positions"):
            assert np.array_equal(getattr(taken, name), getattr(gathered, name)), (trial, name)
            assert getattr(taken, name).dtype == getattr(gathered, name).dtype
    many = term_counts.FieldCounts(
        *(
            np.asarray(a)
            for a in (
                np.arange(2_001),
                np.arange(2_000) % 7,
                np.ones(2_000),
                np.ones(2_000),
                np.arange(2_001),
                np.arange(2_000),
            )
        )
    )
    shuffled = rng.permutation(2_000)  # past MAX_RUNS runs: gathered entry by entry
    assert term_counts._take(many, shuffled).terms.tolist() == (shuffled % 7).tolist()
