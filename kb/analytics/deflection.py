"""Deflection: questions the help center answered before they became tickets, and those it did not.

Definitions (issue 5), all counted in SQL:

- **explicit**: the visitor said "Yes, this answered my question" under a suggested answer (a helpful vote
  from the contact form);
- **implicit**: the visitor opened a suggested answer and sent no ticket in the 24 hours after, without
  saying Yes (so explicit and implicit never count the same answer twice). An answer opened less than
  24 hours ago is still open to a ticket and counts as neither yet;
- **failed**: a ticket from a visitor who was shown suggestions, opened an answer or read an article in
  the 24 hours before sending it.

The funnel and the rate over time count *contact episodes*: one visitor on one day.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, and_, exists, func, or_, select, union
from sqlalchemy.orm import Session, aliased

from kb.analytics.period import WINDOW_HOURS, Period, as_date, day_of, week_of, within_hours
from kb.models import AnswerOpened, ArticleView, ContactOpened, SearchEvent, Ticket, Vote, utcnow


def _explicit(period: Period) -> Any:
    """Helpful votes cast from the contact form in the period."""
    return and_(
        Vote.source == "contact",
        Vote.helpful.is_(True),
        period.covers(Vote.updated_at),
        period.in_locale(Vote.article_id, is_article_id=True),
    )


def _implicit(period: Period, now: datetime) -> Any:
    """Answers opened in the period, at least 24 hours old, with no ticket after them and no Yes on them."""
    ticket = aliased(Ticket)
    said_yes = aliased(Vote)
    settled = now - timedelta(hours=WINDOW_HOURS)
    return and_(
        period.covers(AnswerOpened.created_at),
        AnswerOpened.created_at <= settled,
        period.in_locale(AnswerOpened.article_id, is_article_id=True),
        ~exists().where(
            ticket.visitor == AnswerOpened.visitor,
            period.reaches_forward(ticket.created_at),
            within_hours(ticket.created_at, AnswerOpened.created_at),
        ),
        ~exists().where(
            said_yes.visitor == AnswerOpened.visitor,
            said_yes.article_id == AnswerOpened.article_id,
            said_yes.source == "contact",
            said_yes.helpful.is_(True),
        ),
    )


def _failed(period: Period) -> Any:
    """Tickets in the period from visitors who were shown or read answers in the 24 hours before."""
    shown = aliased(SearchEvent)
    read = aliased(ArticleView)
    opened = aliased(AnswerOpened)
    return and_(
        period.covers(Ticket.created_at),
        period.in_locale(Ticket.locale),
        or_(
            exists().where(
                shown.visitor == Ticket.visitor,
                shown.source == "contact",
                shown.result_count > 0,
                period.reaches_back(shown.created_at),
                within_hours(Ticket.created_at, shown.created_at),
            ),
            exists().where(
                opened.visitor == Ticket.visitor,
                period.reaches_back(opened.created_at),
                within_hours(Ticket.created_at, opened.created_at),
            ),
            exists().where(
                read.visitor == Ticket.visitor,
                period.reaches_back(read.created_at),
                within_hours(Ticket.created_at, read.created_at),
            ),
        ),
    )


def failed_tickets(period: Period) -> Select[Any]:
    """The ids of the tickets that are failed deflections, for other reports to join on."""
    return select(Ticket.id).where(_failed(period))


def _count_by(session: Session, key: Any, *where: Any) -> dict[Any, int]:
    rows = session.execute(select(key, func.count()).where(*where).group_by(key)).all()
    return {row[0]: int(row[1]) for row in rows}


def _distinct_count_by(session: Session, key: Any, unit: Any, *where: Any) -> dict[Any, int]:
    """Count distinct ``unit`` values per ``key`` (a subquery: portable, unlike COUNT(DISTINCT a, b))."""
    pairs = select(key.label("k"), unit.label("u")).where(*where).distinct().subquery()
    rows = session.execute(select(pairs.c.k, func.count()).group_by(pairs.c.k)).all()
    return {row[0]: int(row[1]) for row in rows}


# -- per article ---------------------------------------------------------------------------------------


def explicit_by_article(session: Session, period: Period) -> dict[str, int]:
    """Explicit deflections per article (each a visitor's Yes)."""
    return _count_by(session, Vote.article_id, _explicit(period))


def implicit_by_article(session: Session, period: Period, now: datetime | None = None) -> dict[str, int]:
    """Implicit deflections per article: distinct visitors who opened it and sent nothing within 24 hours."""
    return _distinct_count_by(
        session, AnswerOpened.article_id, AnswerOpened.visitor, _implicit(period, now or utcnow())
    )


def opened_by_article(session: Session, period: Period) -> dict[str, int]:
    """Distinct visitors who opened the article as a suggested answer on the contact form."""
    return _distinct_count_by(
        session,
        AnswerOpened.article_id,
        AnswerOpened.visitor,
        period.covers(AnswerOpened.created_at),
        period.in_locale(AnswerOpened.article_id, is_article_id=True),
    )


def _tickets_after(session: Session, period: Period, model: Any, key: Any) -> dict[Any, int]:
    """Tickets in the period sent within 24 hours after ``model`` rows (views, answers opened), by ``key``."""
    pairs = (
        select(key.label("k"), Ticket.id.label("t"))
        .join(
            model,
            and_(
                model.visitor == Ticket.visitor,
                period.reaches_back(model.created_at),
                within_hours(Ticket.created_at, model.created_at),
            ),
        )
        .where(period.covers(Ticket.created_at), period.in_locale(model.article_id, is_article_id=True))
        .distinct()
        .subquery()
    )
    rows = session.execute(select(pairs.c.k, func.count()).group_by(pairs.c.k)).all()
    return {row[0]: int(row[1]) for row in rows}


def failed_by_article(session: Session, period: Period) -> dict[str, int]:
    """Failed deflections per article: tickets sent within 24 hours after it was opened as an answer."""
    return _tickets_after(session, period, AnswerOpened, AnswerOpened.article_id)


def tickets_after_reading(session: Session, period: Period, by_revision: bool = False) -> dict[Any, int]:
    """Tickets sent within 24 hours after the article page was read, per article (or article and revision)."""
    if by_revision:
        key = ArticleView.article_id + "@" + ArticleView.revision  # portable || concatenation
        return {tuple(k.split("@", 1)): v for k, v in _tickets_after(session, period, ArticleView, key).items()}
    return _tickets_after(session, period, ArticleView, ArticleView.article_id)


# -- the funnel and the rate over time ----------------------------------------------------------------


@dataclass(frozen=True)
class Funnel:
    """Contact episodes (a visitor on a day) at each step, and the tickets."""

    opened: int  # opened the contact form
    shown: int  # were shown at least one suggestion
    answered: int  # opened a suggested answer
    resolved: int  # explicit or implicit deflection
    explicit: int
    implicit: int
    ticket: int  # sent a ticket
    tickets: int  # tickets sent (a visitor may send more than one)
    failed: int  # tickets that are failed deflections

    @property
    def rate(self) -> float | None:
        """Deflection rate: resolved episodes among those that ended resolved or in a ticket."""
        total = self.resolved + self.ticket
        return self.resolved / total if total else None

    def steps(self) -> list[tuple[str, int]]:
        """(label, episodes) per step; the labels are lazy UI strings (English in exports)."""
        return [
            (_l("Contact form opened"), self.opened),
            (_l("Suggestions shown"), self.shown),
            (_l("Answer opened"), self.answered),
            (_l("Resolved"), self.resolved),
            (_l("Ticket sent"), self.ticket),
        ]


def _episodes(session: Session, query: Any) -> int:
    return int(session.scalar(select(func.count()).select_from(query.distinct().subquery())) or 0)


def _resolved_episodes(period: Period, now: datetime) -> Any:
    return union(
        select(Vote.visitor.label("visitor"), day_of(Vote.updated_at).label("day")).where(_explicit(period)),
        select(AnswerOpened.visitor.label("visitor"), day_of(AnswerOpened.created_at).label("day")).where(
            _implicit(period, now)
        ),
    ).subquery()


def funnel(session: Session, period: Period, now: datetime | None = None) -> Funnel:
    """The deflection funnel: contact form opened → suggestions → answer → resolved / ticket."""
    now = now or utcnow()
    ep = _episodes
    opened = ep(
        session,
        select(ContactOpened.visitor, ContactOpened.day).where(
            period.covers(ContactOpened.created_at), period.in_locale(ContactOpened.locale)
        ),
    )
    shown = ep(
        session,
        select(SearchEvent.visitor, day_of(SearchEvent.created_at)).where(
            SearchEvent.source == "contact",
            SearchEvent.result_count > 0,
            period.covers(SearchEvent.created_at),
            period.in_locale(SearchEvent.locale),
        ),
    )
    answered = ep(
        session,
        select(AnswerOpened.visitor, day_of(AnswerOpened.created_at)).where(
            period.covers(AnswerOpened.created_at),
            period.in_locale(AnswerOpened.article_id, is_article_id=True),
        ),
    )
    explicit = ep(session, select(Vote.visitor, day_of(Vote.updated_at)).where(_explicit(period)))
    implicit = ep(session, select(AnswerOpened.visitor, day_of(AnswerOpened.created_at)).where(_implicit(period, now)))
    resolved = int(session.scalar(select(func.count()).select_from(_resolved_episodes(period, now))) or 0)
    in_period = and_(period.covers(Ticket.created_at), period.in_locale(Ticket.locale))
    ticket = ep(session, select(Ticket.visitor, day_of(Ticket.created_at)).where(in_period))
    tickets = int(session.scalar(select(func.count(Ticket.id)).where(in_period)) or 0)
    failed = int(session.scalar(select(func.count(Ticket.id)).where(_failed(period))) or 0)
    return Funnel(opened, shown, answered, resolved, explicit, implicit, ticket, tickets, failed)


@dataclass(frozen=True)
class RatePoint:
    day: date  # the day, or the Monday of the week
    resolved: int
    tickets: int

    @property
    def rate(self) -> float | None:
        total = self.resolved + self.tickets
        return self.resolved / total if total else None


def rate_over_time(
    session: Session, period: Period, now: datetime | None = None, bucket: str = "day"
) -> list[RatePoint]:
    """Resolved and ticket episodes per day (or per week, ``bucket="week"``), every bucket present."""
    now = now or utcnow()
    resolved_q = _resolved_episodes(period, now)
    resolved = {
        as_date(d): int(n)
        for d, n in session.execute(select(resolved_q.c.day, func.count()).group_by(resolved_q.c.day)).all()
    }
    tickets_q = (
        select(Ticket.visitor.label("visitor"), day_of(Ticket.created_at).label("day"))
        .where(period.covers(Ticket.created_at), period.in_locale(Ticket.locale))
        .distinct()
        .subquery()
    )
    tickets = {
        as_date(d): int(n)
        for d, n in session.execute(select(tickets_q.c.day, func.count()).group_by(tickets_q.c.day)).all()
    }
    return bucketed(period, bucket, resolved, tickets, RatePoint)


def bucketed(period: Period, bucket: str, first: dict[date, int], second: dict[date, int], make: Any) -> list[Any]:
    """Sum two per-day counts into day or week buckets covering the whole period, in order."""
    keys: list[date] = []
    sums: dict[date, list[int]] = {}
    for day in period.days():
        key = week_of(day) if bucket == "week" else day
        if key not in sums:
            keys.append(key)
            sums[key] = [0, 0]
        sums[key][0] += first.get(day, 0)
        sums[key][1] += second.get(day, 0)
    return [make(key, *sums[key]) for key in keys]
