"""Searches and what they showed: run the Searcher for this request's snapshot, record the search and
the results shown, and the result a visitor then opened."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from kb.db import get_session
from kb.models import SearchClick, SearchEvent
from kb.search import Hit, SearchResult
from kb.site_state import snapshot
from kb.tracking import store
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
    """Store one search and return its id, so a click on a result can point back to it."""
    event = SearchEvent(
        visitor=visitor,
        locale=locale,
        source=source,
        query=query,
        shown=shown,
        result_count=result_count,
        confidence=confidence,
        latency_ms=latency_ms,
    )
    return store.save(session, event).id


def record_click(session: Session, *, visitor: str, search_id: int | None, article_id: str, position: int) -> None:
    """Store which result was opened, and at which position (1-based)."""
    search_id = known_search(session, search_id)
    store.save(session, SearchClick(visitor=visitor, search_id=search_id, article_id=article_id, position=position))


def known_search(session: Session, search_id: int | None) -> int | None:
    """``search_id`` when that search is stored, else None (a stale or made-up id points nowhere)."""
    if search_id is None or session.get(SearchEvent, search_id) is None:
        return None
    return search_id


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
    """The words of the search ``search_id`` ("" when unknown or unreadable), to carry on to the article."""
    if search_id is None:
        return ""
    try:
        event = get_session().get(SearchEvent, search_id)
    except SQLAlchemyError:
        get_session().rollback()
        return ""
    return event.query if event is not None else ""


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
