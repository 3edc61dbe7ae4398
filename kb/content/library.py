"""Articles and the Library: read ``articles/``, validate, render, and index them by locale and slug.

A broken article is reported as ``path:line: message`` and left out; every other article is served.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import yaml

from kb.content.git_dates import Revision, file_revision, git_revisions, repo_path
from kb.content.render import Section, render

log = logging.getLogger(__name__)

KNOWN_KEYS = {"title", "summary", "tags", "order", "aliases", "related", "draft", "translation_of"}
_LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_FENCE = re.compile(r"^\s*(```|~~~)")
_ID = re.compile(r'<[a-z][a-z0-9]*[^>]*?\sid="([^"]+)"')


@dataclass(frozen=True)
class Problem:
    """One thing wrong in the articles tree, located for the writer."""

    path: str
    line: int
    message: str
    severity: str = "error"  # "error" leaves the article out; "warning" only reports

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.severity}: {self.message}"


@dataclass(frozen=True)
class Category:
    locale: str
    slug: str
    title: str
    description: str = ""
    order: int = 1000


@dataclass
class Article:
    """One help article in one language."""

    locale: str
    slug: str
    category: str
    path: str  # relative to the articles folder, posix style: en/points/set-up-expiry.md
    title: str
    body: str
    summary: str = ""
    tags: list[str] = field(default_factory=list)
    order: int = 1000
    aliases: list[str] = field(default_factory=list)
    related: list[str] = field(default_factory=list)
    draft: bool = False
    translation_of: str = ""
    html: str = ""
    toc: list[dict[str, Any]] = field(default_factory=list)
    sections: list[Section] = field(default_factory=list)
    updated: datetime | None = None
    commit: str = ""
    content_hash: str = ""
    body_line: int = 1  # line of the file on which the Markdown body starts
    meta_lines: dict[str, int] = field(default_factory=dict, repr=False)  # front matter key -> line

    @property
    def id(self) -> str:
        return f"{self.locale}/{self.slug}"

    @property
    def url(self) -> str:
        return f"/{self.locale}/articles/{self.slug}"

    @property
    def translation_key(self) -> str:
        """What joins the translations of one article: its path below the locale folder."""
        return self.translation_of or str(PurePosixPath(self.path).relative_to(self.locale))

    @property
    def revision(self) -> str:
        """The version a vote or a view is about: the last commit, or the content hash outside git."""
        return self.commit or self.content_hash[:12]

    @property
    def anchors(self) -> set[str]:
        """Every id a link may point at: all headings (h4 included), not only the sections' h2/h3."""
        return set(_ID.findall(self.html)) | {s.anchor for s in self.sections if s.anchor}

    @property
    def description(self) -> str:
        if self.summary:
            return self.summary
        first = next((s.text for s in self.sections if s.text), "")
        return first.split("\n")[0][:200]


