"""Record what visitors do (views, searches, clicks) and read back what the site itself shows."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from kb.models import ArticleView, SearchClick, SearchEvent, utcnow

log = logging.getLogger(__name__)
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
        query=query[:500],
        created_at=now,
    )
    try:
        with session.begin_nested():
            session.add(view)
        session.commit()
        return True
    except IntegrityError:
        session.rollback()
        return False


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


def record_search(
    session: Session,
    *,
    visitor: str,
    locale: str,
    source: str,
    query: str,
    shown: list[str],
    result_count: int,
    confidence: float | None,
    latency_ms: float,
) -> int:
    """Store one search and return its id, so a click on a result can point back to it."""
    event = SearchEvent(
        visitor=visitor,
        locale=locale,
        source=source,
        query=query[:500],
        shown=shown,
        result_count=result_count,
        confidence=confidence,
        latency_ms=latency_ms,
    )
    session.add(event)
    session.commit()
    return event.id


def record_click(session: Session, *, visitor: str, search_id: int | None, article_id: str, position: int) -> None:
    """Store which result was opened, and at which position (1-based)."""
    if search_id is not None and session.get(SearchEvent, search_id) is None:
        search_id = None
    session.add(SearchClick(visitor=visitor, search_id=search_id, article_id=article_id, position=position))
    session.commit()


def safely(fn, *args, **kwargs):  # type: ignore[no-untyped-def]
    """Run a recording function; a failing database must never break the page the visitor asked for."""
    try:
        return fn(*args, **kwargs)
    except SQLAlchemyError:
        log.exception("could not record %s", fn.__name__)
        args[0].rollback()
        return None
