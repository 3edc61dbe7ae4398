"""Links between articles: resolve what a writer wrote to an article, render with article URLs, and
check links, anchors and related slugs, each problem located at ``path:line``.

The links checked are those the one Markdown pass collected, so a link shown as code is never checked;
the line of each is found by its href in the body, outside fenced and indented code.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterator
from urllib.parse import urlsplit

from kb.content.article import Article, Problem
from kb.content.render_cache import RenderCache

_ARTICLE_URL = re.compile(r"/([\w-]+)/articles/([\w-]+)/?")
_FENCE = re.compile(r"^\s*(```|~~~)")
_LIST_ITEM = re.compile(r"^\s*([-*+]|\d+[.)])\s")


def resolve(article: Article, href: str, by_path: dict[str, Article]) -> tuple[Article | None, str, bool]:
    """Resolve a link written in ``article``: (target article, anchor, whether it is an article link)."""
    parts = urlsplit(href)
    if parts.scheme or parts.netloc or href.startswith(("mailto:", "#")):
        return None, "", False
    if parts.path.endswith(".md"):
        target = posixpath.normpath(posixpath.join(posixpath.dirname(article.path), parts.path))
        return by_path.get(target), parts.fragment, True
    match = _ARTICLE_URL.fullmatch(parts.path)
    if match:
        found = next((a for a in by_path.values() if (a.locale, a.slug) == match.groups()), None)
        return found, parts.fragment, True
    return None, "", False


def render_article(article: Article, by_path: dict[str, Article], cache: RenderCache) -> None:
    """Render the article's body once, links to other articles becoming their URLs (a rendering kept
    from an earlier load when it still holds)."""

    def url_of(href: str) -> str | None:
        target, anchor, is_article = resolve(article, href, by_path)
        if not is_article or target is None:
            return None
        return target.url + (f"#{anchor}" if anchor else "")

    rendered = cache.render(article.body, url_of)
    article.html, article.toc, article.sections = rendered.html, rendered.toc, rendered.sections
    article.links, article.anchors = rendered.links, rendered.anchors


def check_references(
    article: Article, slugs: set[str], by_path: dict[str, Article], problems: list[Problem]
) -> set[str]:
    """Check related slugs (``slugs``: those of the article's locale) and links to other articles and
    anchors; return the path if broken."""
    found: list[Problem] = []
    for slug in article.related:
        if slug not in slugs:
            line = article.meta_lines.get("related", 1)
            found.append(Problem(article.path, line, f"related article {slug!r} does not exist in {article.locale}"))
    lines: list[int] | None = None  # found only when a link has a problem: 1.3 s of loading 10,000 articles
    for k, href in enumerate(article.links):
        if any(_check_link(article, href, 0, by_path)):
            lines = link_lines(article) if lines is None else lines
            found.extend(_check_link(article, href, lines[k], by_path))
    problems.extend(found)
    return {article.path} if any(p.severity == "error" for p in found) else set()


def _check_link(article: Article, href: str, line: int, by_path: dict[str, Article]) -> Iterator[Problem]:
    if href.startswith("#"):
        if href[1:] not in article.anchors:
            yield Problem(article.path, line, f"link to missing anchor {href!r} in this article")
        return
    target, anchor, is_article = resolve(article, href, by_path)
    if not is_article:
        return
    if target is None:
        yield Problem(article.path, line, f"link to an article that does not exist: {href}")
    elif anchor and anchor not in target.anchors:
        yield Problem(
            article.path, line, f"link to a heading that does not exist: {href} (no #{anchor} in {target.path})"
        )
    elif target.draft and not article.draft:
        yield Problem(article.path, line, f"link to a draft article: {href}", "warning")


def link_lines(article: Article) -> list[int]:
    """Find the file line of each collected link: the first line not used yet that holds its href, outside code."""
    lines = article.body.splitlines()
    code = _code_lines(lines)
    prose = [i for i in range(len(lines)) if i not in code]
    used: set[int] = set()
    found: list[int] = []
    for href in article.links:
        holding = [i for i in prose if href in lines[i]] or [i for i in range(len(lines)) if href in lines[i]]
        # an href written with escapes or entities may show in no line as rendered: then the body's first
        offset = next((i for i in holding if i not in used), holding[0] if holding else 0)
        used.add(offset)
        found.append(article.body_line + offset)
    return found


def _code_lines(lines: list[str]) -> set[int]:
    """Lines of fenced code, and of indented code: indented 4+ after a blank line that ends a paragraph, not a list."""
    code: set[int] = set()
    fence = indented_code = False
    opener = ""  # the last line that is not blank, not indented and not code
    blank_before = True
    for i, line in enumerate(lines):
        if fence or _FENCE.match(line):
            fence = fence != bool(_FENCE.match(line))
            code.add(i)
            continue
        if not line.strip():
            blank_before = True
            continue
        if line.startswith(("    ", "\t")):
            indented_code = indented_code or (blank_before and not _LIST_ITEM.match(opener))
            if indented_code:
                code.add(i)
        else:
            indented_code, opener = False, line
        blank_before = False
    return code
