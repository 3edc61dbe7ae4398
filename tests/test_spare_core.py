"""A visitor's question takes a second core only while the machine has one idle."""

from __future__ import annotations

import os
import subprocess
import sys
from functools import partial
from pathlib import Path

import pytest

from kb.search.spare_core import (
    RECHECK_SECONDS,
    TICKS_PER_SECOND,
    SpareCore,
    UsageRate,
    busy_cpu_seconds,
    cpu_quota,
    usable_cores,
)

ROOT = Path(__file__).resolve().parent.parent


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_core_is_spare_below_the_cores_less_a_quarter_core() -> None:
    assert SpareCore(cores=2, busy=lambda: 0.4)()
    assert SpareCore(cores=2, busy=lambda: 1.74)()
    assert not SpareCore(cores=2, busy=lambda: 1.75)()
    assert not SpareCore(cores=2, busy=lambda: 7.2)()  # a server under load: one thread a question
    assert SpareCore(cores=16, busy=lambda: 7.2)()


def test_one_core_is_never_spare() -> None:
    assert not SpareCore(cores=1, busy=lambda: 0.0)()


def test_the_load_is_read_again_only_after_the_recheck_interval() -> None:
    loads = iter([0.3, 5.0, 0.2])
    reads = []

    def load() -> float:
        reads.append(1)
        return next(loads)

    clock = Clock()
    spare = SpareCore(cores=2, busy=load, clock=clock)
    assert spare() and spare() and len(reads) == 1
    clock.now += RECHECK_SECONDS
    assert not spare() and len(reads) == 2
    clock.now += RECHECK_SECONDS / 2
    assert not spare() and len(reads) == 2
    clock.now += RECHECK_SECONDS / 2
    assert spare() and len(reads) == 3


def test_without_a_load_average_no_core_is_spare() -> None:
    def unavailable() -> float:
        raise OSError("no load average")

    assert not SpareCore(cores=4, busy=unavailable)()


