"""Page-context rules: front matter ``contexts:`` lists host page paths (``/settings/billing*``) an article
answers; the widget shows the matching articles, most helpful first, before the merchant types."""

from __future__ import annotations

import re
from collections.abc import Iterable
from fnmatch import fnmatchcase

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from kb.content import Article
from kb.models import Vote

PATH_MAX = 500
LIMIT = 5


def page_path(value: str) -> str:
    """The path part of a host page address, without query or fragment (they may hold personal data)."""
    value = value.split("#", 1)[0].split("?", 1)[0].strip()
    if "://" in value:
        value = "/" + value.split("://", 1)[1].partition("/")[2]
    if not value.startswith("/"):
        value = "/" + value
    return value[:PATH_MAX]


def matches(pattern: str, path: str) -> bool:
    """Whether ``path`` fits ``pattern`` (``*`` any characters; a trailing slash is ignored on both)."""
    pattern = "/" + pattern.strip().strip("/") if pattern.strip() not in ("", "/") else "/"
    path = "/" + path.strip("/") if path.strip("/") else "/"
    return fnmatchcase(path.lower(), pattern.lower()) or fnmatchcase(path.lower() + "/", pattern.lower())


def helpful_votes(session: Session, article_ids: Iterable[str]) -> dict[str, int]:
    """Yes votes minus No votes per article: what "most helpful first" sorts by."""
    ids = list(article_ids)
    if not ids:
        return {}
    score = func.sum(case((Vote.helpful.is_(True), 1), else_=-1))
    rows = session.execute(
        select(Vote.article_id, score).where(Vote.article_id.in_(ids)).group_by(Vote.article_id)
    ).all()
    return {str(row[0]): int(row[1] or 0) for row in rows}


def for_path(articles: Iterable[Article], path: str, helpful: dict[str, int] | None = None) -> list[Article]:
    """The articles whose ``contexts`` match ``path``: most helpful first, then by rule and article order."""
    found = [a for a in articles if any(matches(p, path) for p in a.contexts)]
    score = helpful or {}
    specificity = {a.id: max(len(p.replace("*", "")) for p in a.contexts if matches(p, path)) for a in found}
    found.sort(key=lambda a: (-score.get(a.id, 0), -specificity[a.id], a.order, a.title))
    return found[:LIMIT]


def search_words(path: str, title: str) -> str:
    """What to search when no rule matches: the page path's words (no ids or numbers) and the page title."""
    words = [w for w in re.split(r"[/\-_.\s]+", path) if w and not any(c.isdigit() for c in w)]
    return " ".join([*words, *title.split()])[:200]
