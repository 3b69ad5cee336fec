"""harness.chaos.capacity.CapacityChaos: the runtime's capacity faults through the pools' public
methods (cold-start storm, seeded AZ failure, its timer, the fault log).

Workers are real :class:`~harness.runtime.worker.Worker` objects without a process (killing and
retiring one is safe); each gets a fixed pid so a seed's choice can be compared.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from harness.chaos.capacity import CapacityChaos
from harness.model import FunctionSpec
from harness.runtime.capacity import AzFailure, CapacityFaults
from harness.runtime.config import RuntimeConfig
from harness.runtime.logs import FunctionLog
from harness.runtime.pool import FunctionPool, WorkerPools
from harness.runtime.worker import Worker


class PidWorker(Worker):
    def __init__(self, function: str, pid: int) -> None:
        super().__init__(function, 0)
        self.fake_pid = pid

    @property
    def pid(self) -> int | None:
        return self.fake_pid


def _pool(tmp_path: Path, name: str, idle: int, busy: int, first_pid: int) -> FunctionPool:
    spec = FunctionSpec(
        logical_id=name.title(), name=name, arn=f"arn:aws:lambda:us-east-1:1:function:{name}",
        handler="h.h", runtime="python3.11", code_dir=str(tmp_path),
    )  # fmt: skip
    pool = FunctionPool(spec, "stack", FunctionLog(tmp_path / f"{name}.log", name, 10))
    for n in range(idle + busy):
        worker = PidWorker(name, first_pid + n)
        pool.workers.add(worker)
        if n < idle:
            pool.idle.append(worker)
    return pool


def _setup(tmp_path: Path) -> tuple[CapacityChaos, WorkerPools, list[FunctionPool], list[Any]]:
    functions = [_pool(tmp_path, "a", 3, 1, 100), _pool(tmp_path, "b", 2, 2, 200)]
    pools = WorkerPools(RuntimeConfig(max_workers=8), tmp_path, functions=lambda: functions)
    pools.total_workers = sum(len(p.workers) for p in functions)
    log: list[dict[str, Any]] = []
    chaos = CapacityChaos(pools, tmp_path, log.append)  # no state.json: no gateway to lose
    return chaos, pools, functions, log


def test_it_is_the_runtimes_capacity_interface(tmp_path: Path) -> None:
    chaos: CapacityFaults = _setup(tmp_path)[0]  # mypy checks the Protocol here
    assert chaos.outage is None


def test_a_cold_start_storm_drains_every_environment(tmp_path: Path) -> None:
    async def go() -> None:
        chaos, _pools, functions, log = _setup(tmp_path)
        entry = chaos.recycle(functions[:1], "storm")
        assert entry["mode"] == "cold-start" and entry["recycled"] == {"a": 4}
        assert log == [entry]
        a, b = functions
        assert a.idle == [] and a.generation == 1  # the busy one retires on release
        assert len(b.idle) == 2 and b.generation == 0

    asyncio.run(go())


def test_an_az_failure_loses_a_seeded_share_and_comes_back_by_itself(tmp_path: Path) -> None:
    async def go(seed: int) -> list[dict[str, Any]]:
        chaos, pools, functions, log = _setup(tmp_path)
        entry = chaos.begin_az_failure(functions, AzFailure(0.05, seed, 0.5, None))
        killed = entry["environments_killed"]
        assert len(killed) == 4  # half of 8
        assert pools.capacity_factor == 0.5 and entry["max_workers"] == 4
        assert entry["gateway_note"] == "no gateway process recorded in the state file"
        assert chaos.outage is entry
        for k in killed:
            pool = next(p for p in functions if p.name == k["function"])
            assert all(w.pid != k["pid"] for w in pool.idle)
            remaining = {w.pid: w for w in pool.workers}
            if k["busy"]:  # killed in place: its invocation fails, release() retires it
                assert remaining[k["pid"]].dead
            else:  # retired now
                assert k["pid"] not in remaining
        with pytest.raises(ValueError, match="already in progress"):
            chaos.begin_az_failure(functions, AzFailure(1, seed, 0.5, None))
        await asyncio.sleep(0.2)  # the timer gives the capacity back
        assert chaos.outage is None and pools.capacity_factor == 1.0
        assert [e["mode"] for e in log] == ["az-failure", "az-recovered"]
        assert chaos.end_az_failure() is None  # nothing on: nothing to end
        return [{"pid": k["pid"], "busy": k["busy"]} for k in killed]

    first, again, other = asyncio.run(go(1)), asyncio.run(go(1)), asyncio.run(go(7))
    assert first == again  # one seed, the same environments
    assert {k["pid"] for k in first} != {k["pid"] for k in other}


def test_ending_an_az_failure_early_cancels_its_timer(tmp_path: Path) -> None:
    async def go() -> None:
        chaos, _pools, functions, log = _setup(tmp_path)
        chaos.begin_az_failure(functions, AzFailure(0.1, 0, 0.25, "x"))
        ended = chaos.end_az_failure()
        assert ended is not None and ended["mode"] == "az-recovered"
        await asyncio.sleep(0.2)
        assert len(log) == 2  # the timer did not end it a second time

    asyncio.run(go())
