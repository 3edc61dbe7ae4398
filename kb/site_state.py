"""What the running site serves: the Library and the Searcher, swapped together when a new index lands.

``kb index`` writes a new build and then moves the pointer in ``search_index/``. Each serving process
watches the pointer from a thread of its own and opens the new build there, beside the old one, which
requests go on being served from until the new one is ready: no request fails, and none waits for the
seconds a large help center takes to open. With ``INDEX_RELOAD_SECONDS`` 0 (the tests), the pointer is
checked on every request and a new build opened before it is answered instead.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from flask import Flask, current_app, has_request_context

from kb import collector
from kb.config import Settings, settings_of
from kb.content import Library, load_library
from kb.content.render_cache import Kept, RenderCache, kept_in

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
        self._watcher = 0  # the process whose thread watches the pointer
        self._snapshot: Snapshot | None = None
        self._renderings: dict[str, Kept] | None = None  # the bodies the last snapshot was rendered with
        self.learned: LearnedRanking | None = None  # visitors' evidence, given to every Searcher opened

    def current(self) -> Snapshot:
        """Return the snapshot to serve this request with.

        The first call opens the current build. After that, with a reload interval, a thread of this
        process opens newer builds while requests are served from the one before (``watch``; started on
        a request at the latest, never in a server's master, which only warms up before forking its
        workers); without one, each call checks the pointer.
        """
        snap = self._snapshot
        if snap is None or self.reload_seconds <= 0:
            return self._refresh()
        if self._watcher != os.getpid() and has_request_context():
            self.watch()
        return snap

    def _refresh(self) -> Snapshot:
        """Open the build the pointer names, unless it is the one served already."""
        with self._lock:
            build_id = _current_build(self.index_dir)
            if self._snapshot is None or build_id != self._snapshot.build_id:
                self._snapshot = self._open(build_id)
            return self._snapshot

    def watch(self) -> None:
        """Start this process's thread that opens new builds (once; not without a reload interval). gunicorn
        calls it as each worker starts; under another server, a worker's first request does."""
        if self.reload_seconds <= 0:
            return
        with self._lock:
            if self._watcher == os.getpid():
                return
            self._watcher = os.getpid()  # a forked worker inherits the number of its parent, never its threads
        watcher = threading.Thread(
            target=_watch_pointer, args=(weakref.ref(self), self.reload_seconds), name="kb-index-watcher", daemon=True
        )
        watcher.start()

    def _open(self, build_id: str) -> Snapshot:
        with collector.paused():  # all it makes is kept: no collection walks it (kb.collector)
            return self._opened(build_id)

    def _opened(self, build_id: str) -> Snapshot:
        from kb.search import open_searcher

        # The file of kept renderings is read once; after that, the last load's (kb index wrote the file).
        kept = self._renderings
        renderings = RenderCache(kept_in(self.index_dir) if kept is None else None, kept)
        library = load_library(self.articles_dir, rendered=kept_in(self.index_dir), renderings=renderings)
        self._renderings = renderings.kept()
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


def _watch_pointer(state_ref: weakref.ReferenceType[SiteState], interval: float) -> None:
    """Check the pointer every ``interval`` seconds and open what lands, until the site is gone."""
    while True:
        time.sleep(interval)
        state = state_ref()
        if state is None:
            return
        try:
            state._refresh()
        except Exception:  # the articles folder unreadable for a moment: serve the last snapshot, try again
            served = state._snapshot.build_id if state._snapshot is not None else "nothing"
            log.exception("could not open the new index build; still serving %s", served)
        interval = state.reload_seconds
        del state  # held only while working: a site that is gone ends its watcher


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
