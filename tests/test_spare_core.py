"""A visitor's question takes a second core only while the machine has one idle."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from kb.search.spare_core import RECHECK_SECONDS, SpareCore, UsageRate, cpu_quota, usable_cores

ROOT = Path(__file__).resolve().parent.parent


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_core_is_spare_below_the_cores_less_half_a_core() -> None:
    assert SpareCore(cores=2, load=lambda: 0.4)()
    assert SpareCore(cores=2, load=lambda: 1.49)()
    assert not SpareCore(cores=2, load=lambda: 1.5)()
    assert not SpareCore(cores=2, load=lambda: 7.2)()  # a server under load: one thread a question
    assert SpareCore(cores=16, load=lambda: 7.2)()


def test_one_core_is_never_spare() -> None:
    assert not SpareCore(cores=1, load=lambda: 0.0)()


def test_the_load_is_read_again_only_after_the_recheck_interval() -> None:
    loads = iter([0.3, 5.0, 0.2])
    reads = []

    def load() -> float:
        reads.append(1)
        return next(loads)

    clock = Clock()
    spare = SpareCore(cores=2, load=load, clock=clock)
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

    assert not SpareCore(cores=4, load=unavailable)()


def test_a_process_pinned_to_one_core_never_takes_a_second() -> None:
    """As a container's cpuset or `taskset` pins it: its cores, not the machine's."""
    code = (
        "import os; os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]});"
        "from kb.search.spare_core import SpareCore, usable_cores; print(usable_cores(), SpareCore(load=lambda: 0.0)())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.split() == ["1", "False"], out.stderr
    assert usable_cores() == len(os.sched_getaffinity(0))


def test_a_worker_takes_a_spare_core_only_while_workers_are_no_more_than_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    from kb.search import spare_core as module

    spare = SpareCore(cores=2, load=lambda: 0.1)
    monkeypatch.setattr(module, "spare_core", spare)
    module.for_workers(2)
    assert spare()
    module.for_workers(4)  # 4 workers on 2 cores already share them: no second session in each
    assert not spare()


def _cgroup_v2(root: Path, limit: str, usage_usec: int) -> None:
    root.mkdir(parents=True, exist_ok=True)
    (root / "cpu.max").write_text(f"{limit} 100000\n")
    (root / "cpu.stat").write_text(f"usage_usec {usage_usec}\nuser_usec 1\nsystem_usec 1\n")


def test_a_container_quota_is_read_from_cgroup_v2_and_v1(tmp_path: Path) -> None:
    """The files as the kernel writes them (no quota can be set on this machine without owning its cgroups)."""
    _cgroup_v2(tmp_path / "v2" / "kb.scope", "150000", 5_000_000)
    quota = cpu_quota(tmp_path / "v2", own="/kb.scope")
    assert quota is not None and quota.cores == 1.5 and quota.usage() == 5.0
    _cgroup_v2(tmp_path / "none", "max", 0)
    assert cpu_quota(tmp_path / "none", own="/") is None
    v1 = tmp_path / "v1"
    (v1 / "cpu").mkdir(parents=True)
    (v1 / "cpuacct").mkdir()
    (v1 / "cpu" / "cpu.cfs_quota_us").write_text("400000\n")
    (v1 / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    (v1 / "cpuacct" / "cpuacct.usage").write_text("2500000000\n")
    quota = cpu_quota(v1, own="/")
    assert quota is not None and quota.cores == 4.0 and quota.usage() == 2.5
    (v1 / "cpu" / "cpu.cfs_quota_us").write_text("-1\n")
    assert cpu_quota(v1, own="/") is None
    assert cpu_quota(tmp_path / "nothing", own="/") is None


def test_in_a_container_the_quota_and_its_own_cpu_time_decide_not_the_hosts_load(tmp_path: Path) -> None:
    group = tmp_path / "cg"
    _cgroup_v2(group, "200000", 0)
    spare = SpareCore.of_machine(group, own="/")
    assert spare.cores == min(2.0, usable_cores())
    if spare.cores < 2:
        pytest.skip("this machine gives the test one core")
    clock = Clock()
    quota = cpu_quota(group, own="/")
    assert quota is not None
    spare = SpareCore(2.0, load=UsageRate(quota.usage, busy=2.0, clock=clock), clock=clock)
    assert not spare()  # nothing measured yet: read as busy
    clock.now += RECHECK_SECONDS
    _cgroup_v2(group, "200000", 300_000)  # 0.3 s of CPU in 1 s: a core is idle
    assert spare()
    clock.now += RECHECK_SECONDS
    _cgroup_v2(group, "200000", 300_000 + 1_800_000)  # 1.8 cores in use: the quota is nearly spent
    assert not spare()
