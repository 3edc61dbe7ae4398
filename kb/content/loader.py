"""Read the articles tree: front matter validated, bodies rendered once, links checked, into a Library.

A broken article is reported as ``path:line: message`` and left out; every other article is served.
"""

from __future__ import annotations

import glob
import hashlib
import logging
import os
from functools import partial
from pathlib import Path
from typing import Any

from kb import collector
from kb.content.article import Article, Category, Problem
from kb.content.git_dates import file_revision, git_revisions
from kb.content.library import Library
from kb.content.links import check_references, render_article
from kb.content.parse_cache import ParseCache, Parsed, parsed_in
from kb.content.render_cache import RenderCache
from kb.content.yaml_values import ValueInvalid, build, compose, read

log = logging.getLogger(__name__)

KNOWN_KEYS = {"title", "summary", "tags", "order", "aliases", "related", "draft", "translation_of", "contexts"}


def load_library(
    root: Path | str, include_drafts: bool = False, rendered: Path | None = None, renderings: RenderCache | None = None
) -> Library:
    """Read, validate and render every article under ``root``; problems are collected, never raised.

    ``rendered``: a file where renderings are kept between loads (``kb.content.render_cache``); the
    parsed articles are kept beside it (``kb.content.parse_cache``). ``renderings``: the cache to render
    through instead of that file's (a serving process keeps its last load's in memory).
    """
    root = Path(root)
    problems: list[Problem] = []
    if not root.is_dir():
        problems.append(Problem(str(root), 0, "articles folder not found"))
        return Library(root, [], {}, problems)
    revisions = git_revisions(root)
    categories = _load_categories(root, problems)
    parsed: list[Article] = []
    unreadable: set[str] = set()
    # Only while parsing: rendering makes cyclic garbage (Markdown's objects) that must still be collected.
    with collector.paused():
        parses = ParseCache(parsed_in(rendered.parent) if rendered is not None else None)
        for rel in article_files(root):
            path = root / rel
            raw = path.read_bytes()
            article, found = parses.parse(rel, raw, partial(_parsed, path, rel, raw))
            problems.extend(found)
            if article is None:
                unreadable.add(rel)
            else:
                revision = file_revision(path, revisions)
                article.updated, article.commit = revision.updated, revision.commit
                parsed.append(article)
                key = (article.locale, article.category)
                if key not in categories:
                    categories[key] = Category(article.locale, article.category, _title_from(article.category))
    parses.save()
    broken = _check_unique(parsed, problems)
    by_path = {a.path: a for a in parsed}
    cache = renderings if renderings is not None else RenderCache(rendered)
    for article in parsed:
        render_article(article, by_path, cache)
    cache.save()
    slugs: dict[str, set[str]] = {}
    for article in parsed:
        slugs.setdefault(article.locale, set()).add(article.slug)
    for article in parsed:
        broken |= check_references(article, slugs[article.locale], by_path, problems)
    served = [a for a in parsed if a.path not in broken and (include_drafts or not a.draft)]
    for rel in sorted(broken | unreadable):
        log.warning("left out %s: see `kb check`", rel)
    for key in [k for k in categories if not any((a.locale, a.category) == k for a in served)]:
        del categories[key]
    return Library(root, served, categories, problems)


def article_files(root: Path) -> list[str]:
    """The article files below ``root`` (locale/category/name.md, as posix paths) in path order, without those
    whose folder or name starts with _ or a dot. Strings, not paths: at 10,000 articles pathlib's parsing,
    comparing and relating of paths took ~0.5 s of each load."""
    found = (name.replace(os.sep, "/") for name in glob.glob("*/*/*.md", root_dir=root))
    kept = (rel for rel in found if not any(part.startswith(("_", ".")) for part in rel.split("/")))
    return sorted(kept, key=lambda rel: rel.split("/"))


def _title_from(folder: str) -> str:
    return folder.replace("-", " ").replace("_", " ").strip().capitalize()


def _load_categories(root: Path, problems: list[Problem]) -> dict[tuple[str, str], Category]:
    categories: dict[tuple[str, str], Category] = {}
    for path in sorted(root.glob("*/*/_category.yml")):
        locale, slug = path.parent.parent.name, path.parent.name
        rel = path.relative_to(root).as_posix()
        node, found = read(path, rel)
        problems.extend(found)
        try:
            data = (build(node, rel) if node is not None else None) or {}
        except ValueInvalid as exc:
            problems.append(exc.problem)
            data = {}
        if not isinstance(data, dict):
            problems.append(Problem(rel, 1, "expected a mapping with title, description and order"))
            data = {}
        categories[(locale, slug)] = Category(
            locale,
            slug,
            str(data.get("title") or _title_from(slug)),
            str(data.get("description") or ""),
            int(data.get("order", 1000)) if str(data.get("order", "")).lstrip("-").isdigit() else 1000,
        )
    return categories


