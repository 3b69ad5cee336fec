"""What workers stream to the master: plain data that adds up to exactly what was measured."""

from __future__ import annotations

import copy

import msgpack
import pytest

from harness.load.stats import WorkerResult
from harness.load.wire import (
    absorb,
    cells_from_wire,
    cells_to_wire,
    seconds_to_wire,
    totals_to_wire,
    worker_from_wire,
)


def _measure(result: WorkerResult, values: list[int], second: int, busy: int) -> None:
    for v in values:
        cell = result.cell(("steady", "GET /x", "t1"))
        cell.requests += 1
        cell.statuses[200] = cell.statuses.get(200, 0) + 1
        cell.latency.record_us(v)
        cell.service.record_us(v // 2)
        sec = result.second(second)
        sec.completed += 1
        sec.latency.record_us(v)
    result.second(second).busy_max = busy
    result.second(second).allocated = busy


def _ship(result: WorkerResult) -> tuple[dict[str, object], dict[int, object]]:
    cells, seconds = cells_to_wire(result.cells), seconds_to_wire(result.seconds)
    result.cells, result.seconds = {}, {}
    # through msgpack as Locust sends it (strict_map_key=False, as Locust reads it)
    packed = msgpack.dumps((cells, seconds))
    back = msgpack.loads(packed, raw=False, strict_map_key=False)
    return back[0], back[1]


def test_streamed_deltas_add_up_to_the_whole() -> None:
    whole = WorkerResult(index=0, pid=1, seed=2)
    _measure(whole, [100, 300, 5_000], 0, 3)
    _measure(whole, [70_000, 900], 1, 5)
    whole.second(0).dropped += 2  # a late drop of an arrival due in second 0

    worker = WorkerResult(index=0, pid=1, seed=2)
    master = WorkerResult(index=0, pid=1, seed=2)
    _measure(worker, [100, 300, 5_000], 0, 3)
    absorb(master, *_ship(worker))
    _measure(worker, [70_000, 900], 1, 5)
    worker.second(0).dropped += 2
    absorb(master, *_ship(worker))

    key = ("steady", "GET /x", "t1")
    got, want = master.cells[key], whole.cells[key]
    assert got.requests == want.requests == 5
    assert got.statuses == {200: 5}
    assert got.latency.counts == want.latency.counts
    assert (got.latency.min_us, got.latency.max_us) == (100, 70_000)
    assert got.service.total_us == want.service.total_us
    assert master.seconds[0].dropped == 2 and master.seconds[0].completed == 3
    assert master.seconds[0].busy_max == 3  # a peak, not a sum of deltas
    assert master.seconds[1].latency.counts == whole.seconds[1].latency.counts


def test_totals_round_trip() -> None:
    result = WorkerResult(index=3, pid=42, seed=7, cpu_seconds=1.5, first_requests=["GET / t"])
    back = worker_from_wire(3, msgpack.loads(msgpack.dumps(totals_to_wire(result)), raw=False))
    assert back == result


def test_a_malformed_cell_key_is_refused() -> None:
    data = copy.deepcopy(cells_to_wire({}))
    data["no-separator"] = [0] * 10
    with pytest.raises(ValueError):
        cells_from_wire(data)


def test_bench_workers_applies_to_load_engine_only() -> None:
    from harness.bench import run_benchmark
    from harness.config import Settings
    from harness.errors import ConfigError

    with pytest.raises(ConfigError) as refused:
        run_benchmark("isolation", Settings.load(), workers=2)
    assert "--workers" in str(refused.value) and "load-engine" in str(refused.value)