class Library:
    """Every servable article, by locale and slug, with categories, aliases and the problems found."""

    def __init__(
        self, root: Path, articles: list[Article], categories: dict[tuple[str, str], Category], problems: list[Problem]
    ) -> None:
        self.root = root
        self.repo_folder = repo_path(root) if root.exists() else root.name  # for "edit this article" links
        self.problems = problems
        self.categories = categories
        self._by_key = {(a.locale, a.slug): a for a in articles}
        self._sorted = sorted(self._by_key.values(), key=_sort_key)
        self._aliases = {(a.locale, alias): a.slug for a in articles for alias in a.aliases}
        self._by_slug: dict[str, list[Article]] = {}
        for a in self._sorted:
            self._by_slug.setdefault(a.slug, []).append(a)
        self._translations: dict[str, dict[str, Article]] = {}
        for a in articles:
            self._translations.setdefault(a.translation_key, {})[a.locale] = a
        self.locales = sorted({a.locale for a in articles} | {c[0] for c in categories})

    def __len__(self) -> int:
        return len(self._by_key)

    def __iter__(self) -> Iterator[Article]:
        return iter(self._sorted)

    def get(self, locale: str, slug: str) -> Article | None:
        return self._by_key.get((locale, slug))

    def by_id(self, article_id: str) -> Article | None:
        locale, _, slug = article_id.partition("/")
        return self.get(locale, slug)

    def alias_target(self, locale: str, slug: str) -> str | None:
        return self._aliases.get((locale, slug))

    def in_locale(self, locale: str, category: str | None = None) -> list[Article]:
        return [a for a in self if a.locale == locale and (category is None or a.category == category)]

    def categories_in(self, locale: str) -> list[Category]:
        found = [c for (loc, _), c in self.categories.items() if loc == locale]
        return sorted(found, key=lambda c: (c.order, c.title.lower()))

    def category(self, locale: str, slug: str, prefer: str = "en") -> Category | None:
        """The category in ``locale``, or its original when only another language has it yet."""
        return self.categories.get((locale, slug)) or self.categories.get((prefer, slug))

    def translations(self, article: Article) -> dict[str, Article]:
        """Return the article in every locale that has it, its own included."""
        return dict(self._translations.get(article.translation_key, {}))

    def original(self, locale: str, slug: str, prefer: str = "en") -> Article | None:
        """The article a visitor of ``locale`` gets when it has no translation: ``prefer``'s, else any."""
        found = [a for a in self._by_slug.get(slug, []) if a.locale != locale]
        return next((a for a in found if a.locale == prefer), found[0] if found else None)

    def with_originals(self, locale: str, category: str | None = None, prefer: str = "en") -> list[Article]:
        """The locale's articles, plus the original of every article not translated into it yet."""
        own = self.in_locale(locale, category)
        have = {a.translation_key for a in own}
        if prefer == locale:
            return own
        extra = [a for a in self.in_locale(prefer, category) if a.translation_key not in have]
        return sorted(own + extra, key=lambda a: (a.order, a.title.lower()))

    def translation_locales(self, article: Article) -> set[str]:
        return set(self._translations.get(article.translation_key, {}))

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]


def _sort_key(a: Article) -> tuple[str, str, int, str]:
    return (a.locale, a.category, a.order, a.title.lower())


def load_library(root: Path | str, include_drafts: bool = False) -> Library:
    """Read, validate and render every article under ``root``; problems are collected, never raised."""
    root = Path(root)
    problems: list[Problem] = []
    if not root.is_dir():
        problems.append(Problem(str(root), 0, "articles folder not found"))
        return Library(root, [], {}, problems)
    revisions = git_revisions(root)
    categories = _load_categories(root, problems)
    parsed: list[Article] = []
    unreadable: set[str] = set()
    for path in sorted(root.glob("*/*/*.md")):
        if any(part.startswith(("_", ".")) for part in path.relative_to(root).parts):
            continue
        article = _parse(root, path, revisions, problems)
        if article is None:
            unreadable.add(path.relative_to(root).as_posix())
        else:
            parsed.append(article)
            key = (article.locale, article.category)
            if key not in categories:
                categories[key] = Category(article.locale, article.category, _title_from(article.category))
    broken = _check_unique(parsed, problems)
    by_path = {a.path: a for a in parsed}
    for article in parsed:
        _render(article, by_path)
    for article in parsed:
        broken |= _check_references(article, parsed, by_path, problems)
    served = [a for a in parsed if a.path not in broken and (include_drafts or not a.draft)]
    for rel in sorted(broken | unreadable):
        log.warning("left out %s: see `kb check`", rel)
    for key in [k for k in categories if not any((a.locale, a.category) == k for a in served)]:
        del categories[key]
    return Library(root, served, categories, problems)


def _title_from(folder: str) -> str:
    return folder.replace("-", " ").replace("_", " ").strip().capitalize()


def _load_categories(root: Path, problems: list[Problem]) -> dict[tuple[str, str], Category]:
    categories: dict[tuple[str, str], Category] = {}
    for path in sorted(root.glob("*/*/_category.yml")):
        locale, slug = path.parent.parent.name, path.parent.name
        rel = str(path.relative_to(root))
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            line = exc.problem_mark.line + 1 if getattr(exc, "problem_mark", None) else 1  # type: ignore[attr-defined]
            problems.append(Problem(rel, line, f"invalid YAML: {getattr(exc, 'problem', exc)}"))
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


