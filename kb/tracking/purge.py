"""Retention: what visitors typed and who they were, kept only ``RETENTION_DAYS`` (``kb purge``).

Rows older than the cut-off keep what the analytics count (their time, article ids, results shown,
Yes/No and reason) and lose the rest:

- search text (searches, the words carried to an article, votes' questions and comments) is emptied, and
  votes' address hashes deleted; what visitors taught the search (``learned_evidence``: their questions'
  embeddings, which short texts can be partly read back from, and their address hashes) is deleted; the
  contact form's draft keys are emptied after a day, whatever the cut-off (they only serve that day);
- visitor ids become a random pseudonym, a new one per visitor and run, so old counts of distinct
  visitors still add up but no row can be tied to a cookie any more;
- tickets whose messages have all left the outbox (sent or given up) lose the name, e-mail, message,
  store URL, user agent and history, and their outbox messages their payload; the subject is redacted.

Plain SQLAlchemy updates: the same on SQLite and PostgreSQL. Running it twice changes nothing more.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, delete, exists, select, update
from sqlalchemy.orm import Session

from kb.analytics.period import WINDOW_HOURS
from kb.models import (
    AnswerOpened,
    ArticleView,
    ContactOpened,
    LearnedEvidence,
    OutboxMessage,
    SearchClick,
    SearchEvent,
    Ticket,
    Vote,
    utcnow,
)
from kb.tracking.redact import redact

ANONYMOUS = "anon-"  # the prefix of a pseudonym, so a second run leaves it alone
BATCH = 500


@dataclass
class Purged:
    """What one run changed, per kind of record."""

    counts: dict[str, int] = field(default_factory=dict)

    def add(self, what: str, n: int) -> None:
        if n:
            self.counts[what] = self.counts.get(what, 0) + n

    def lines(self) -> list[str]:
        return [f"{what}: {n}" for what, n in self.counts.items()] or ["nothing older to purge"]


def _rowcount(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


def _kept_time(model: Any) -> dict[Any, Any]:
    """Values that keep a row's own time: a vote's ``updated_at`` would otherwise move to now (``onupdate``)."""
    return {Vote.updated_at: Vote.updated_at} if model is Vote else {}


def _texts(session: Session, cutoff: datetime, purged: Purged) -> None:
    """Empty the text visitors typed, in the rows older than ``cutoff``."""
    for what, model, column, when in (
        ("search texts emptied", SearchEvent, SearchEvent.query, SearchEvent.created_at),
        ("article-view search texts emptied", ArticleView, ArticleView.query, ArticleView.created_at),
        ("vote questions emptied", Vote, Vote.query, Vote.updated_at),
    ):
        result = session.execute(
            update(model)
            .where(when < cutoff, column != "")
            .values({column: "", **_kept_time(model)})
            .execution_options(synchronize_session=False)
        )
        purged.add(what, _rowcount(result))
    result = session.execute(
        update(Vote)
        .where(Vote.updated_at < cutoff, Vote.comment.is_not(None))
        .values({Vote.comment: None, **_kept_time(Vote)})
        .execution_options(synchronize_session=False)
    )
    purged.add("vote comments deleted", _rowcount(result))
    voter = getattr(Vote, "voter", None)  # a keyed hash of the address and day (one vote per address)
    if voter is not None:
        result = session.execute(
            update(Vote)
            .where(Vote.updated_at < cutoff, voter.is_not(None))
            .values({voter: None, **_kept_time(Vote)})
            .execution_options(synchronize_session=False)
        )
        purged.add("vote address hashes deleted", _rowcount(result))


def _draft_keys(session: Session, purged: Purged) -> None:
    """Empty the contact form's draft keys older than a day, whatever the cut-off: they only check that a
    vote or an answer opened of the same day carries the words asked (kb.learning.asked)."""
    result = session.execute(
        update(SearchEvent)
        .where(SearchEvent.created_at < utcnow() - timedelta(hours=WINDOW_HOURS), SearchEvent.draft != "")
        .values({SearchEvent.draft: ""})
        .execution_options(synchronize_session=False)
    )
    purged.add("contact draft keys emptied", _rowcount(result))


def _evidence(session: Session, cutoff: datetime, purged: Purged) -> None:
    """Delete the learned evidence older than ``cutoff``: a question kept as an embedding no longer than its words."""
    result = session.execute(
        delete(LearnedEvidence).where(LearnedEvidence.created_at < cutoff).execution_options(synchronize_session=False)
    )
    purged.add("learned questions deleted", _rowcount(result))


def _visitors(session: Session, cutoff: datetime, purged: Purged) -> None:
    """Replace the visitor id of every older row by a pseudonym, one per visitor and run."""
    tables: list[tuple[Any, Any]] = [
        (SearchEvent, SearchEvent.created_at),
        (SearchClick, SearchClick.created_at),
        (ArticleView, ArticleView.created_at),
        (AnswerOpened, AnswerOpened.created_at),
        (ContactOpened, ContactOpened.created_at),
        (Vote, Vote.updated_at),
        (Ticket, Ticket.created_at),
    ]
    named: dict[str, str] = {}
    for model, when in tables:
        old = (
            select(model.visitor)
            .where(when < cutoff, model.visitor != "", ~model.visitor.startswith(ANONYMOUS))
            .distinct()
        )
        for visitor in session.scalars(old).all():
            alias = named.setdefault(visitor, ANONYMOUS + secrets.token_hex(12))
            result = session.execute(
                update(model)
                .where(model.visitor == visitor, when < cutoff)
                .values({model.visitor: alias, **_kept_time(model)})
                .execution_options(synchronize_session=False)
            )
            purged.add(f"{model.__tablename__} visitor ids anonymised", _rowcount(result))
    purged.add("visitors anonymised", len(named))


def _delivered(cutoff: datetime) -> Select[Any]:
    """Tickets older than ``cutoff`` with nothing left to send and personal data still on them."""
    waiting = exists().where(OutboxMessage.ticket_id == Ticket.id, OutboxMessage.status.in_(("pending", "sending")))
    return select(Ticket).where(Ticket.created_at < cutoff, ~waiting, Ticket.email != "")


def _tickets(session: Session, cutoff: datetime, purged: Purged) -> None:
    """Strip the personal data from delivered tickets and their sent messages; keep the counts."""
    while True:
        tickets = session.scalars(_delivered(cutoff).limit(BATCH)).all()
        if not tickets:
            return
        for ticket in tickets:
            ticket.name = ticket.email = ticket.message = ""
            ticket.store_url = ticket.user_agent = ticket.came_from = ""
            ticket.subject = redact(ticket.subject)
            ticket.context = {"purged": True}
        ids = [t.id for t in tickets]
        result = session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.ticket_id.in_(ids))
            .values(payload={}, last_error=None)
            .execution_options(synchronize_session=False)
        )
        session.flush()
        purged.add("tickets stripped of name, e-mail and message", len(ids))
        purged.add("outbox messages emptied", _rowcount(result))


def purge(session: Session, cutoff: datetime) -> Purged:
    """Anonymise everything older than ``cutoff`` in one transaction; return what changed."""
    purged = Purged()
    _texts(session, cutoff, purged)
    _evidence(session, cutoff, purged)
    _draft_keys(session, purged)
    _tickets(session, cutoff, purged)
    _visitors(session, cutoff, purged)
    session.commit()
    return purged
