"""Analytics: plain functions over a SQLAlchemy session (no Flask), used by /admin and `kb report`.

Every figure is aggregated in the database (GROUP BY, EXISTS) with portable SQL, so a report over a
million recorded events reads a few hundred rows, not the events. Modules: ``helpfulness`` (views, votes,
Wilson bound, needs attention), ``deflection`` (explicit, implicit, failed; the funnel), ``searches``,
``gaps`` (unanswered questions grouped by meaning) and ``tickets``; ``report`` and ``report_tables`` are
what `kb report` prints, as data or as tables.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from kb import config as kb_config
from kb.analytics import deflection, gaps, helpfulness, reports, searches
from kb.analytics.deflection import Funnel, RatePoint
from kb.analytics.helpfulness import ArticleFigures, Attention, HelpfulPoint, wilson_lower_bound
from kb.analytics.period import Period, parse_span
from kb.analytics.searches import SearchTotals
from kb.analytics.tables import Table
from kb.content import Library
from kb.models import utcnow

__all__ = [
    "Overview",
    "Period",
    "Settings",
    "TableReport",
    "overview",
    "parse_span",
    "report",
    "report_tables",
    "wilson_lower_bound",
]


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


_DEFAULTS = kb_config.Settings()  # the one home of the defaults; these figures read it


@dataclass(frozen=True)
class Settings:
    """The judgement calls behind the figures, from the app's settings."""

    min_votes: int = _DEFAULTS.attention_min_votes
    confident: float | None = None  # SUGGEST_THRESHOLD: a search's top result below it found nothing
    gap_similarity: float = _DEFAULTS.gap_similarity
    gap_limit: int = _DEFAULTS.gap_max_questions

    @classmethod
    def from_config(cls, config: kb_config.Settings | Mapping[str, Any]) -> Settings:
        """The analytics part of the app's settings; a mapping such as ``app.config`` is parsed first."""
        app = config if isinstance(config, kb_config.Settings) else kb_config.Settings.from_mapping(config)
        return cls(app.attention_min_votes, app.suggest_threshold, app.gap_similarity, app.gap_max_questions)


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


@dataclass
class TableReport:
    """The report as titled tables (the needs-attention list first), with the figures its headline says."""

    view: Overview
    min_votes: int
    tables: list[tuple[str, Table]]

    def text_blocks(self, limit: int) -> list[str]:
        """The report for a terminal, block by block: the headline, then each table cut at ``limit`` rows."""
        view, period, funnel = self.view, self.view.period, self.view.funnel
        where = f" in {period.locale}" if period.locale else ""
        blocks = [
            f"kb report{where}: {period.start:%Y-%m-%d %H:%M} to {period.end:%Y-%m-%d %H:%M} UTC\n",
            f"{view.views:,} article views, {view.votes:,} votes ({reports.share(view.helpful_share)} helpful), "
            f"{view.searches.searches:,} searches, {funnel.tickets:,} tickets; deflection rate "
            f"{reports.share(funnel.rate)}\n",
        ]
        if view.held_back:
            blocks.append(f"({view.held_back} article(s) with a No held back: fewer than {self.min_votes} votes)\n")
        for title, table in self.tables:
            whole = table.name in ("deflection-funnel", "deflection-rate")  # never cut short
            blocks.append(reports.as_text(table, title, len(table.rows) if whole else limit))
        return blocks


def report_tables(
    session: Session,
    period: Period,
    library: Library | None,
    settings: Settings | None = None,
    encode: gaps.Encode | None = None,
    now: datetime | None = None,
    limit: int = 20,
    weekly: bool = False,
) -> TableReport:
    """All the figures as tables, for the terminal and CSV; ``weekly`` puts the deflection rate in weeks."""
    settings = settings or Settings()
    now = now or utcnow()
    view = overview(session, period, settings, now, limit)
    weekly = weekly or view.bucket == "week"
    rate = deflection.rate_over_time(session, period, now, "week") if weekly else view.rate
    gap_report = gaps.content_gaps(
        session, period, encode, settings.gap_similarity, settings.gap_limit, settings.confident
    )
    tables = [
        ("Needs attention (visitors likely failed)", reports.attention_table(view.attention, library)),
        ("Deflection funnel", reports.funnel_table(view.funnel)),
        (f"Deflection rate per {'week' if weekly else view.bucket}", reports.rate_table(rate)),
        ("Articles", reports.articles_table(view.articles.values(), library)),
        ("Top queries", reports.queries_table("top-queries", searches.top_queries(session, period, limit))),
        (
            "Queries with no confident result",
            reports.queries_table(
                "no-result-queries", searches.no_result_queries(session, period, limit, settings.confident)
            ),
        ),
        (
            "Bounced queries (results shown, nothing opened)",
            reports.queries_table("bounced-queries", searches.bounced_queries(session, period, limit)),
        ),
        ("Click-through by position", reports.positions_table(searches.click_through_by_position(session, period))),
        ("Content gaps (what to write next)", reports.gaps_table(gap_report, 3)),
    ]
    return TableReport(view, settings.min_votes, tables)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)
