"""Renderings kept between loads of the articles tree (kb.content.render_cache): reused only while the body
and the URLs its links resolve to are the same; a broken file is ignored. Real articles, real files."""

from __future__ import annotations

import shutil
from pathlib import Path

from conftest import PROJECT

from kb.content import load_library
from kb.content.render_cache import RenderCache

ARTICLES = PROJECT / "articles"  # the demo: 108 articles in four languages, with links between them

BODY = "Intro.\n\n## Steps\n\nSee [the other article](other.md#setup) and [the docs](https://example.com).\n"


def _shape(library: object) -> dict[str, tuple]:
    return {
        a.id: (a.html, a.toc, [(s.anchor, s.heading, s.text) for s in a.sections], a.links, a.anchors)
        for a in library  # type: ignore[attr-defined]
    }


def test_a_second_load_reuses_every_rendering_and_serves_the_same_articles(tmp_path: Path) -> None:
    kept = tmp_path / "rendered.pickle"
    first = load_library(ARTICLES, rendered=kept)
    assert kept.exists()
    written = kept.stat().st_mtime_ns
    again = load_library(ARTICLES, rendered=kept)
    assert _shape(again) == _shape(first) == _shape(load_library(ARTICLES))
    assert kept.stat().st_mtime_ns == written  # all reused: nothing to write


def test_an_edited_body_is_rendered_again(tmp_path: Path) -> None:
    articles = tmp_path / "articles"
    shutil.copytree(ARTICLES, articles)
    kept = tmp_path / "rendered.pickle"
    load_library(articles, rendered=kept)
    path = sorted(articles.glob("en/*/*.md"))[0]
    path.write_text(path.read_text(encoding="utf-8") + "\n## Added later\n\nA new paragraph.\n", encoding="utf-8")
    edited = next(a for a in load_library(articles, rendered=kept) if a.path == path.relative_to(articles).as_posix())
    assert "A new paragraph." in edited.html
    assert any(s.heading == "Added later" for s in edited.sections)


def test_a_link_that_resolves_otherwise_renders_again(tmp_path: Path) -> None:
    kept = tmp_path / "rendered.pickle"
    cache = RenderCache(kept)
    before = cache.render(BODY, lambda href: "/en/articles/other" if href.startswith("other.md") else None)
    cache.save()
    assert 'href="/en/articles/other"' in before.html
    moved = RenderCache(kept).render(BODY, lambda href: "/en/articles/renamed" if href.startswith("other.md") else None)
    assert 'href="/en/articles/renamed"' in moved.html and "/en/articles/other" not in moved.html
    same = RenderCache(kept)
    assert same.render(BODY, lambda href: "/en/articles/other" if href.startswith("other.md") else None) == before
    assert same.reused == 1


def test_a_broken_file_is_ignored_and_written_again(tmp_path: Path) -> None:
    kept = tmp_path / "rendered.pickle"
    kept.write_bytes(b"not a pickle at all")
    library = load_library(ARTICLES, rendered=kept)
    assert _shape(library) == _shape(load_library(ARTICLES))
    assert RenderCache(kept).render(BODY, lambda href: None) is not None
    assert kept.read_bytes() != b"not a pickle at all"


def test_a_serving_process_renders_through_its_last_load_without_the_file(tmp_path: Path) -> None:
    # A worker opening a new build: its last load's renderings, in memory, instead of reading the file again.
    articles = tmp_path / "articles"
    shutil.copytree(ARTICLES, articles)
    kept = tmp_path / "rendered.pickle"
    first = RenderCache(kept)
    load_library(articles, rendered=kept, renderings=first)
    kept.write_bytes(b"not a pickle")  # never read again by this process
    path = sorted(articles.glob("en/*/*.md"))[0]
    path.write_text(path.read_text(encoding="utf-8") + "\nA paragraph added since.\n", encoding="utf-8")
    again = RenderCache(None, first.kept())
    library = load_library(articles, rendered=kept, renderings=again)
    edited = next(a for a in library if a.path == path.relative_to(articles).as_posix())
    assert "A paragraph added since." in edited.html
    assert again.reused == len(first.kept()) - 1  # every other body from memory
    assert _shape(library) == _shape(load_library(articles))
    assert kept.read_bytes() == b"not a pickle"  # a cache without a path writes nothing


def test_the_file_is_rewritten_only_once_enough_bodies_changed(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # Rewriting every rendering was 0.25 s of each `kb index` at 10,000 articles, for one edited article.
    from kb.content import kept_file

    monkeypatch.setattr(kept_file, "REWRITE_AFTER", 3)
    articles = tmp_path / "articles"
    shutil.copytree(ARTICLES, articles)
    kept = tmp_path / "rendered.pickle"
    load_library(articles, rendered=kept)
    written = kept.read_bytes()
    paths = sorted(articles.glob("en/*/*.md"))[:3]
    for n, path in enumerate(paths, start=1):
        path.write_text(path.read_text(encoding="utf-8") + f"\nEdit number {n}.\n", encoding="utf-8")
        library = load_library(articles, rendered=kept)
        edited = next(a for a in library if a.path == path.relative_to(articles).as_posix())
        assert f"Edit number {n}." in edited.html  # served at once, rendered again until the file is rewritten
        assert (kept.read_bytes() == written) == (n < 3)
    cache = RenderCache(kept)
    load_library(articles, rendered=kept, renderings=cache)
    assert cache.made == 0  # the rewritten file holds all three