def test_a_process_pinned_to_one_core_never_takes_a_second() -> None:
    """As a container's cpuset or `taskset` pins it: its cores, not the machine's."""
    code = (
        "import os; os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]});"
        "from kb.search.spare_core import SpareCore, usable_cores; print(usable_cores(), SpareCore(busy=lambda: 0.0)())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.split() == ["1", "False"], out.stderr
    assert usable_cores() == len(os.sched_getaffinity(0))


def _cgroup_v2(root: Path, limit: str, usage_usec: int) -> None:
    root.mkdir(parents=True, exist_ok=True)
    (root / "cpu.max").write_text(f"{limit} 100000\n")
    (root / "cpu.stat").write_text(f"usage_usec {usage_usec}\nuser_usec 1\nsystem_usec 1\n")


V2 = {"": "/kb.slice/kb.service"}


def test_a_container_quota_is_read_from_cgroup_v2_on_its_group_or_a_parent(tmp_path: Path) -> None:
    """The files as the kernel writes them (no quota can be set on this machine without owning its cgroups)."""
    root = tmp_path / "v2"
    _cgroup_v2(root, "max", 0)
    (root / "cgroup.controllers").write_text("cpu io memory\n")
    _cgroup_v2(root / "kb.slice", "150000", 5_000_000)  # on the parent slice, as systemd sets CPUQuota=
    _cgroup_v2(root / "kb.slice" / "kb.service", "max", 1_000_000)
    quota = cpu_quota(root, V2)
    assert quota is not None and quota.cores == 1.5 and quota.usage() == 5.0  # the slice's time: it is shared
    _cgroup_v2(root / "kb.slice" / "kb.service", "300000", 1_000_000)
    quota = cpu_quota(root, V2)
    assert quota is not None and quota.cores == 1.5  # the tightest of the two
    _cgroup_v2(root / "kb.slice", "max", 5_000_000)
    quota = cpu_quota(root, V2)
    assert quota is not None and quota.cores == 3.0 and quota.usage() == 1.0
    _cgroup_v2(root / "kb.slice" / "kb.service", "max", 1_000_000)
    assert cpu_quota(root, V2) is None
    assert cpu_quota(tmp_path / "nothing", V2) is None


def test_a_container_quota_is_read_from_cgroup_v1_on_its_own_group(tmp_path: Path) -> None:
    root = tmp_path / "v1"
    own = {"cpu,cpuacct": "/system.slice/kb.service", "memory": "/elsewhere"}
    for controller in ("cpu", "cpuacct"):
        (root / controller / "system.slice" / "kb.service").mkdir(parents=True)
    (root / "cpu" / "cpu.cfs_quota_us").write_text("-1\n")  # the root: no quota
    (root / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    service = root / "cpu" / "system.slice" / "kb.service"
    (service / "cpu.cfs_quota_us").write_text("400000\n")
    (service / "cpu.cfs_period_us").write_text("100000\n")
    (root / "cpuacct" / "system.slice" / "kb.service" / "cpuacct.usage").write_text("2500000000\n")
    quota = cpu_quota(root, own)
    assert quota is not None and quota.cores == 4.0 and quota.usage() == 2.5
    (service / "cpu.cfs_quota_us").write_text("-1\n")
    assert cpu_quota(root, own) is None


def test_in_a_container_the_quota_and_its_own_cpu_time_decide_not_the_hosts_load(tmp_path: Path) -> None:
    root = tmp_path / "cg"
    _cgroup_v2(root, "200000", 0)
    (root / "cgroup.controllers").write_text("cpu\n")
    clock = Clock()
    spare = SpareCore.of_machine(root, {"": "/"}, clock=clock)
    assert spare.cores == min(2.0, usable_cores())
    if spare.cores < 2:
        pytest.skip("this machine gives the test one core")
    assert not spare()  # nothing measured yet: read as busy
    clock.now += RECHECK_SECONDS
    _cgroup_v2(root, "200000", 300_000)  # 0.3 s of CPU in 1 s: a core is idle
    assert spare()
    clock.now += RECHECK_SECONDS
    _cgroup_v2(root, "200000", 300_000 + 1_800_000)  # 1.8 cores in use: the quota is nearly spent
    assert not spare()


def _proc_stat(path: Path, busy_seconds: dict[int, float]) -> None:
    """/proc/stat with each CPU's busy time so far (as user time, in the kernel's ticks) beside idle time."""
    lines = ["cpu  0 0 0 0 0 0 0 0 0 0"]
    for n, busy in sorted(busy_seconds.items()):
        lines.append(f"cpu{n} {round(busy * TICKS_PER_SECOND)} 0 0 {1000 * TICKS_PER_SECOND} 0 0 0 0 0 0")
    path.write_text("\n".join([*lines, "intr 1 2 3", "ctxt 4"]) + "\n")


def test_on_a_machine_of_its_own_the_cpus_it_may_use_decide_at_once(tmp_path: Path) -> None:
    """Busy CPUs from /proc/stat over the last second: a burst is seen at once, not after the load average's
    minute; CPUs outside the process's affinity do not count."""
    stat = tmp_path / "stat"
    _proc_stat(stat, {0: 1.0, 1: 1.0, 2: 0.0})
    clock = Clock()
    spare = SpareCore(2, UsageRate(partial(busy_cpu_seconds, {0, 1}, stat), busy=2, clock=clock), clock)
    assert not spare()  # nothing measured yet: read as busy
    clock.now += RECHECK_SECONDS
    _proc_stat(stat, {0: 1.5, 1: 1.1, 2: 9.0})  # 0.6 of 2 CPUs in use over the second; cpu2 is not ours
    assert spare()
    clock.now += RECHECK_SECONDS
    _proc_stat(stat, {0: 2.5, 1: 1.9, 2: 19.0})  # 1.8 of 2 in use
    assert not spare()


def test_without_a_quota_a_process_is_judged_by_its_own_cpus(tmp_path: Path) -> None:
    cpus = os.sched_getaffinity(0)
    if len(cpus) < 2:
        pytest.skip("this machine gives the test one core")
    stat = tmp_path / "stat"
    _proc_stat(stat, dict.fromkeys(cpus, 1.0))
    clock = Clock()
    spare = SpareCore.of_machine(tmp_path / "no-cgroups", {}, stat=stat, clock=clock)
    assert spare.cores == len(cpus) and not spare()
    clock.now += RECHECK_SECONDS
    _proc_stat(stat, {n: 1.0 + (0.5 if n == min(cpus) else 0.0) for n in cpus})  # half a core in use
    assert spare()
