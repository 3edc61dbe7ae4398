"""Answers opened: which suggested answer a visitor opened in place, where it was shown and at which rank.

With the votes (``kb.tracking.votes``) these are the raw facts the analytics compute deflection from
(explicit: a Yes; implicit: an answer opened and no ticket within 24 hours; failed: a ticket after answers
were shown or read).
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from kb.models import AnswerOpened
from kb.tracking import store
from kb.tracking.search_log import known_search


def record_opened(
    session: Session,
    *,
    visitor: str,
    article_id: str,
    search_id: int | None,
    anchor: str = "",
    position: int = 0,
    source: str = "contact",
    draft: str = "",
) -> None:
    """Store that ``visitor`` opened a suggested answer (where it was shown, and at which rank); ``draft``,
    the contact form's question, is never stored: only its embedding, as evidence (kb.learning)."""
    from kb.learning.evidence import learn_from_opened

    opened = store.save(
        session,
        AnswerOpened(
            visitor=visitor,
            article_id=article_id,
            anchor=anchor,
            search_id=known_search(session, search_id, visitor),
            position=max(0, position),
            source=source,
        ),
    )
    learn_from_opened(session, opened, draft)  # evidence for the search, once 24 hours pass without a ticket
