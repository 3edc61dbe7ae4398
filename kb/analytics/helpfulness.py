"""Helpfulness: views and votes per article and per revision, the Wilson bound, and what needs attention."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from kb.analytics import deflection
from kb.analytics.period import Period, as_date, day_of
from kb.models import ArticleView, Vote
from kb.tracking.votes import REASONS

Z_95 = 1.959963984540054  # two-sided 95 %
NO_REASON = "none given"  # a No with no reason chosen, counted with the reasons


def reason_label(code: str) -> str:
    """The admin's short name for a reason code (kb.tracking.votes.REASONS), in the request's language (lazy);
    an unknown code reads with spaces for "_"."""
    if code == NO_REASON:
        return _l("none given")
    reason = REASONS.get(code)
    return reason.short if reason is not None else code.replace("_", " ")


def wilson_lower_bound(positive: int, total: int, z: float = Z_95) -> float | None:
    """The lower end of the Wilson score interval for ``positive`` out of ``total`` (None without votes).

    Three Yes out of three gives 0.44 and 300 out of 300 gives 0.99: small samples are not trusted yet.
    """
    if total <= 0:
        return None
    p = positive / total
    z2 = z * z
    centre = p + z2 / (2 * total)
    spread = z * math.sqrt(p * (1 - p) / total + z2 / (4 * total * total))
    return max(0.0, (centre - spread) / (1 + z2 / total))


@dataclass
class ArticleFigures:
    """What visitors did with one article (or one revision of it) in a period."""

    article_id: str
    revision: str = ""
    views: int = 0
    opened: int = 0  # opened in place as a suggested answer on the contact form
    votes: int = 0
    helpful: int = 0
    explicit: int = 0
    implicit: int = 0
    failed: int = 0
    tickets_after_reading: int = 0
    first_seen: datetime | None = None  # revisions only: the first view or vote of this revision

    @property
    def unhelpful(self) -> int:
        return self.votes - self.helpful

    @property
    def helpful_share(self) -> float | None:
        return self.helpful / self.votes if self.votes else None

    @property
    def wilson(self) -> float | None:
        """Lower bound of the helpful share."""
        return wilson_lower_bound(self.helpful, self.votes)

    @property
    def unhelpful_lower(self) -> float | None:
        """Lower bound of the unhelpful share: how bad the article surely is, given the votes so far."""
        return wilson_lower_bound(self.unhelpful, self.votes)

    @property
    def reach(self) -> int:
        """Visitors who read it, on its page or opened in place."""
        return self.views + self.opened

    @property
    def impact(self) -> float:
        """Visitors it likely failed: its reach times the (pessimistically low) unhelpful share."""
        return self.reach * (self.unhelpful_lower or 0.0)

    def as_dict(self) -> dict[str, Any]:
        return {
            "article_id": self.article_id,
            **({"revision": self.revision} if self.revision else {}),
            "views": self.views,
            "opened": self.opened,
            "votes": self.votes,
            "helpful": self.helpful,
            "helpful_share": _round(self.helpful_share),
            "wilson": _round(self.wilson),
            "explicit": self.explicit,
            "implicit": self.implicit,
            "failed": self.failed,
            "tickets_after_reading": self.tickets_after_reading,
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def article_figures(session: Session, period: Period, now: datetime | None = None) -> dict[str, ArticleFigures]:
    """Views, votes and deflections of every article anything happened to in the period, by article id."""
    figures: dict[str, ArticleFigures] = {}

    def get(article_id: str) -> ArticleFigures:
        return figures.setdefault(article_id, ArticleFigures(article_id))

    views = session.execute(
        select(ArticleView.article_id, func.count())
        .where(period.covers(ArticleView.created_at), period.in_locale(ArticleView.article_id, True))
        .group_by(ArticleView.article_id)
    ).all()
    for article_id, count in views:
        get(article_id).views = int(count)
    for article_id, votes, helpful in _vote_rows(session, period, Vote.article_id):
        get(article_id).votes, get(article_id).helpful = int(votes), int(helpful or 0)
    counts = (
        ("opened", deflection.opened_by_article(session, period)),
        ("explicit", deflection.explicit_by_article(session, period)),
        ("implicit", deflection.implicit_by_article(session, period, now)),
        ("failed", deflection.failed_by_article(session, period)),
        ("tickets_after_reading", deflection.tickets_after_reading(session, period)),
    )
    for name, by_article in counts:
        for article_id, count in by_article.items():
            setattr(get(article_id), name, count)
    return figures


def _vote_rows(session: Session, period: Period, *keys: Any) -> list[Any]:
    helpful = func.sum(case((Vote.helpful.is_(True), 1), else_=0))
    return list(
        session.execute(
            select(*keys, func.count(), helpful)
            .where(period.covers(Vote.updated_at), period.in_locale(Vote.article_id, True))
            .group_by(*keys)
        ).all()
    )


def revision_figures(session: Session, period: Period, article_id: str) -> list[ArticleFigures]:
    """One article's figures per revision, oldest revision first, so a writer sees whether an edit helped.

    Answers opened on the contact form do not record the revision, so implicit and failed deflections
    are only counted per article, not per revision.
    """
    one = Period(period.start, period.end)  # the article id already fixes the locale
    revisions: dict[str, ArticleFigures] = {}

    def get(revision: str) -> ArticleFigures:
        return revisions.setdefault(revision, ArticleFigures(article_id, revision=revision or "(unknown)"))

    for revision, count, first in session.execute(
        select(ArticleView.revision, func.count(), func.min(ArticleView.created_at))
        .where(ArticleView.article_id == article_id, one.covers(ArticleView.created_at))
        .group_by(ArticleView.revision)
    ).all():
        get(revision).views, get(revision).first_seen = int(count), first
    helpful = func.sum(case((Vote.helpful.is_(True), 1), else_=0))
    explicit = func.sum(case(((Vote.helpful.is_(True)) & (Vote.source == "contact"), 1), else_=0))
    for revision, votes, yes, said_yes, first in session.execute(
        select(Vote.revision, func.count(), helpful, explicit, func.min(Vote.created_at))
        .where(Vote.article_id == article_id, one.covers(Vote.updated_at))
        .group_by(Vote.revision)
    ).all():
        fig = get(revision)
        fig.votes, fig.helpful, fig.explicit = int(votes), int(yes or 0), int(said_yes or 0)
        if fig.first_seen is None or (first is not None and first < fig.first_seen):
            fig.first_seen = first
    after = deflection.tickets_after_reading(session, one, by_revision=True)
    for (art, revision), count in after.items():
        if art == article_id:
            get(revision).tickets_after_reading = count
    return sorted(revisions.values(), key=lambda f: (f.first_seen or datetime.max, f.revision))


@dataclass
class HelpfulPoint:
    day: date
    helpful: int
    votes: int

    @property
    def share(self) -> float | None:
        return self.helpful / self.votes if self.votes else None


def helpfulness_over_time(session: Session, period: Period, bucket: str = "day") -> list[HelpfulPoint]:
    """Helpful and total votes per day (or week), every bucket of the period present."""
    day = day_of(Vote.updated_at)
    rows = _vote_rows(session, period, day)
    votes = {as_date(d): int(n) for d, n, _ in rows}
    helpful = {as_date(d): int(h or 0) for d, _, h in rows}
    return deflection.bucketed(period, bucket, helpful, votes, HelpfulPoint)


# -- needs attention --------------------------------------------------------------------------------


@dataclass
class Attention:
    """An article that fails visitors, with what they said and what they were looking for."""

    figures: ArticleFigures
    reasons: Counter[str] = field(default_factory=Counter)
    comments: list[dict[str, Any]] = field(default_factory=list)
    queries: list[tuple[str, int]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.figures.as_dict(),
            "impact": round(self.figures.impact, 1),
            "unhelpful_lower": _round(self.figures.unhelpful_lower),
            "reasons": dict(self.reasons),
            "comments": self.comments,
            "queries": [{"query": q, "count": n} for q, n in self.queries],
        }


def needs_attention(
    session: Session,
    period: Period,
    min_votes: int = 5,
    limit: int = 20,
    figures: dict[str, ArticleFigures] | None = None,
    now: datetime | None = None,
) -> tuple[list[Attention], int]:
    """Articles ranked by visitors likely failed; also how many were held back for having too few votes.

    Articles with fewer than ``min_votes`` votes are held back, and the unhelpful share used is the
    lower end of its Wilson interval, so a single No does not put a quiet article on top.
    """
    figures = figures if figures is not None else article_figures(session, period, now)
    ranked = [f for f in figures.values() if f.votes >= min_votes and f.unhelpful > 0]
    held_back = sum(1 for f in figures.values() if f.unhelpful > 0 and f.votes < min_votes)
    ranked.sort(key=lambda f: (-f.impact, -(f.unhelpful_lower or 0), f.article_id))
    out = [Attention(f) for f in ranked[:limit]]
    _explain(session, period, {item.figures.article_id: item for item in out})
    return out, held_back


def _explain(
    session: Session, period: Period, items: dict[str, Attention], comments: int = 5, queries: int = 5
) -> None:
    """Add reasons, the latest comments and the leading queries to ``items`` (three queries for all)."""
    if not items:
        return
    ids = list(items)
    unhelpful = (Vote.article_id.in_(ids), Vote.helpful.is_(False), period.covers(Vote.updated_at))
    for article_id, reason, count in session.execute(
        select(Vote.article_id, Vote.reason, func.count()).where(*unhelpful).group_by(Vote.article_id, Vote.reason)
    ).all():
        items[article_id].reasons[reason or NO_REASON] = int(count)
    newest = func.row_number().over(partition_by=Vote.article_id, order_by=(Vote.updated_at.desc(), Vote.id.desc()))
    said = (
        select(Vote.article_id, Vote.comment, Vote.reason, Vote.revision, Vote.updated_at, newest.label("n"))
        .where(*unhelpful, Vote.comment.is_not(None), Vote.comment != "")
        .subquery()
    )
    for article_id, text, reason, revision, at in session.execute(
        select(said.c.article_id, said.c.comment, said.c.reason, said.c.revision, said.c.updated_at)
        .where(said.c.n <= comments)
        .order_by(said.c.article_id, said.c.n)
    ).all():
        items[article_id].comments.append(
            {
                "comment": text,
                "reason": reason or "",
                "revision": revision,
                "at": at.isoformat(timespec="minutes") if at else "",
            }
        )
    for article_id, found in _leading_queries(session, period, ids, queries).items():
        items[article_id].queries = found


def _leading_queries(
    session: Session, period: Period, article_ids: list[str], limit: int
) -> dict[str, list[tuple[str, int]]]:
    text = func.lower(ArticleView.query)
    counts = (
        select(ArticleView.article_id.label("a"), text.label("q"), func.count().label("c"))
        .where(
            ArticleView.article_id.in_(article_ids),
            ArticleView.query != "",
            period.covers(ArticleView.created_at),
        )
        .group_by(ArticleView.article_id, text)
        .subquery()
    )
    rank = func.row_number().over(partition_by=counts.c.a, order_by=(counts.c.c.desc(), counts.c.q))
    ranked = select(counts.c.a, counts.c.q, counts.c.c, rank.label("n")).subquery()
    found: dict[str, list[tuple[str, int]]] = {}
    for article_id, query, count in session.execute(
        select(ranked.c.a, ranked.c.q, ranked.c.c).where(ranked.c.n <= limit).order_by(ranked.c.a, ranked.c.n)
    ).all():
        found.setdefault(article_id, []).append((str(query), int(count)))
    return found


def leading_queries(session: Session, period: Period, article_id: str, limit: int = 5) -> list[tuple[str, int]]:
    """The searches that led visitors to the article, most frequent first."""
    return _leading_queries(session, period, [article_id], limit).get(article_id, [])


def recent_comments(session: Session, period: Period, article_id: str, limit: int = 50) -> list[dict[str, Any]]:
    """Every comment left on the article in the period, newest first."""
    rows = session.execute(
        select(Vote.comment, Vote.reason, Vote.helpful, Vote.revision, Vote.query, Vote.updated_at)
        .where(
            Vote.article_id == article_id,
            Vote.comment.is_not(None),
            Vote.comment != "",
            period.covers(Vote.updated_at),
        )
        .order_by(Vote.updated_at.desc())
        .limit(limit)
    ).all()
    return [
        {
            "comment": c,
            "reason": r or "",
            "helpful": h,
            "revision": rev,
            "query": q,
            "at": at.isoformat(timespec="minutes") if at else "",
        }
        for c, r, h, rev, q, at in rows
    ]
