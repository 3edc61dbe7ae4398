"""Searches and what they showed: run the Searcher for this request's snapshot, record the search and
the results shown, and the result a visitor then opened."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import current_app, has_app_context
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from kb.db import get_session
from kb.models import SearchClick, SearchEvent
from kb.search import Hit, SearchResult
from kb.site_state import snapshot
from kb.tracking import store
from kb.tracking.draft_key import draft_key
from kb.tracking.redact import redact
from kb.tracking.visitor import current_visitor

log = logging.getLogger(__name__)


@dataclass
class Found:
    result: SearchResult
    search_id: int | None
    available: bool  # False while no index has been built


def record_search(
    session: Session,
    *,
    visitor: str,
    locale: str,
    source: str,
    query: str,
    shown: list[str],
    result_count: int,
    confidence: float | None,
    latency_ms: float,
) -> int:
    """Store one search and return its id, so a click on a result can point back to it.

    The text is redacted first; the contact form's is not stored at all (a draft the visitor may never
    send): only what was shown and the draft's keyed hash, until a ticket names the question
    (``name_contact_question``).
    """
    contact = source == "contact"
    event = SearchEvent(
        visitor=visitor,
        locale=locale,
        source=source,
        query="" if contact else redact(query),
        draft=draft_key(str(current_app.config["SECRET_KEY"]), query) if contact and has_app_context() else "",
        shown=shown,
        result_count=result_count,
        confidence=confidence,
        latency_ms=latency_ms,
    )
    return store.save(session, event).id


def record_click(session: Session, *, visitor: str, search_id: int | None, article_id: str, position: int) -> None:
    """Store which result was opened, and at which position (1-based)."""
    search_id = known_search(session, search_id, visitor)
    store.save(session, SearchClick(visitor=visitor, search_id=search_id, article_id=article_id, position=position))


def known_search(session: Session, search_id: int | None, visitor: str | None = None) -> int | None:
    """``search_id`` when that search is stored (and ``visitor``'s, when given), else None (a stale,
    made-up or someone else's id points nowhere)."""
    event = None if search_id is None else session.get(SearchEvent, search_id)
    if event is None or (visitor is not None and event.visitor != visitor):
        return None
    return search_id


def name_contact_question(session: Session, visitor: str, question: str, since: datetime) -> None:
    """Give the visitor's last contact-form suggestions (stored without text) the question of the ticket
    they then sent, redacted: the one text the content-gaps report reads for the contact form."""
    event = session.scalars(
        select(SearchEvent)
        .where(
            SearchEvent.visitor == visitor,
            SearchEvent.source == "contact",
            SearchEvent.query == "",
            SearchEvent.created_at >= since,
        )
        .order_by(SearchEvent.created_at.desc(), SearchEvent.id.desc())
        .limit(1)
    ).first()
    if event is not None:
        event.query = redact(question)


def search_page(query: str, locale: str, category: str | None, page: int, size: int, source: str = "search") -> Found:
    """One page of results for ``query``, recorded as a search event."""
    query = _words_only(query)
    searcher = snapshot().searcher
    if searcher is None or not query:
        return Found(SearchResult(query=query, locale=locale, mode="hybrid"), None, searcher is not None)
    result = searcher.search(query, locale, limit=size, offset=(page - 1) * size, category=category)
    search_id = _shown(query, locale, source, result.hits, result.total, result.latency_ms)
    return Found(result, search_id, True)


def suggest(query: str, locale: str, source: str = "suggest") -> tuple[list[Hit], int | None]:
    """The confident suggestions for ``query`` (at most 3, maybe none), recorded as shown."""
    query = _words_only(query)
    searcher = snapshot().searcher
    if searcher is None or len(query) < 2:
        return [], None
    started = time.perf_counter()
    hits = searcher.suggest(query, locale)
    latency = (time.perf_counter() - started) * 1000
    return hits, _shown(query, locale, source, hits, len(hits), latency)


def _shown(query: str, locale: str, source: str, hits: list[Hit], total: int, latency_ms: float) -> int | None:
    """Record what this visitor was shown for ``query``; the id a click can point back to, or None."""
    return store.safely(
        record_search,
        get_session(),
        visitor=current_visitor(),
        locale=locale,
        source=source,
        query=query,
        shown=[h.id for h in hits],
        result_count=total,
        confidence=hits[0].confidence if hits else None,
        latency_ms=latency_ms,
    )


def _words_only(query: str) -> str:
    """The query with NUL characters read as spaces, so ``a\\x00b`` searches (and is stored as) two words."""
    return query.replace("\x00", " ").strip() if "\x00" in query else query


def guesses_for_path(path: str, locale: str, limit: int = 3) -> list[Hit]:
    """Articles a mistyped or old URL probably meant: search the words of its last segment."""
    searcher = snapshot().searcher
    words = " ".join(path.rstrip("/").rsplit("/", 1)[-1].replace("-", " ").replace("_", " ").split())[:100]
    if searcher is None or len(words) < 3:
        return []
    try:
        return searcher.search(words, locale, limit=limit).hits
    except Exception:  # a 404 page must never fail because of search
        log.exception("could not search for %s", path)
        return []


def click(search_id: int | None, article_id: str, position: int) -> None:
    """Record, for this visitor, that a result of the search ``search_id`` was opened."""
    store.safely(
        record_click,
        get_session(),
        visitor=current_visitor(),
        search_id=search_id,
        article_id=article_id,
        position=max(0, position),
    )


def query_of(search_id: int | None) -> str:
    """The words of this visitor's search ``search_id``, to carry on to the article; "" when unknown,
    unreadable or another visitor's (a URL never reads what someone else typed)."""
    if search_id is None:
        return ""
    try:
        event = get_session().get(SearchEvent, search_id)
    except SQLAlchemyError:
        get_session().rollback()
        return ""
    if event is None or not event.visitor or event.visitor != current_visitor():
        return ""
    return event.query


def result_json(found: Found) -> dict[str, Any]:
    """The search result as the JSON API answers it."""
    r = found.result
    return {
        "query": r.query,
        "locale": r.locale,
        "total": r.total,
        "did_you_mean": r.did_you_mean or None,
        "search_id": found.search_id,
        "results": [h.as_json() for h in r.hits],
    }
