"""Whether one visitor's question may take a second core now.

On an idle machine a question embedded on two threads is answered in about 60 % of the time (MiniLM p95
21 -> 13 ms on 2 cores), for about 20 % more CPU; on a busy one the second thread only takes that core from
another request, and the server answers fewer questions a second. So a second core is taken only while the
cores in use over the last second stay a quarter of a core below the cores this process may use (one question
on its way, two threads, keeps about 1.2-1.45 of 2 cores busy by itself; a loaded server keeps all of them):

- on a machine of its own: the CPUs of its affinity (as `taskset` or a cpuset sets it), busy by /proc/stat;
- in a container with a CPU quota (cgroup v2 ``cpu.max`` on its group or a parent, or v1's CFS quota): the
  quota, and the CPU time the group used (there the host's CPUs and load say nothing of the container's share);
- elsewhere, the one-minute load average (it lags: a burst is seen after seconds, not at once).

Where nothing can be read, no core is spare. Under gunicorn (gunicorn.conf.py) the master never takes a second
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

HEADROOM = 0.25  # cores the cores in use stay below the usable cores by (a question alone keeps 1.2-1.45 busy)
RECHECK_SECONDS = 1.0
CGROUP = Path("/sys/fs/cgroup")
PROC_STAT = Path("/proc/stat")
TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100  # /proc/stat's unit
Clock = Callable[[], float]


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
    """A container's CPU quota, in cores, and where the CPU time its group has used is counted."""

    cores: float
    usage: Callable[[], float]  # seconds of CPU the group has used so far


def cpu_quota(root: Path = CGROUP, own: dict[str, str] | None = None) -> Quota | None:
    """The tightest CPU quota over this process's cgroup and its parents; None when there is none.

    ``own``: the process's group per controller, as /proc/self/cgroup gives it ("" for cgroup v2)."""
    groups = own if own is not None else _own_cgroups()
    found: Quota | None = None
    for folder in _up_from(root, groups.get("", "/")):  # cgroup v2: a quota may be set on a parent slice
        try:
            limit, period = (folder / "cpu.max").read_text().split()[:2]
            if limit != "max" and (found is None or int(limit) / int(period) < found.cores):
                found = Quota(int(limit) / int(period), partial(_usage_seconds, folder / "cpu.stat"))
        except (OSError, ValueError, ZeroDivisionError):
            continue
    if found is not None or (root / "cgroup.controllers").exists():
        return found
    cpu = next((path for names, path in groups.items() if "cpu" in names.split(",")), "/")
    acct = next((path for names, path in groups.items() if "cpuacct" in names.split(",")), cpu)
    for folder, usage in zip(_up_from(root / "cpu", cpu), _up_from(root / "cpuacct", acct), strict=False):
        try:
            quota_us = int((folder / "cpu.cfs_quota_us").read_text())
            period_us = int((folder / "cpu.cfs_period_us").read_text())
        except (OSError, ValueError):
            continue
        if quota_us > 0 and period_us > 0 and (found is None or quota_us / period_us < found.cores):
            found = Quota(quota_us / period_us, partial(_usage_nanoseconds, usage / "cpuacct.usage"))
    return found


def _up_from(root: Path, group: str) -> list[Path]:
    """``root``/``group`` and each parent folder up to ``root``."""
    parts = [p for p in group.split("/") if p and p not in (".", "..")]
    return [root.joinpath(*parts[:n]) for n in range(len(parts), -1, -1)]


def _own_cgroups() -> dict[str, str]:
    """This process's group per controller list ("" for cgroup v2), from /proc/self/cgroup."""
    groups: dict[str, str] = {}
    try:
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, names, path = line.split(":", 2)
            groups[names] = path
    except (OSError, ValueError):
        pass
    return groups


def _usage_nanoseconds(usage: Path) -> float:
    return int(usage.read_text()) / 1e9


def _usage_seconds(stat: Path) -> float:
    for line in stat.read_text().splitlines():
        name, _, value = line.partition(" ")
        if name == "usage_usec":
            return int(value) / 1e6
    raise OSError(f"{stat}: no usage_usec")


def busy_cpu_seconds(cpus: set[int], stat: Path = PROC_STAT) -> float:
    """Seconds ``cpus`` have been busy so far (all but idle and waiting on I/O), from /proc/stat's ticks."""
    busy = 0
    seen = False
    for line in stat.read_text().splitlines():
        if not line.startswith("cpu") or line.startswith("cpu "):
            continue
        name, *fields = line.split()
        if int(name[3:]) not in cpus:
            continue
        ticks = [int(v) for v in fields[:8]]  # user nice system idle iowait irq softirq steal
        busy += sum(ticks) - ticks[3] - ticks[4]
        seen = True
    if not seen:
        raise OSError(f"{stat}: none of CPUs {sorted(cpus)}")
    return busy / TICKS_PER_SECOND


class UsageRate:
    """Cores in use on average since the last call, from a count of CPU time (a container's, or the process's
    CPUs'); the first call: unknown, read as busy."""

    def __init__(self, usage: Callable[[], float], busy: float, clock: Clock = time.monotonic) -> None:
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
    """Answers "is a core spare?" from the cores in use (``busy``), read again at most every ``RECHECK_SECONDS``."""

    def __init__(
        self, cores: float | None = None, busy: Callable[[], float] = _one_minute_load, clock: Clock = time.monotonic
    ) -> None:
        self.cores = cores if cores is not None else usable_cores()
        self._busy = busy
        self._clock = clock
        self._lock = threading.Lock()
        self._checked = -RECHECK_SECONDS
        self._spare = False
        self.enabled = True  # False: never (a server's master; workers more than the cores)

    @classmethod
    def of_machine(
        cls,
        root: Path = CGROUP,
        own: dict[str, str] | None = None,
        stat: Path = PROC_STAT,
        clock: Clock = time.monotonic,
    ) -> SpareCore:
        """The cores and the measure of their use that fit where this process runs (the module's docstring)."""
        cores = usable_cores()
        quota = cpu_quota(root, own)
        if quota is not None:
            allowed = min(float(cores), quota.cores)
            return cls(allowed, UsageRate(quota.usage, busy=allowed, clock=clock), clock)
        try:
            cpus = os.sched_getaffinity(0)
            busy_cpu_seconds(cpus, stat)
        except (AttributeError, OSError, ValueError):
            return cls(cores, clock=clock)
        return cls(len(cpus), UsageRate(partial(busy_cpu_seconds, cpus, stat), busy=len(cpus), clock=clock), clock)

    def __call__(self) -> bool:
        if not self.enabled or self.cores < 2:
            return False
        now = self._clock()
        with self._lock:
            if now - self._checked >= RECHECK_SECONDS:
                self._checked = now
                try:
                    self._spare = self._busy() < self.cores - HEADROOM
                except (OSError, ValueError):
                    self._spare = False
            return self._spare


spare_core = SpareCore.of_machine()


def for_workers(workers: int) -> None:
    """In a server's worker: take a spare core only while the workers are no more than the cores."""
    spare_core.enabled = workers <= spare_core.cores
