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

from kb.content import Library, load_library

if TYPE_CHECKING:
    from kb.search import Searcher

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Snapshot:
    """One consistent view: articles and the index built from them."""

    library: Library
    searcher: Searcher | None
    build_id: str


class SiteState:
    def __init__(self, articles_dir: Path, index_dir: Path, settings: dict[str, object], reload_seconds: float) -> None:
        self.articles_dir = articles_dir
        self.index_dir = index_dir
        self.settings = settings
        self.reload_seconds = reload_seconds
        self._lock = threading.Lock()
        self._checked = 0.0
        self._snapshot: Snapshot | None = None

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

        library = load_library(self.articles_dir)
        searcher = None
        if build_id:
            try:
                searcher = open_searcher(self.index_dir, library, self.settings)
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
    app.extensions["kb.state"] = SiteState(
        Path(app.config["ARTICLES_DIR"]),
        Path(app.config["SEARCH_INDEX_DIR"]),
        dict(app.config),
        float(app.config["INDEX_RELOAD_SECONDS"]),
    )


def snapshot() -> Snapshot:
    """Return the current snapshot of the app handling this request."""
    state: SiteState = current_app.extensions["kb.state"]
    return state.current()


def library() -> Library:
    return snapshot().library
