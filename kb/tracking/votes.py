"""Votes: "Did this answer your question?" Yes or No on an article, and after a No one reason, no more.

A visitor has one Vote per article (voting again updates it), with the revision read, the search or
question that led there, and where it was cast: under the article ("article") or under a suggested
answer in the contact form ("contact").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask_babel import lazy_gettext as _l
from flask_babel.speaklater import LazyString
from sqlalchemy import select
from sqlalchemy.orm import Session

from kb.content import Article
from kb.models import Vote, utcnow
from kb.tracking import store
from kb.tracking.redact import redact

VOTE_SOURCES = ("article", "contact")
COMMENT_MAX = 1000


@dataclass(frozen=True)
class Reason:
    """A reason code's two names: what the visitor reads in the follow-up, and the admin's short name."""

    asked: LazyString
    short: LazyString


# Why an article did not answer: the follow-up's choices, by the code stored with the vote.
REASONS = {
    "not_answered": Reason(_l("It did not answer my question"), _l("not answered")),
    "out_of_date": Reason(_l("It is out of date"), _l("out of date")),
    "hard_to_follow": Reason(_l("It was hard to follow"), _l("hard to follow")),
    "missing": Reason(_l("Something was missing"), _l("missing")),
}


@dataclass(frozen=True)
class Answer:
    """One step of the widget as the visitor sent it (already checked by ``kb.forms.FeedbackForm``)."""

    step: str  # "vote" (Yes or No) or "reason" (why, after a No)
    helpful: bool
    reason: str | None = None
    comment: str | None = None
    query: str = ""


@dataclass(frozen=True)
class Step:
    """Where the widget goes next: ``reason`` (the follow-up after No) or ``thanks`` (done)."""

    name: str
    helpful: bool


def submit(session: Session, article: Article, visitor: str, answer: Answer, voter: str | None = None) -> Step:
    """Store one step of the widget and return the next (``voter``: see ``record_vote``)."""
    if answer.step == "reason":
        if answer.reason or answer.comment:  # else nothing to add: the No stands as it is
            add_reason(session, visitor, article, answer.reason, answer.comment, answer.query, voter)
        return Step("thanks", False)
    record_vote(
        session,
        visitor=visitor,
        article_id=article.id,
        revision=article.revision,
        helpful=answer.helpful,
        query=answer.query,
        source="article",
        voter=voter,
    )
    return Step("thanks" if answer.helpful else "reason", answer.helpful)


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
    voter: str | None = None,
) -> Vote:
    """Store a visitor's Yes/No on an article; a second vote on the same article replaces the first.

    ``voter`` (a keyed hash of the client address and the day, kb.security.addresses) makes a vote from
    the same address on the same day replace the first too, however often the cookie was dropped.
    """
    now = now or utcnow()
    values = {
        "revision": revision,
        "helpful": helpful,
        "query": redact(query),
        "source": source if source in VOTE_SOURCES else "article",
        "reason": reason or None,
        "comment": redact(comment) if comment else None,
        "updated_at": now,
    }
    vote = _vote_of(session, visitor, article_id) or _vote_of_voter(session, voter, article_id)
    if vote is None:
        vote = Vote(visitor=visitor, article_id=article_id, created_at=now, voter=voter, **values)
        if store.insert_once(session, vote):
            _learn(session, vote, query, visitor)
            return vote
        # a concurrent first vote won the insert: update it
        vote = _vote_of(session, visitor, article_id) or _vote_of_voter(session, voter, article_id)
        if vote is None:  # pragma: no cover - the winning vote was deleted in between
            raise RuntimeError("could not store the vote")
    for key, value in values.items():
        setattr(vote, key, value)
    store.save(session, vote)
    _learn(session, vote, query, visitor)
    return vote


def _learn(session: Session, vote: Vote, question: str, visitor: str) -> None:
    """Keep what the vote says about the question's article for the search (kb.learning), text-free:
    ``visitor`` (who voted now: another cookie from the same address may have taken the vote over) must
    have asked it."""
    from kb.learning.evidence import learn_from_vote

    learn_from_vote(session, vote, question, visitor)


def add_reason(
    session: Session,
    visitor: str,
    article: Article,
    reason: str | None,
    comment: str | None,
    query: str,
    voter: str | None = None,
) -> None:
    """Add why to the visitor's No (casting the No first if it is missing, e.g. a lost session)."""
    vote = _vote_of(session, visitor, article.id) or _vote_of_voter(session, voter, article.id)
    if vote is None or vote.helpful:
        record_vote(
            session,
            visitor=visitor,
            article_id=article.id,
            revision=article.revision,
            helpful=False,
            query=query,
            source="article",
            reason=reason,
            comment=comment,
            voter=voter,
        )
        return
    vote.reason, vote.comment, vote.updated_at = reason, redact(comment) if comment else comment, utcnow()
    store.save(session, vote)


def _vote_of(session: Session, visitor: str, article_id: str) -> Vote | None:
    return session.scalars(select(Vote).where(Vote.visitor == visitor, Vote.article_id == article_id)).first()


def _vote_of_voter(session: Session, voter: str | None, article_id: str) -> Vote | None:
    """The vote cast on ``article_id`` from the same address today (under any cookie), if any."""
    if not voter:
        return None
    return session.scalars(select(Vote).where(Vote.voter == voter, Vote.article_id == article_id)).first()
