"""Articles read: the most read of a help center. Views are written by ``view_buffer``, once per visitor,
article and day."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kb.models import ArticleView

VIEW_SOURCES = ("search", "suggestion", "category", "article", "outside")


def source_from_referrer(referrer: str | None, host: str) -> str:
    """Where a reader came from, by the referring page: this site's article, search or category, or outside."""
    try:
        came = urlsplit(referrer or "")
    except ValueError:  # "http://[x/": a header anyone can send
        return "outside"
    if came.netloc != host:
        return "outside"
    if "/articles/" in came.path:
        return "article"
    if came.path.rstrip("/").endswith("search"):
        return "search"
    return "category" if came.path.count("/") >= 3 else "outside"


def most_viewed(session: Session, locale: str, days: int = 30, limit: int = 6) -> list[str]:
    """Return the ids of the most viewed articles in ``locale`` over the last ``days``."""
    since = datetime.now(UTC).replace(tzinfo=None) - timedelta(days=days)
    count = func.count(ArticleView.id)
    rows = session.execute(
        select(ArticleView.article_id, count)
        .where(ArticleView.created_at >= since, ArticleView.article_id.like(f"{locale}/%"))
        .group_by(ArticleView.article_id)
        .order_by(count.desc(), ArticleView.article_id)
        .limit(limit)
    ).all()
    return [row[0] for row in rows]
