"""Analytics: plain functions over a SQLAlchemy session (no Flask), used by /admin and `kb report`.

Every figure is aggregated in the database (GROUP BY, EXISTS) with portable SQL, so a report over a
million recorded events reads a few hundred rows, not the events. Modules: ``helpfulness`` (views, votes,
Wilson bound, needs attention), ``deflection`` (explicit, implicit, failed; the funnel), ``searches``,
``gaps`` (unanswered questions grouped by meaning) and ``tickets``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from kb.analytics import deflection, gaps, helpfulness, searches
from kb.analytics.deflection import Funnel, RatePoint
from kb.analytics.helpfulness import ArticleFigures, Attention, HelpfulPoint, wilson_lower_bound
from kb.analytics.period import Period, parse_span
from kb.analytics.searches import SearchTotals
from kb.models import utcnow

__all__ = ["Overview", "Period", "Settings", "overview", "parse_span", "report", "wilson_lower_bound"]


@dataclass
class Overview:
    """The admin front page: the funnel, the two curves and the articles to fix first."""

    period: Period
    bucket: str  # day | week
    funnel: Funnel
    rate: list[RatePoint]
    helpfulness: list[HelpfulPoint]
    views: int
    votes: int
    helpful: int
    searches: SearchTotals
    attention: list[Attention]
    held_back: int
    articles: dict[str, ArticleFigures]

    @property
    def helpful_share(self) -> float | None:
        return self.helpful / self.votes if self.votes else None

    @property
    def empty(self) -> bool:
        return not (self.views or self.votes or self.searches.searches or self.funnel.opened or self.funnel.tickets)


@dataclass(frozen=True)
class Settings:
    """The judgement calls behind the figures, from the app's settings."""

    min_votes: int = 5  # ATTENTION_MIN_VOTES
    confident: float | None = None  # SUGGEST_THRESHOLD: a search's top result below it found nothing
    gap_similarity: float = 0.6  # GAP_SIMILARITY
    gap_limit: int = 500  # GAP_MAX_QUESTIONS

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Settings:
        return cls(
            int(config["ATTENTION_MIN_VOTES"]),
            float(config["SUGGEST_THRESHOLD"]),
            float(config["GAP_SIMILARITY"]),
            int(config["GAP_MAX_QUESTIONS"]),
        )


def bucket_for(period: Period) -> str:
    """Days for up to two months, weeks beyond: a chart keeps a readable number of points."""
    return "day" if len(period.days()) <= 62 else "week"


def overview(
    session: Session,
    period: Period,
    settings: Settings | None = None,
    now: datetime | None = None,
    attention: int = 5,
) -> Overview:
    """Everything the overview page shows, for ``period``."""
    settings = settings or Settings()
    now = now or utcnow()
    bucket = bucket_for(period)
    figures = helpfulness.article_figures(session, period, now)
    ranked, held_back = helpfulness.needs_attention(session, period, settings.min_votes, attention, figures, now)
    return Overview(
        period=period,
        bucket=bucket,
        funnel=deflection.funnel(session, period, now),
        rate=deflection.rate_over_time(session, period, now, bucket),
        helpfulness=helpfulness.helpfulness_over_time(session, period, bucket),
        views=sum(f.views for f in figures.values()),
        votes=sum(f.votes for f in figures.values()),
        helpful=sum(f.helpful for f in figures.values()),
        searches=searches.totals(session, period, settings.confident),
        attention=ranked,
        held_back=held_back,
        articles=figures,
    )


def report(
    session: Session,
    period: Period,
    settings: Settings | None = None,
    encode: gaps.Encode | None = None,
    now: datetime | None = None,
    limit: int = 20,
) -> dict[str, Any]:
    """All the figures as plain data (JSON-ready), the needs-attention list first."""
    settings = settings or Settings()
    now = now or utcnow()
    view = overview(session, period, settings, now, limit)
    gap_report = gaps.content_gaps(
        session, period, encode, settings.gap_similarity, settings.gap_limit, settings.confident
    )
    articles = sorted(view.articles.values(), key=lambda f: (-f.reach, f.article_id))
    return {
        "needs_attention": [a.as_dict() for a in view.attention],
        "held_back": view.held_back,
        "period": {
            "start": period.start.isoformat(timespec="seconds"),
            "end": period.end.isoformat(timespec="seconds"),
            "locale": period.locale,
        },
        "deflection": {
            **{
                k: getattr(view.funnel, k)
                for k in (
                    "opened",
                    "shown",
                    "answered",
                    "resolved",
                    "explicit",
                    "implicit",
                    "ticket",
                    "tickets",
                    "failed",
                )
            },
            "rate": _round(view.funnel.rate),
            view.bucket + "s": [
                {
                    "start": p.day.isoformat(),
                    "resolved": p.resolved,
                    "tickets": p.tickets,
                    "rate": _round(p.rate),
                }
                for p in view.rate
            ],
        },
        "helpfulness": {
            "views": view.views,
            "votes": view.votes,
            "helpful": view.helpful,
            "share": _round(view.helpful_share),
            "wilson": _round(wilson_lower_bound(view.helpful, view.votes)),
        },
        "articles": [f.as_dict() for f in articles[:limit]],
        "searches": {
            **view.searches.as_dict(),
            "top_queries": [q.as_dict() for q in searches.top_queries(session, period, limit)],
            "no_result_queries": [
                q.as_dict() for q in searches.no_result_queries(session, period, limit, settings.confident)
            ],
            "bounced_queries": [q.as_dict() for q in searches.bounced_queries(session, period, limit)],
            "click_through": [
                {"position": p.position, "shown": p.shown, "clicks": p.clicks, "rate": _round(p.rate)}
                for p in searches.click_through_by_position(session, period)
            ],
        },
        "content_gaps": {
            "questions": gap_report.questions,
            "grouped_by_meaning": gap_report.grouped_by_meaning,
            "gaps": [g.as_dict(3) for g in gap_report.gaps[:limit]],
        },
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)
