"""Searching as the site does it: run the Searcher for this request's snapshot and record what was shown."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from kb.db import get_session
from kb.models import SearchEvent
from kb.search import Hit, SearchResult
from kb.site_state import snapshot
from kb.tracking import events
from kb.tracking.visitor import current_visitor

log = logging.getLogger(__name__)


@dataclass
class Found:
    result: SearchResult
    search_id: int | None
    available: bool  # False while no index has been built


def search_page(query: str, locale: str, category: str | None, page: int, size: int, source: str = "search") -> Found:
    """One page of results for ``query``, recorded as a search event."""
    query = _storable(query)
    searcher = snapshot().searcher
    if searcher is None or not query:
        return Found(SearchResult(query=query, locale=locale, mode="hybrid"), None, searcher is not None)
    result = searcher.search(query, locale, limit=size, offset=(page - 1) * size, category=category)
    search_id = events.safely(
        events.record_search,
        get_session(),
        visitor=current_visitor(),
        locale=locale,
        source=source,
        query=query,
        shown=[h.id for h in result.hits],
        result_count=result.total,
        confidence=result.top_confidence,
        latency_ms=result.latency_ms,
    )
    return Found(result, search_id, True)


def suggest(query: str, locale: str, source: str = "suggest") -> tuple[list[Hit], int | None]:
    """The confident suggestions for ``query`` (at most 3, maybe none), recorded as shown."""
    query = _storable(query)
    searcher = snapshot().searcher
    if searcher is None or len(query) < 2:
        return [], None
    started = time.perf_counter()
    hits = searcher.suggest(query, locale)
    latency = (time.perf_counter() - started) * 1000
    search_id = events.safely(
        events.record_search,
        get_session(),
        visitor=current_visitor(),
        locale=locale,
        source=source,
        query=query,
        shown=[h.id for h in hits],
        result_count=len(hits),
        confidence=hits[0].confidence if hits else None,
        latency_ms=latency,
    )
    return hits, search_id


def _storable(query: str) -> str:
    """The query without NUL characters, which PostgreSQL refuses in text (the search would go unrecorded)."""
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


def record_click(search_id: int | None, article_id: str, position: int) -> None:
    events.safely(
        events.record_click,
        get_session(),
        visitor=current_visitor(),
        search_id=search_id,
        article_id=article_id,
        position=max(0, position),
    )


def query_of(search_id: int | None) -> str:
    if search_id is None:
        return ""
    try:
        event = get_session().get(SearchEvent, search_id)
    except Exception:
        return ""
    return event.query if event is not None else ""


def result_json(found: Found) -> dict[str, Any]:
    r = found.result
    return {
        "query": r.query,
        "locale": r.locale,
        "total": r.total,
        "did_you_mean": r.did_you_mean or None,
        "search_id": found.search_id,
        "results": [h.as_json() for h in r.hits],
    }
