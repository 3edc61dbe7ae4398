"""Tickets: store a question with what the visitor did before asking, and queue its delivery in one commit.

The ticket and its outbox messages are committed together before the visitor is told "sent"; delivery
happens afterwards (``kb.outbox``), so a mail server or helpdesk that is down loses nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from flask import current_app, request
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from kb.config import settings_of
from kb.db import get_session
from kb.errors import TicketNotSaved
from kb.models import AnswerOpened, ArticleView, OutboxMessage, SearchClick, SearchEvent, Ticket, Vote, utcnow
from kb.search import Hit
from kb.search.searcher import MAX_QUERY
from kb.site_state import snapshot
from kb.tickets import messages as notifications
from kb.tickets import outbox
from kb.tracking import search_log, store, view_buffer
from kb.tracking.visitor import current_visitor

log = logging.getLogger(__name__)

CONTEXT_HOURS = 24
CONTEXT_LIMIT = 50  # of each kind of record, the most recent
QUERY_MAX = MAX_QUERY  # what the searcher reads of a question: a subject and a few sentences


def question_text(subject: str, message: str) -> str:
    """What to search for a question: the subject, then the start of the message."""
    return " ".join(f"{subject} {message}".split())[:QUERY_MAX]


def _at(value: datetime) -> str:
    return value.replace(microsecond=0).isoformat() + "Z"


def visitor_context(session: Session, visitor: str, now: datetime, hours: int = CONTEXT_HOURS) -> dict[str, Any]:
    """What ``visitor`` searched, was suggested, opened, read and voted on in the ``hours`` before ``now``."""
    if not visitor:
        return {key: [] for key in ("searches", "suggested", "opened", "read", "clicked", "votes")}
    since = now - timedelta(hours=hours)

    def recent(model: Any, column: Any) -> list[Any]:
        rows = session.scalars(
            select(model)
            .where(model.visitor == visitor, column >= since, column <= now)
            .order_by(column.desc(), model.id.desc())
            .limit(CONTEXT_LIMIT)
        ).all()
        return list(reversed(rows))  # oldest first: the order the visitor did things in

    searches = recent(SearchEvent, SearchEvent.created_at)
    suggested: list[str] = []
    for event in searches:
        if event.source == "contact":
            suggested += [a for a in event.shown or [] if a not in suggested]
    return {
        "searches": [
            {
                "at": _at(e.created_at),
                "source": e.source,
                "query": e.query,
                "results": e.result_count,
                "shown": list(e.shown or []),
            }
            for e in searches
        ],
        "suggested": suggested,
        "opened": [
            {"at": _at(o.created_at), "article_id": o.article_id, "search_id": o.search_id, "position": o.position}
            for o in recent(AnswerOpened, AnswerOpened.created_at)
        ],
        "read": [
            {"at": _at(v.created_at), "article_id": v.article_id, "source": v.source}
            for v in recent(ArticleView, ArticleView.created_at)
        ],
        "clicked": [
            {"at": _at(c.created_at), "article_id": c.article_id, "search_id": c.search_id, "position": c.position}
            for c in recent(SearchClick, SearchClick.created_at)
        ],
        "votes": [
            {"at": _at(v.updated_at), "article_id": v.article_id, "helpful": v.helpful, "source": v.source}
            for v in recent(Vote, Vote.updated_at)
        ],
    }


def create_ticket(
    session: Session,
    submission: Mapping[str, str],
    *,
    visitor: str,
    locale: str,
    user_agent: str,
    compose: Callable[[Ticket], list[OutboxMessage]],
    now: datetime | None = None,
    extra_context: Mapping[str, Any] | None = None,
) -> tuple[Ticket, list[OutboxMessage]]:
    """Commit the ticket and the messages ``compose`` makes for it, or raise TicketNotSaved."""
    now = now or utcnow()
    try:
        if visitor:
            since = now - timedelta(hours=CONTEXT_HOURS)
            search_log.name_contact_question(session, visitor, submission.get("subject", ""), since)
        context = visitor_context(session, visitor, now)
    except SQLAlchemyError as exc:  # the history is a help to the agent, never a reason to lose the question
        log.error("could not read the visitor's history for a ticket: %s", store.describe(exc))
        session.rollback()
        context = {"error": "the visitor's history could not be read"}
    came_from = submission.get("came_from", "")[:500]
    context.update(locale=locale, user_agent=user_agent[:300], came_from=came_from)
    context.update(extra_context or {})  # e.g. the widget's "identity": verified by signature, or not
    ticket = Ticket(
        created_at=now,
        visitor=visitor,
        locale=locale,
        name=submission["name"],
        email=submission["email"],
        subject=submission["subject"],
        message=submission["message"],
        topic=submission.get("topic", ""),
        store_url=submission.get("store_url", ""),
        came_from=came_from,
        user_agent=user_agent[:300],
        context=context,
    )
    try:
        session.add(ticket)
        session.flush()  # the id, for the reference the messages carry
        messages = compose(ticket)
        for message in messages:
            message.ticket_id = ticket.id
            message.created_at = message.updated_at = message.next_attempt_at = now
        session.add_all(messages)
        session.commit()
    except SQLAlchemyError as exc:
        session.rollback()
        log.error("could not store a ticket: %s", store.describe(exc))  # never its text or address
        raise TicketNotSaved("the ticket could not be stored; the visitor can send it again") from exc
    log.info("ticket %s stored with %d outbox message(s)", ticket.reference, len(messages))
    return ticket, messages


def best_answers(subject: str, message: str, locale: str) -> list[Hit]:
    """The confident answers to a question, for the acknowledgement mail (not recorded as shown)."""
    searcher = snapshot().searcher
    if searcher is None:
        return []
    try:
        return searcher.suggest(question_text(subject, message), locale)
    except Exception:  # a search failure must not stop a ticket
        log.exception("could not find answers for the acknowledgement")
        return []


def submit(submission: Mapping[str, str], locale: str, extra_context: Mapping[str, Any] | None = None) -> Ticket:
    """Store the question from this request as a ticket; its delivery is tried after, never in the request."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    settings = settings_of(app)
    answers = []
    if notifications.acknowledges(settings):
        answers = best_answers(submission["subject"], submission["message"], locale)
    data = dict(submission)
    data["came_from"] = data.get("came_from") or request.referrer or ""
    view_buffer.flush(app)  # the articles this visitor read a moment ago belong in the ticket's history
    ticket, messages = create_ticket(
        get_session(),
        data,
        visitor=current_visitor(),
        locale=locale,
        user_agent=request.user_agent.string or "",
        compose=lambda t: notifications.outbox_messages(t, settings, answers),
        extra_context=extra_context,
    )
    if settings.deliver_after_commit and messages:
        outbox.deliver_later(app.extensions["kb.db"], [m.id for m in messages], settings)
    return ticket
