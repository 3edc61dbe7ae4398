"""Parsed articles kept between loads of the articles tree (kb.content.parse_cache): reused while a file's
bytes are the same, dated again on every load, problems reported again; a broken file is ignored."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

from conftest import PROJECT

from kb.content import load_library
from kb.content.parse_cache import ParseCache, parsed_in

ARTICLES = PROJECT / "articles"


def _fields(library: object) -> dict[str, dict]:
    return {a.id: dataclasses.asdict(a) for a in library}  # type: ignore[attr-defined]


def test_a_second_load_reuses_every_parse_and_serves_the_same_articles(tmp_path: Path) -> None:
    kept = tmp_path / "rendered.pickle"
    first = load_library(ARTICLES, rendered=kept)
    assert parsed_in(tmp_path).exists()
    written = parsed_in(tmp_path).stat().st_mtime_ns
    again = load_library(ARTICLES, rendered=kept)
    assert _fields(again) == _fields(first) == _fields(load_library(ARTICLES))
    assert again.problems == first.problems
    assert parsed_in(tmp_path).stat().st_mtime_ns == written  # all reused: nothing to write
    cache = ParseCache(parsed_in(tmp_path))
    path = sorted(ARTICLES.glob("en/*/*.md"))[0]
    rel = path.relative_to(ARTICLES).as_posix()
    article, _ = cache.parse(rel, path.read_bytes(), lambda: (None, []))  # kept: the parser is not called
    assert article is not None and cache.reused == 1


def test_an_edited_file_is_parsed_again_and_its_problems_reported_from_the_kept_parse(tmp_path: Path) -> None:
    articles = tmp_path / "articles"
    shutil.copytree(ARTICLES, articles)
    kept = tmp_path / "index" / "rendered.pickle"
    load_library(articles, rendered=kept)
    path = sorted(articles.glob("en/*/*.md"))[0]
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("title:", "title: Renamed", 1).replace("\nsummary:", "\nsummary_x:", 1), "utf-8")
    rel = path.relative_to(articles).as_posix()
    for _ in range(2):  # parsed, then kept: the same article and the same warnings either way
        library = load_library(articles, rendered=kept)
        edited = next(a for a in library if a.path == rel)
        assert edited.title.startswith("Renamed")
        assert [p.message for p in library.problems if p.path == rel] == [
            "unknown front matter key 'summary_x'",
            "no summary: search results and the meta description use the first paragraph",
        ]


def test_a_broken_kept_file_is_ignored(tmp_path: Path) -> None:
    kept = tmp_path / "rendered.pickle"
    parsed_in(tmp_path).write_bytes(b"not a pickle")
    assert _fields(load_library(ARTICLES, rendered=kept)) == _fields(load_library(ARTICLES))
    assert ParseCache(parsed_in(tmp_path)).parse("x.md", b"", lambda: (None, [])) == (None, [])
