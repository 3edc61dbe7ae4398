"""Article views written in batches: a commit per page read cost more than the rest of a cached page.

Views wait in memory (per process) and a background thread writes them every ``KB_VIEW_FLUSH_SECONDS`` in
one transaction, skipping those already counted (one per visitor, article and day). A view is analytics,
not something a visitor typed to us: at most that many seconds of views are lost if a worker is killed.
``KB_VIEW_FLUSH_SECONDS=0`` writes each view within its request, as before.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
import weakref
from datetime import date
from typing import Any

from flask import Flask
from sqlalchemy import Engine, insert
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from kb.db import engine_of, fitted
from kb.models import ArticleView, utcnow
from kb.tracking.article_views import VIEW_SOURCES
from kb.tracking.redact import redact
from kb.tracking.store import describe

log = logging.getLogger(__name__)

MAX_PENDING = 50_000  # past this, while the database refuses, the oldest views are dropped
SEEN_LIMIT = 200_000  # (visitor, article, day) already queued in this process; forgotten at a new day or past this


class ViewBuffer:
    """Views queued by requests and written together by one thread per process."""

    def __init__(self, engine: Engine, flush_seconds: float) -> None:
        self.engine = engine
        self.flush_seconds = flush_seconds
        self._lock = threading.Lock()  # the queue
        self._flushing = threading.Lock()  # one batch written at a time
        self._pending: list[dict[str, Any]] = []
        self._seen: set[tuple[str, str, date]] = set()
        self._seen_day: date | None = None
        self._thread_pid = 0  # the process whose flusher thread runs (a fork has none)
        self.dropped = 0

    def add(self, visitor: str, article_id: str, revision: str, source: str, query: str) -> bool:
        """Queue one view; False when this process already counted it today."""
        now = utcnow()
        key = (visitor, article_id, now.date())
        with self._lock:
            if self._seen_day != now.date() or len(self._seen) >= SEEN_LIMIT:
                self._seen.clear()
                self._seen_day = now.date()
            if key in self._seen:
                return False
            self._seen.add(key)
            self._pending.append(
                fitted(
                    ArticleView.__table__,
                    {
                        "day": now.date(),
                        "visitor": visitor,
                        "article_id": article_id,
                        "revision": revision,
                        "source": source if source in VIEW_SOURCES else "outside",
                        "query": redact(query),
                        "created_at": now,
                    },
                )
            )
            if len(self._pending) > MAX_PENDING:
                self.dropped += len(self._pending) - MAX_PENDING
                del self._pending[: len(self._pending) - MAX_PENDING]
        if self.flush_seconds <= 0:
            self.flush()
        else:
            self._ensure_thread()
        return True

    def flush(self) -> int:
        """Write what is queued; return how many rows were new. On a fault the views stay queued.

        One flush at a time: a worker stopping waits for the thread's batch to be committed before it
        writes the rest and leaves."""
        with self._flushing:
            with self._lock:
                rows, self._pending = self._pending, []
            if not rows:
                return 0
            try:
                with self.engine.begin() as conn:
                    return _insert_new(conn, rows)
            except Exception as exc:  # the flusher thread must outlive any fault, and say it once per batch
                reason = describe(exc) if isinstance(exc, SQLAlchemyError) else type(exc).__name__
                log.error("could not record %d article views: %s", len(rows), reason)
                with self._lock:
                    self._pending[:0] = rows[-MAX_PENDING:]
                return 0

    def _ensure_thread(self) -> None:
        if self._thread_pid == os.getpid():
            return
        with self._lock:
            if self._thread_pid == os.getpid():
                return
            self._thread_pid = os.getpid()
        threading.Thread(target=_flush_every, args=(weakref.ref(self),), name="kb-view-flush", daemon=True).start()
        atexit.register(_flush_at_exit, weakref.ref(self))


def _flush_at_exit(ref: weakref.ReferenceType[ViewBuffer]) -> None:
    buffer = ref()
    if buffer is not None:
        buffer.flush()


def _flush_every(ref: weakref.ReferenceType[ViewBuffer]) -> None:
    """The flusher thread: it holds the buffer weakly, so an app that is gone (tests make many) takes it along."""
    while (buffer := ref()) is not None:
        seconds = buffer.flush_seconds
        del buffer
        time.sleep(seconds)
        if (buffer := ref()) is not None:
            buffer.flush()
            del buffer


def _insert_new(conn: Any, rows: list[dict[str, Any]]) -> int:
    """Insert ``rows``, skipping those the unique (visitor, article, day) already holds."""
    dialect = conn.dialect.name
    if dialect in ("sqlite", "postgresql"):
        make = sqlite.insert if dialect == "sqlite" else postgresql.insert
        result = conn.execute(make(ArticleView).on_conflict_do_nothing(), rows)
        return int(result.rowcount or 0)
    new = 0
    for row in rows:  # another database: one savepoint a row
        try:
            with conn.begin_nested():
                conn.execute(insert(ArticleView), row)
            new += 1
        except IntegrityError:
            pass
    return new


def init_app(app: Flask, flush_seconds: float) -> None:
    app.extensions["kb.views"] = ViewBuffer(engine_of(app), flush_seconds)


def buffer_of(app: Flask) -> ViewBuffer:
    buffer: ViewBuffer = app.extensions["kb.views"]
    return buffer


def flush(app: Flask) -> int:
    """Write this process's queued views now (before reading them: the contact form, the tests)."""
    return buffer_of(app).flush()
