"""What the running site serves: the Library and the Searcher, swapped together when a new index lands.

``kb index`` writes a new build and then moves the pointer in ``search_index/``; each process checks
the pointer every few seconds and opens the new build beside the old one, so no request fails.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from flask import Flask, current_app

from kb.config import Settings, settings_of
from kb.content import Library, load_library
from kb.content.render_cache import kept_in

if TYPE_CHECKING:
    from kb.learning import LearnedRanking
    from kb.search import Searcher
    from kb.search.semantic import Models

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Snapshot:
    """One consistent view: articles and the index built from them."""

    library: Library
    searcher: Searcher | None
    build_id: str


class SiteState:
    def __init__(self, settings: Settings, models: Models) -> None:
        self.articles_dir = settings.articles_dir
        self.index_dir = settings.search_index_dir
        self.settings = settings
        self.models = models
        self.reload_seconds = settings.index_reload_seconds
        self._lock = threading.Lock()
        self._checked = 0.0
        self._snapshot: Snapshot | None = None
        self.learned: LearnedRanking | None = None  # visitors' evidence, given to every Searcher opened

    def current(self) -> Snapshot:
        """Return the snapshot to serve this request with, opening a newer build if one landed."""
        now = time.monotonic()
        snap = self._snapshot
        if snap is not None and now - self._checked < self.reload_seconds:
            return snap
        with self._lock:
            if self._snapshot is not None and now - self._checked < self.reload_seconds:
                return self._snapshot
            self._checked = now
            build_id = _current_build(self.index_dir)
            if self._snapshot is None or build_id != self._snapshot.build_id:
                self._snapshot = self._open(build_id)
            return self._snapshot

    def _open(self, build_id: str) -> Snapshot:
        from kb.search import open_searcher

        library = load_library(self.articles_dir, rendered=kept_in(self.index_dir))
        searcher = None
        if build_id:
            try:
                searcher = open_searcher(self.index_dir, library, self.settings, self.models)
                searcher.learned = self.learned
            except Exception:  # a broken or half-written build must not take the site down
                log.exception("could not open search index %s; serving articles without search", build_id)
        else:
            log.warning("no search index in %s: run `kb index`", self.index_dir)
        log.info("serving %d articles, index build %s", len(library), build_id or "none")
        return Snapshot(library, searcher, build_id)


def _current_build(index_dir: Path) -> str:
    pointer = index_dir / "CURRENT"
    try:
        return pointer.read_text().strip()
    except OSError:
        return ""


def init_app(app: Flask) -> None:
    from kb.learning.ranking import for_app

    state = SiteState(settings_of(app), models_of(app))
    state.learned = for_app(app)
    app.extensions["kb.state"] = state


def models_of(app: Flask) -> Models:
    """Return the embedding models ``app`` uses (shared with other apps when ``create_app`` was given them)."""
    models: Models = app.extensions["kb.models"]
    return models


def snapshot() -> Snapshot:
    """Return the current snapshot of the app handling this request."""
    state: SiteState = current_app.extensions["kb.state"]
    return state.current()


def library() -> Library:
    return snapshot().library
