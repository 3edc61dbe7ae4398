"""Feedback on an article: "Did this answer your question?" Yes or No, then after No one follow-up, no more.

Both steps write the visitor's one Vote on the article (``kb.deflection.record_vote``: voting again
updates it), with the revision read, the search that led there and the source "article".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session

from kb.content import Article
from kb.models import Vote, utcnow
from kb.tracking.answers import record_vote

# Why an article did not answer: the follow-up's choices (stored code -> what the visitor reads).
REASONS = {
    "not_answered": _l("It did not answer my question"),
    "out_of_date": _l("It is out of date"),
    "hard_to_follow": _l("It was hard to follow"),
    "missing": _l("Something was missing"),
}
COMMENT_MAX = 1000
QUERY_MAX = 500


class FeedbackInvalid(ValueError):
    """What the visitor sent cannot be stored; the message says what to change."""


@dataclass(frozen=True)
class Step:
    """Where the widget goes next: ``reason`` (the follow-up after No) or ``thanks`` (done)."""

    name: str
    helpful: bool


def submit(session: Session, article: Article, visitor: str, form: Mapping[str, str]) -> Step:
    """Store one step of the widget from ``form`` and return the next; raise FeedbackInvalid on bad input."""
    query = " ".join(str(form.get("query") or "").split())[:QUERY_MAX]
    if form.get("step") == "reason":
        reason = str(form.get("reason") or "")
        comment = str(form.get("comment") or "").strip()
        if reason and reason not in REASONS:
            raise FeedbackInvalid(str(_l("Choose one of the reasons.")))
        if len(comment) > COMMENT_MAX:
            raise FeedbackInvalid(str(_l("Keep your comment under %(max)d characters.", max=COMMENT_MAX)))
        if not reason and not comment:  # nothing to add: the No stands as it is
            return Step("thanks", False)
        add_reason(session, visitor, article, reason or None, comment or None, query)
        return Step("thanks", False)
    answer = str(form.get("helpful") or "").lower()
    if answer not in ("yes", "no"):
        raise FeedbackInvalid(str(_l("Answer Yes or No.")))
    helpful = answer == "yes"
    record_vote(
        session,
        visitor=visitor,
        article_id=article.id,
        revision=article.revision,
        helpful=helpful,
        query=query,
        source="article",
    )
    return Step("thanks" if helpful else "reason", helpful)


def add_reason(
    session: Session, visitor: str, article: Article, reason: str | None, comment: str | None, query: str
) -> None:
    """Add why to the visitor's No (casting the No first if it is missing, e.g. a lost session)."""
    vote = session.scalars(select(Vote).where(Vote.visitor == visitor, Vote.article_id == article.id)).first()
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
        )
        return
    vote.reason, vote.comment, vote.updated_at = reason, comment, utcnow()
    session.commit()
