"""Whether one visitor's question may take a second core now.

On an idle machine a question embedded on two threads is answered in about 60 % of the time (MiniLM p95
21 -> 13 ms on 2 cores), for about 20 % more CPU; on a busy one the second thread only takes that core from
another request, and the server answers fewer questions a second. So a second core is taken only while the
cores in use stay half a core below the cores this process may use, read at most once a second:

- on a machine of its own, its CPU affinity (as `taskset` or a cpuset sets it) and the one-minute load average;
- in a container with a CPU quota (cgroup ``cpu.max``, or v1's ``cpu.cfs_quota_us``), the quota, and the CPU
  time the container used since the last reading: there the load average is the host's, and a second thread
  would spend the container's quota, not an idle core.

Where neither can be read, no core is spare. Under gunicorn (gunicorn.conf.py) the master never takes a second
core: a session's threads do not cross the fork, so what it made would be memory in every worker for nothing.
A worker takes one only while the workers are no more than the cores: with more, they already share the cores
by design, an idle core is rare, and the second session (~60 MB with its buffers) in each would cost memory.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

HEADROOM = 0.5  # cores the cores in use must stay below the usable cores by
RECHECK_SECONDS = 1.0
CGROUP = Path("/sys/fs/cgroup")


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity, as a container's cpuset sets it)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _one_minute_load() -> float:
    return os.getloadavg()[0]


@dataclass(frozen=True)
class Quota:
    """A container's CPU quota, in cores, and where the CPU time it has used is counted."""

    cores: float
    usage: Callable[[], float]  # seconds of CPU the container has used so far


def cpu_quota(root: Path = CGROUP, own: str | None = None) -> Quota | None:
    """The CPU quota of this process's cgroup (v2 ``cpu.max``, else v1's CFS quota); None when there is none."""
    group = root / (own if own is not None else _own_cgroup()).lstrip("/")
    for folder in dict.fromkeys((group, root)):
        try:
            limit, period = (folder / "cpu.max").read_text().split()[:2]
            if limit == "max":
                return None
            return Quota(int(limit) / int(period), partial(_usage_seconds, folder / "cpu.stat"))
        except (OSError, ValueError, ZeroDivisionError):
            continue
    try:
        quota_us = int((root / "cpu" / "cpu.cfs_quota_us").read_text())
        period_us = int((root / "cpu" / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None
    if quota_us <= 0 or period_us <= 0:
        return None
    return Quota(quota_us / period_us, partial(_usage_nanoseconds, root / "cpuacct" / "cpuacct.usage"))


def _own_cgroup() -> str:
    try:
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            if line.startswith("0::"):
                return line[3:]
    except OSError:
        pass
    return "/"


def _usage_nanoseconds(usage: Path) -> float:
    return int(usage.read_text()) / 1e9


def _usage_seconds(stat: Path) -> float:
    for line in stat.read_text().splitlines():
        name, _, value = line.partition(" ")
        if name == "usage_usec":
            return int(value) / 1e6
    raise OSError(f"{stat}: no usage_usec")


class UsageRate:
    """Cores a container used on average since the last call, from its CPU time (the first call: unknown,
    read as busy)."""

    def __init__(self, usage: Callable[[], float], busy: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._usage = usage
        self._busy = busy
        self._clock = clock
        self._last: tuple[float, float] | None = None

    def __call__(self) -> float:
        now, used = self._clock(), self._usage()
        last, self._last = self._last, (now, used)
        if last is None or now <= last[0]:
            return self._busy
        return (used - last[1]) / (now - last[0])


class SpareCore:
    """Answers "is a core spare?" from the cores in use, read again at most every ``RECHECK_SECONDS``."""

    def __init__(
        self,
        cores: float | None = None,
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

    @classmethod
    def of_machine(cls, root: Path = CGROUP, own: str | None = None) -> SpareCore:
        """The cores and the measure of use that fit where this process runs (see the module's docstring)."""
        cores = usable_cores()
        quota = cpu_quota(root, own)
        if quota is None:
            return cls(cores)
        cores_allowed = min(float(cores), quota.cores)
        return cls(cores_allowed, load=UsageRate(quota.usage, busy=cores_allowed))

    def __call__(self) -> bool:
        if not self.enabled or self.cores < 2:
            return False
        now = self._clock()
        with self._lock:
            if now - self._checked >= RECHECK_SECONDS:
                self._checked = now
                try:
                    self._spare = self._load() < self.cores - HEADROOM
                except (OSError, ValueError):
                    self._spare = False
            return self._spare


spare_core = SpareCore.of_machine()


def for_workers(workers: int) -> None:
    """In a server's worker: take a spare core only while the workers are no more than the cores."""
    spare_core.enabled = workers <= spare_core.cores
