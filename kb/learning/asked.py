"""Whether a question and an article can be evidence: the visitor asked it here and was shown that article.

Evidence is only as honest as its question. A vote or an answer opened may name any article and carry
any words, so they teach the ranking only when this visitor's own search, in the last day, showed the
article for those words: the search's text where the log keeps it (searches, the widget), the draft's
keyed hash for the contact form (kb.tracking.draft_key). An article never shown cannot be pushed, words
never asked cannot be attached to it, and a link carrying someone else's question (``?q=...``) teaches
nothing from its readers' votes.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from kb.analytics.period import WINDOW_HOURS
from kb.models import SearchEvent
from kb.tracking.draft_key import draft_key, folded
from kb.tracking.redact import redact

ASKING_SOURCES = ("search", "suggest", "contact")  # not "context" (a host page's words) nor "api"
RECENT_SEARCHES = 200  # a visitor's searches of the last day read back, newest first


def shown_for(event: SearchEvent | None, article_id: str) -> bool:
    """``event`` is a visitor's question (not a host page's words) and showed ``article_id``."""
    return event is not None and event.source in ASKING_SOURCES and article_id in (event.shown or [])


def asked_in(event: SearchEvent, question: str, secret: str) -> bool:
    """``question`` is the words of ``event``: its kept text, or the contact form's draft by its key."""
    if event.source == "contact":  # before drafts had keys (""), nothing can match
        return bool(event.draft) and event.draft == draft_key(secret, question)
    return bool(event.query.strip()) and folded(event.query) == folded(redact(question))


def recent(event: SearchEvent, now: datetime) -> bool:
    """``event`` is of the last day before ``now``: a vote or an answer opened answers a fresh question."""
    return now - timedelta(hours=WINDOW_HOURS) <= event.created_at <= now + timedelta(minutes=5)


def was_asked(session: Session, visitor: str, article_id: str, question: str, now: datetime, secret: str) -> bool:
    """``visitor`` asked ``question`` (a search, the widget or the contact form) in the last day and was
    shown ``article_id`` for it."""
    events = session.scalars(
        select(SearchEvent)
        .where(SearchEvent.visitor == visitor, SearchEvent.created_at >= now - timedelta(hours=WINDOW_HOURS))
        .order_by(SearchEvent.id.desc())
        .limit(RECENT_SEARCHES)
    )
    return any(shown_for(event, article_id) and asked_in(event, question, secret) for event in events)
