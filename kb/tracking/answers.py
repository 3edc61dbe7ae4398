"""What visitors do with suggested answers: which they opened and their Yes/No votes.

These are the raw facts the analytics compute deflection from (explicit: a Yes; implicit: an answer
opened and no ticket within 24 hours; failed: a ticket after answers were shown or read).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from kb.models import AnswerOpened, SearchEvent, Vote, utcnow

VOTE_SOURCES = ("article", "contact")


def _known_search(session: Session, search_id: int | None) -> int | None:
    if search_id is None or session.get(SearchEvent, search_id) is None:
        return None
    return search_id


def record_opened(
    session: Session,
    *,
    visitor: str,
    article_id: str,
    search_id: int | None,
    anchor: str = "",
    position: int = 0,
    source: str = "contact",
) -> None:
    """Store that ``visitor`` opened a suggested answer (where it was shown, and at which rank)."""
    session.add(
        AnswerOpened(
            visitor=visitor,
            article_id=article_id,
            anchor=anchor[:200],
            search_id=_known_search(session, search_id),
            position=max(0, position),
            source=source[:16],
        )
    )
    session.commit()


def record_vote(
    session: Session,
    *,
    visitor: str,
    article_id: str,
    revision: str,
    helpful: bool,
    query: str = "",
    source: str = "article",
    reason: str | None = None,
    comment: str | None = None,
    now: datetime | None = None,
) -> Vote:
    """Store a visitor's Yes/No on an article; a second vote on the same article replaces the first."""
    now = now or utcnow()
    values = {
        "revision": revision[:64],
        "helpful": helpful,
        "query": query[:2000],
        "source": source if source in VOTE_SOURCES else "article",
        "reason": reason[:32] if reason else None,
        "comment": comment or None,
        "updated_at": now,
    }
    for _ in range(2):  # a concurrent first vote from the same visitor may win the insert: then update it
        mine = select(Vote).where(Vote.visitor == visitor, Vote.article_id == article_id)
        vote = session.scalars(mine).first()
        if vote is not None:
            for key, value in values.items():
                setattr(vote, key, value)
            session.commit()
            return vote
        vote = Vote(visitor=visitor, article_id=article_id, created_at=now, **values)
        try:
            with session.begin_nested():
                session.add(vote)
            session.commit()
            return vote
        except IntegrityError:
            session.rollback()
    raise RuntimeError("could not store the vote")  # pragma: no cover - needs two races in a row