def _parsed(path: Path, rel: str, raw: bytes) -> Parsed:
    problems: list[Problem] = []
    return _parse(path, rel, raw, problems), problems


def _parse(path: Path, rel: str, raw: bytes, problems: list[Problem]) -> Article | None:
    """The article in ``raw`` (undated: its revision is looked up on every load), or None with the problems."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        problems.append(Problem(rel, raw[: exc.start].count(b"\n") + 1, "not valid UTF-8"))
        return None
    lines = text.splitlines()
    meta: Any = {}
    body_start = 0
    if lines and lines[0].strip() == "---":
        end = next((i for i in range(1, len(lines)) if lines[i].strip() in ("---", "...")), None)
        if end is None:
            problems.append(Problem(rel, 1, "front matter opened with '---' is never closed"))
            return None
        node, found = compose("\n".join(lines[1:end]), rel, first_line=2)
        try:
            meta = (build(node, rel, first_line=2) if node is not None else None) or {}
        except ValueInvalid as exc:
            found.append(exc.problem)
        if found:
            problems.extend(found)
            return None
        body_start = end + 1
    if not isinstance(meta, dict):
        problems.append(Problem(rel, 2, "front matter must be a mapping of keys to values"))
        return None
    meta_lines = {
        ln.split(":", 1)[0]: i + 1 for i, ln in enumerate(lines[:body_start]) if ":" in ln and not ln[0].isspace()
    }

    def line_of(key: str) -> int:
        return meta_lines.get(key, 1)

    title = meta.get("title")
    if title is not None and not isinstance(title, str | list | dict):  # "title: No" is YAML's false
        problems.append(Problem(rel, line_of("title"), 'title must be text: put it in quotes (title: "No")'))
        return None
    if not isinstance(title, str) or not title.strip():
        problems.append(Problem(rel, line_of("title"), "missing title: add `title: ...` to the front matter"))
        return None
    for key in sorted(set(meta) - KNOWN_KEYS):
        problems.append(Problem(rel, line_of(str(key)), f"unknown front matter key {key!r}", "warning"))
    lists: dict[str, list[str]] = {}
    for key in ("tags", "aliases", "related", "contexts"):  # contexts: product page paths (the widget)
        value = meta.get(key) or []
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str | int) for v in value):
            problems.append(Problem(rel, line_of(key), f"{key} must be a list of words"))
            return None
        lists[key] = [str(v).strip() for v in value]
    order = meta.get("order", 1000)
    if not isinstance(order, int) or isinstance(order, bool):
        problems.append(Problem(rel, line_of("order"), "order must be a whole number"))
        return None
    draft = meta.get("draft") or False  # `draft:` with nothing after it is not a draft
    if not isinstance(draft, bool):  # "draft: maybe" would otherwise hide the article as any word is true
        problems.append(Problem(rel, line_of("draft"), "draft must be true or false"))
        return None
    if not meta.get("summary"):
        problems.append(
            Problem(rel, 1, "no summary: search results and the meta description use the first paragraph", "warning")
        )
    locale, category = path.parent.parent.name, path.parent.name
    return Article(
        locale=locale,
        slug=path.stem,
        category=category,
        path=rel,
        title=title.strip(),
        body="\n".join(lines[body_start:]),
        summary=str(meta.get("summary") or "").strip(),
        tags=lists["tags"],
        order=order,
        aliases=lists["aliases"],
        related=lists["related"],
        contexts=lists["contexts"],
        draft=draft,
        translation_of=str(meta.get("translation_of") or ""),
        content_hash=hashlib.sha256(raw).hexdigest(),
        body_line=body_start + 1,
        meta_lines=meta_lines,
    )


def _check_unique(parsed: list[Article], problems: list[Problem]) -> set[str]:
    """Report duplicate slugs and aliases within a locale; the later file is the broken one."""
    broken: set[str] = set()
    seen: dict[tuple[str, str], str] = {}
    for article in parsed:
        key = (article.locale, article.slug)
        if key in seen:
            problems.append(Problem(article.path, 1, f"duplicate slug {article.slug!r}: already used by {seen[key]}"))
            broken.add(article.path)
        else:
            seen[key] = article.path
    for article in parsed:
        for alias in article.aliases:
            key = (article.locale, alias)
            if key in seen and seen[key] != article.path:
                problems.append(
                    Problem(
                        article.path,
                        article.meta_lines.get("aliases", 1),
                        f"alias {alias!r} is already used by {seen[key]}",
                    )
                )
                broken.add(article.path)
            else:
                seen[key] = article.path
    return broken
