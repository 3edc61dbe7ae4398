"""Whether a question and an article can be evidence: the visitor asked it here and was shown that article.

Evidence is only as honest as its question. A vote or an answer opened may name any article and carry
any words, so they teach the ranking only when this visitor's own search, in the last day, showed the
article: for the contact form (whose drafts are stored without text) its suggestions; for searches and
the widget, whose text is kept, a search with the same words. An article never shown cannot be pushed,
and a link carrying someone else's question (``?q=...``) teaches nothing from its readers' votes.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from kb.analytics.period import WINDOW_HOURS
from kb.models import SearchEvent
from kb.tracking.redact import redact

ASKING_SOURCES = ("search", "suggest", "contact")  # not "context" (a host page's words) nor "api"
RECENT_SEARCHES = 200  # a visitor's searches of the last day read back, newest first


def same_words(a: str, b: str) -> bool:
    """The same question, up to case and spacing (both as the search log keeps them)."""
    return " ".join(a.split()).casefold() == " ".join(b.split()).casefold()


def shown_for(event: SearchEvent | None, article_id: str) -> bool:
    """``event`` is a visitor's question (not a host page's words) and showed ``article_id``."""
    return event is not None and event.source in ASKING_SOURCES and article_id in (event.shown or [])


def was_asked(session: Session, visitor: str, article_id: str, question: str, now: datetime) -> bool:
    """``visitor`` searched ``question`` (or sent it from the contact form) in the last day and was shown
    ``article_id`` for it."""
    kept = redact(question)
    events = session.scalars(
        select(SearchEvent)
        .where(SearchEvent.visitor == visitor, SearchEvent.created_at >= now - timedelta(hours=WINDOW_HOURS))
        .order_by(SearchEvent.id.desc())
        .limit(RECENT_SEARCHES)
    )
    return any(
        shown_for(event, article_id) and (event.source == "contact" or same_words(event.query, kept))
        for event in events
    )
