"""Where questions come from: the widget inside the product, the contact page and the rest of the site, and
the product pages (host page paths) whose widget sends the most questions."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from kb.analytics.period import Period
from kb.analytics.tables import Column, Table
from kb.models import SearchEvent, Ticket, Vote

SOURCES = {"widget": _l("Widget in the product"), "contact": _l("Contact page"), "site": _l("Help center site")}
QUESTION_SOURCES = ("suggest", "contact", "search", "api")  # searches someone typed (not page-context lookups)


def _source(model: Any, contact: Any) -> Any:
    """widget | contact | site for a row of ``model``; ``contact`` says a site row came from the contact page."""
    return case((model.channel == "widget", "widget"), (contact, "contact"), else_="site")


def _counts(session: Session, statement: Any) -> dict[str, tuple[int, int]]:
    return {str(row[0]): (int(row[1] or 0), int(row[2] or 0)) for row in session.execute(statement)}


def source_table(session: Session, period: Period) -> Table:
    """Searches, votes (and the helpful ones) and tickets by source, for the period."""
    search_source = _source(SearchEvent, SearchEvent.source == "contact")
    searches = _counts(
        session,
        select(search_source, func.count(), func.sum(case((SearchEvent.result_count == 0, 1), else_=0)))
        .where(period.covers(SearchEvent.created_at), period.in_locale(SearchEvent.locale))
        .where(SearchEvent.source.in_(QUESTION_SOURCES))
        .group_by(search_source),
    )
    vote_source = _source(Vote, Vote.source == "contact")
    votes = _counts(
        session,
        select(vote_source, func.count(), func.sum(case((Vote.helpful.is_(True), 1), else_=0)))
        .where(period.covers(Vote.updated_at), period.in_locale(Vote.article_id, is_article_id=True))
        .group_by(vote_source),
    )
    ticket_source = case((Ticket.channel == "widget", "widget"), else_="contact")
    tickets = _counts(
        session,
        select(ticket_source, func.count(), func.count())
        .where(period.covers(Ticket.created_at), period.in_locale(Ticket.locale))
        .group_by(ticket_source),
    )
    rows = []
    for key, label in SOURCES.items():
        vote_count, helpful = votes.get(key, (0, 0))
        rows.append(
            {
                "source": label,
                "searches": searches.get(key, (0, 0))[0],
                "no_results": searches.get(key, (0, 0))[1],
                "votes": vote_count,
                "helpful": helpful / vote_count if vote_count else None,
                "tickets": tickets.get(key, (0, 0))[0],
            }
        )
    columns = [
        Column("source", _l("Where")),
        Column("searches", _l("Searches"), "int"),
        Column("no_results", _l("With no result"), "int"),
        Column("votes", _l("Votes"), "int"),
        Column("helpful", _l("Helpful"), "share"),
        Column("tickets", _l("Tickets"), "int"),
    ]
    return Table("sources", columns, rows)


def page_table(session: Session, period: Period, limit: int = 10) -> Table:
    """The host pages whose widget sent the most questions (searches typed and tickets), most first."""
    searched = dict(
        session.execute(
            select(SearchEvent.page_path, func.count())
            .where(SearchEvent.channel == "widget", SearchEvent.source.in_(QUESTION_SOURCES))
            .where(period.covers(SearchEvent.created_at), period.in_locale(SearchEvent.locale))
            .group_by(SearchEvent.page_path)
        ).all()
    )
    ticketed = dict(
        session.execute(
            select(Ticket.page_path, func.count())
            .where(Ticket.channel == "widget", period.covers(Ticket.created_at), period.in_locale(Ticket.locale))
            .group_by(Ticket.page_path)
        ).all()
    )
    counted = sorted(
        ((int(searched.get(path, 0)), int(ticketed.get(path, 0)), str(path)) for path in set(searched) | set(ticketed)),
        key=lambda c: (-(c[0] + c[1]), c[2]),
    )
    rows: list[dict[str, Any]] = [{"page": p or "/", "questions": q, "tickets": t} for q, t, p in counted]
    columns = [
        Column("page", _l("Product page")),
        Column("questions", _l("Searches"), "int"),
        Column("tickets", _l("Tickets"), "int"),
    ]
    return Table("widget_pages", columns, rows[:limit])
