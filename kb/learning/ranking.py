"""The object the site attaches to each Searcher: visitors' evidence in memory, reloaded every few seconds.

It implements ``kb.search.learned.Learned``. The evidence is read from the database when first needed
and again once ``refresh_seconds`` have passed; a database that cannot be read keeps the last load (a
search never fails because of what it learned).
"""

from __future__ import annotations

import itertools
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable

import numpy as np
from flask import Flask

from kb.config import Settings, settings_of
from kb.learning import evidence
from kb.learning.memory import Evidence, Memory, Tuning
from kb.models import utcnow
from kb.search.fusion import Candidate

log = logging.getLogger(__name__)
LOADS = itertools.count(1)  # numbers every load of evidence in this process
_LIVE: weakref.WeakSet[LearnedRanking] = weakref.WeakSet()  # each one's lock is made anew in a forked child


class LearnedRanking:
    """Adjust rankings by the evidence ``load`` returns, reloading it every ``refresh_seconds``."""

    def __init__(self, tuning: Tuning, load: Callable[[], list[Evidence]], refresh_seconds: float = 60.0) -> None:
        self.tuning = tuning
        self.refresh_seconds = refresh_seconds
        self._load = load
        self._lock = threading.Lock()
        self._memory: Memory | None = None
        self._loaded = 0.0
        self._load_number = 0
        _LIVE.add(self)

    def _after_fork(self) -> None:
        """In a forked child: a reload the parent was running has no thread here to finish it and release
        its lock, so the child starts with a free lock and reloads at its first search."""
        self._lock = threading.Lock()
        self._loaded = 0.0

    def adjust(self, model: str, question: np.ndarray, locale: str, candidates: list[Candidate]) -> None:
        """Add what visitors' evidence for similar questions says to each candidate (kb.search.learned)."""
        memory = self.memory()
        if memory is not None and memory.size:
            memory.adjust(model, question, candidates)

    def version(self) -> object:
        """Which load of the evidence is in memory (reloading it first when due): unique in the process,
        so a Searcher given another LearnedRanking never mistakes its loads for the last one's."""
        self.memory()
        return self._load_number

    def memory(self) -> Memory | None:
        """The evidence in memory. Once it is older than ``refresh_seconds`` a thread reloads it while
        searches go on with the last load (a large table takes seconds to read); only the first load, or
        every load when ``refresh_seconds`` is 0 (the tests), is read before answering."""
        now = time.monotonic()
        if self._memory is not None and now - self._loaded < self.refresh_seconds:
            return self._memory
        if self._memory is not None and self.refresh_seconds > 0:
            self._reload_behind()
            return self._memory
        with self._lock:
            if self._memory is None or now - self._loaded >= self.refresh_seconds:
                self._reload()
            return self._memory

    def _reload(self) -> None:
        self._loaded = time.monotonic()
        try:
            self._memory = Memory(self._load(), self.tuning, utcnow())
            self._load_number = next(LOADS)
        except Exception:  # keep serving with what was loaded before
            log.exception("could not load learned evidence; keeping the last load")

    def _reload_behind(self) -> None:
        """Reload in a thread of its own, unless one is already reloading."""
        if not self._lock.acquire(blocking=False):
            return
        self._loaded = time.monotonic()  # one reload per interval, however many searches see it due

        def reload() -> None:
            try:
                self._reload()
            finally:
                self._lock.release()

        threading.Thread(target=reload, name="kb-learned-reload", daemon=True).start()

    def forget(self) -> None:
        """Reload before the next search answers (after evidence was written in this process, e.g. in tests)."""
        with self._lock:
            self._memory = None


def _after_fork_in_child() -> None:
    for ranking in list(_LIVE):
        ranking._after_fork()


os.register_at_fork(after_in_child=_after_fork_in_child)


def tuning_of(settings: Settings) -> Tuning:
    """The learning settings as the memory reads them."""
    return Tuning(
        half_life_days=settings.learning_half_life_days,
        similarity=settings.learning_similarity,
        max_adjustment=settings.learning_max_adjustment,
    )


def for_app(app: Flask) -> LearnedRanking | None:
    """The learned ranking for ``app``'s searchers, reading its database; None when learning is off."""
    settings = settings_of(app)
    if not settings.learning:
        return None
    sessions = app.extensions["kb.db"]
    tuning = tuning_of(settings)

    def load() -> list[Evidence]:
        with sessions() as session:
            return evidence.load(session, tuning, utcnow())

    return LearnedRanking(tuning, load, settings.learning_refresh_seconds)
