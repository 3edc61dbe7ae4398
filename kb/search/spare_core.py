"""Whether one visitor's question may take a second core now.

On an idle machine a question embedded on two threads is answered in about 60 % of the time (MiniLM p95
21 -> 13 ms on 2 cores), for about 20 % more CPU; on a busy one the second thread only takes that core from
another request, and the server answers fewer questions a second. The one-minute load average tells the two
apart: while it stays half a core below the cores this process may run on, a core is idle most of the time.
It is read at most once a second (a read of /proc/loadavg). Where there is no load average, no core is spare.

Under gunicorn (gunicorn.conf.py) the master never takes a second core: a session's threads do not cross the
fork, so what it made would be memory in every worker for nothing. A worker takes one only while the workers
are no more than the cores: with more, they already share the cores by design, an idle core is rare, and the
second session (~60 MB with its buffers) in each would cost memory for little.
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
        self.enabled = True  # False: never (a server's master; workers more than the cores)

    def __call__(self) -> bool:
        if not self.enabled or self.cores < 2:
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


def for_workers(workers: int) -> None:
    """In a server's worker: take a spare core only while the workers are no more than the cores."""
    spare_core.enabled = workers <= spare_core.cores