def _parse(root: Path, path: Path, revisions: dict[Path, Revision], problems: list[Problem]) -> Article | None:
    rel = path.relative_to(root).as_posix()
    raw = path.read_bytes()
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
        try:
            meta = yaml.safe_load("\n".join(lines[1:end])) or {}
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = mark.line + 2 if mark is not None else 1
            problems.append(Problem(rel, line, f"invalid YAML in front matter: {getattr(exc, 'problem', exc)}"))
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
    if not isinstance(title, str) or not title.strip():
        problems.append(Problem(rel, line_of("title"), "missing title: add `title: ...` to the front matter"))
        return None
    for key in sorted(set(meta) - KNOWN_KEYS):
        problems.append(Problem(rel, line_of(str(key)), f"unknown front matter key {key!r}", "warning"))
    lists: dict[str, list[str]] = {}
    for key in ("tags", "aliases", "related"):
        value = meta.get(key) or []
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str | int) for v in value):
            problems.append(Problem(rel, line_of(key), f"{key} must be a list of words"))
            return None
        lists[key] = [str(v).strip() for v in value]
    order = meta.get("order", 1000)
    if not isinstance(order, int):
        problems.append(Problem(rel, line_of("order"), "order must be a whole number"))
        return None
    if not meta.get("summary"):
        problems.append(
            Problem(rel, 1, "no summary: search results and the meta description use the first paragraph", "warning")
        )
    revision = file_revision(path, revisions)
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
        draft=bool(meta.get("draft", False)),
        translation_of=str(meta.get("translation_of") or ""),
        updated=revision.updated,
        commit=revision.commit,
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


def _target(article: Article, href: str, by_path: dict[str, Article]) -> tuple[Article | None, str, bool]:
    """Resolve a link written in ``article``: (target article, anchor, whether it is an article link)."""
    parts = urlsplit(href)
    if parts.scheme or parts.netloc or href.startswith(("mailto:", "#")):
        return None, "", False
    if parts.path.endswith(".md"):
        target = PurePosixPath(article.path).parent / parts.path
        normal = PurePosixPath(*_normalise(target.parts))
        return by_path.get(str(normal)), parts.fragment, True
    match = re.fullmatch(r"/([\w-]+)/articles/([\w-]+)/?", parts.path)
    if match:
        found = next((a for a in by_path.values() if (a.locale, a.slug) == match.groups()), None)
        return found, parts.fragment, True
    return None, "", False


def _normalise(parts: tuple[str, ...]) -> list[str]:
    out: list[str] = []
    for part in parts:
        if part == "..":
            if out:
                out.pop()
        elif part != ".":
            out.append(part)
    return out


def _render(article: Article, by_path: dict[str, Article]) -> None:
    def resolve(href: str) -> str | None:
        target, anchor, is_article = _target(article, href, by_path)
        if not is_article or target is None:
            return None
        return target.url + (f"#{anchor}" if anchor else "")

    rendered = render(article.body, resolve)
    article.html, article.toc, article.sections = rendered.html, rendered.toc, rendered.sections


def _check_references(
    article: Article, parsed: list[Article], by_path: dict[str, Article], problems: list[Problem]
) -> set[str]:
    """Check related slugs and links to other articles and anchors; return the path if broken."""
    broken: set[str] = set()
    slugs = {a.slug for a in parsed if a.locale == article.locale}
    for slug in article.related:
        if slug not in slugs:
            problems.append(
                Problem(
                    article.path,
                    article.meta_lines.get("related", 1),
                    f"related article {slug!r} does not exist in {article.locale}",
                )
            )
            broken.add(article.path)
    in_fence = False
    for offset, line in enumerate(article.body.splitlines()):
        if _FENCE.match(line):
            in_fence = not in_fence
        if in_fence:
            continue
        for match in _LINK.finditer(line):
            href = match.group(1)
            lineno = article.body_line + offset
            if href.startswith("#"):
                if href[1:] not in article.anchors:
                    problems.append(Problem(article.path, lineno, f"link to missing anchor {href!r} in this article"))
                    broken.add(article.path)
                continue
            target, anchor, is_article = _target(article, href, by_path)
            if not is_article:
                continue
            if target is None:
                problems.append(Problem(article.path, lineno, f"link to an article that does not exist: {href}"))
                broken.add(article.path)
            elif anchor and anchor not in target.anchors:
                problems.append(
                    Problem(
                        article.path,
                        lineno,
                        f"link to a heading that does not exist: {href} (no #{anchor} in {target.path})",
                    )
                )
                broken.add(article.path)
            elif target.draft and not article.draft:
                problems.append(Problem(article.path, lineno, f"link to a draft article: {href}", "warning"))
    return broken
