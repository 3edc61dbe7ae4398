"""Whether one visitor's question may take a second core now.

On an idle machine a question embedded on two threads is answered in about 60 % of the time (MiniLM p95
21 -> 13 ms on 2 cores), for about 20 % more CPU; on a busy one the second thread only takes that core from
another request, and the server answers fewer questions a second. The one-minute load average tells the two
apart: while it stays half a core below the cores this process may run on, a core is idle most of the time.
It is read at most once a second (a read of /proc/loadavg). Where there is no load average, no core is spare.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable

HEADROOM = 0.5  # cores the load average must stay below the usable cores by
RECHECK_SECONDS = 1.0


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity, as a container's cpuset sets it)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _one_minute_load() -> float:
    return os.getloadavg()[0]


class SpareCore:
    """Answers "is a core spare?" from the load average, read again at most every ``RECHECK_SECONDS``."""

    def __init__(
        self,
        cores: int | None = None,
        load: Callable[[], float] = _one_minute_load,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.cores = cores if cores is not None else usable_cores()
        self._load = load
        self._clock = clock
        self._lock = threading.Lock()
        self._checked = -RECHECK_SECONDS
        self._spare = False

    def __call__(self) -> bool:
        if self.cores < 2:
            return False
        now = self._clock()
        with self._lock:
            if now - self._checked >= RECHECK_SECONDS:
                self._checked = now
                try:
                    self._spare = self._load() < self.cores - HEADROOM
                except OSError:
                    self._spare = False
            return self._spare


spare_core = SpareCore()
