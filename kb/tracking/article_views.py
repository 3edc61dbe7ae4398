"""Articles read: a view counted once per visitor, article and day, and the most read of a help center."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kb.models import ArticleView, utcnow
from kb.tracking import store
from kb.tracking.redact import redact

VIEW_SOURCES = ("search", "suggestion", "category", "article", "outside")


def record_view(session: Session, visitor: str, article_id: str, revision: str, source: str, query: str = "") -> bool:
    """Count a view once per visitor, article and day; return whether it was new."""
    now = utcnow()
    view = ArticleView(
        day=now.date(),
        visitor=visitor,
        article_id=article_id,
        revision=revision,
        source=source if source in VIEW_SOURCES else "outside",
        query=redact(query),
        created_at=now,
    )
    return store.insert_once(session, view)


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
