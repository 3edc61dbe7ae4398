"""Search: what visitors look for, what finds nothing, what they leave unopened, and where they click."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import case, exists, func, or_, select
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.elements import ColumnElement

from kb.analytics.period import Period
from kb.models import SearchClick, SearchEvent

SEARCH_SOURCES = (
    "search",
    "api",
)  # typed searches; "suggest" is the search box's prefixes, "contact" questions
POSITIONS = 10  # click-through is reported for the first page of results


@dataclass(frozen=True)
class QueryFigures:
    query: str  # lower-cased
    searches: int
    clicked: int  # searches with at least one result opened
    results: float  # mean number of results
    confidence: float | None = None  # mean confidence of the top result

    @property
    def bounced(self) -> int:
        return self.searches - self.clicked

    @property
    def click_rate(self) -> float | None:
        return self.clicked / self.searches if self.searches else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "query": self.query,
            "searches": self.searches,
            "clicked": self.clicked,
            "bounced": self.bounced,
            "click_rate": None if self.click_rate is None else round(self.click_rate, 4),
            "results": round(self.results, 1),
            "confidence": None if self.confidence is None else round(self.confidence, 3),
        }


def _typed(period: Period, sources: tuple[str, ...] = SEARCH_SOURCES) -> tuple[Any, ...]:
    return (
        SearchEvent.source.in_(sources),
        period.covers(SearchEvent.created_at),
        period.in_locale(SearchEvent.locale),
    )


def unanswered(confident: float | None = None) -> ColumnElement[bool]:
    """The search found nothing or, given the confidence a suggestion needs, nothing confident.

    With semantic search on, every query ranks some article, so "no results" alone is rare: a top
    result below the suggestion threshold (SUGGEST_THRESHOLD) is what "found nothing" means to a visitor.
    """
    if confident is None:
        return SearchEvent.result_count == 0
    return or_(SearchEvent.result_count == 0, SearchEvent.confidence.is_(None), SearchEvent.confidence < confident)


def _clicked() -> Any:
    click = aliased(SearchClick)
    return exists().where(click.search_id == SearchEvent.id)


def _by_query(
    session: Session, period: Period, *where: Any, order: str = "searches", limit: int = 50
) -> list[QueryFigures]:
    text = func.lower(SearchEvent.query)
    searches = func.count()
    clicked = func.sum(case((_clicked(), 1), else_=0))
    order_by = {"searches": searches.desc(), "bounced": (searches - clicked).desc()}[order]
    rows = session.execute(
        select(text, searches, clicked, func.avg(SearchEvent.result_count), func.avg(SearchEvent.confidence))
        .where(*_typed(period), *where)
        .group_by(text)
        .order_by(order_by, text)
        .limit(limit)
    ).all()
    return [
        QueryFigures(str(q), int(n), int(c or 0), float(r or 0), None if conf is None else float(conf))
        for q, n, c, r, conf in rows
    ]


def top_queries(session: Session, period: Period, limit: int = 50) -> list[QueryFigures]:
    """The most frequent searches (case folded), with how often a result was opened."""
    return _by_query(session, period, limit=limit)


def no_result_queries(
    session: Session, period: Period, limit: int = 50, confident: float | None = None
) -> list[QueryFigures]:
    """Searches that found nothing (nothing confident, given ``confident``), most frequent first."""
    return _by_query(session, period, unanswered(confident), limit=limit)


def bounced_queries(session: Session, period: Period, limit: int = 50) -> list[QueryFigures]:
    """Searches that showed results and none was opened, most bounces first."""
    return [
        q
        for q in _by_query(session, period, SearchEvent.result_count > 0, order="bounced", limit=limit)
        if q.bounced > 0
    ]


@dataclass(frozen=True)
class PositionFigures:
    position: int
    shown: int  # searches with a result at this position
    clicks: int

    @property
    def rate(self) -> float | None:
        return self.clicks / self.shown if self.shown else None


def click_through_by_position(
    session: Session, period: Period, sources: tuple[str, ...] = SEARCH_SOURCES
) -> list[PositionFigures]:
    """Clicks per result position over the searches with a result there (the first page of results)."""
    shown = session.execute(
        select(*[func.sum(case((SearchEvent.result_count >= p, 1), else_=0)) for p in range(1, POSITIONS + 1)]).where(
            *_typed(period, sources)
        )
    ).one()
    clicks = dict(
        session.execute(
            select(SearchClick.position, func.count())
            .join(SearchEvent, SearchEvent.id == SearchClick.search_id)
            .where(*_typed(period, sources), SearchClick.position.between(1, POSITIONS))
            .group_by(SearchClick.position)
        ).all()
    )
    return [PositionFigures(p, int(shown[p - 1] or 0), int(clicks.get(p, 0))) for p in range(1, POSITIONS + 1)]


@dataclass(frozen=True)
class SearchTotals:
    searches: int
    visitors: int
    no_results: int
    clicked: int

    def as_dict(self) -> dict[str, int]:
        return {
            "searches": self.searches,
            "visitors": self.visitors,
            "no_results": self.no_results,
            "clicked": self.clicked,
        }


def totals(session: Session, period: Period, confident: float | None = None) -> SearchTotals:
    """How many searches, by how many visitors, how many found nothing (confident), how many got a click."""
    row = session.execute(
        select(
            func.count(),
            func.count(SearchEvent.visitor.distinct()),
            func.sum(case((unanswered(confident), 1), else_=0)),
            func.sum(case((_clicked(), 1), else_=0)),
        ).where(*_typed(period))
    ).one()
    return SearchTotals(int(row[0] or 0), int(row[1] or 0), int(row[2] or 0), int(row[3] or 0))
