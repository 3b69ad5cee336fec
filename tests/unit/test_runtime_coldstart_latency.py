"""Cold-start latency apart from CPU (issue 26): a configured distribution per runtime and
memory size, off by default, that delays a new environment's first call without spending CPU."""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from pathlib import Path
from typing import Any

import pytest

from harness.errors import ConfigError
from harness.model import FunctionSpec
from harness.runtime.coldstart import DEFAULT_TABLE, ColdStartLatency, LatencyEntry, load_latency
from harness.runtime.config import RuntimeConfig
from harness.runtime.logs import FunctionLog
from harness.runtime.pool import FunctionPool, WorkerPools
from harness.runtime.worker import Worker


def test_off_by_default() -> None:
    assert RuntimeConfig().cold_latency() is None
    assert load_latency("") is None


def test_draws_follow_the_configured_p50_and_p99() -> None:
    latency = ColdStartLatency((LatencyEntry("python*", 150.0, 400.0),), seed=1)
    draws = sorted(1000 * (latency.delay("python3.12", 128) or 0) for _ in range(20_000))
    p50 = statistics.median(draws)
    p99 = draws[int(0.99 * len(draws))]
    assert 140 < p50 < 160 and 370 < p99 < 430


def test_one_seed_gives_the_same_delays() -> None:
    a = ColdStartLatency(DEFAULT_TABLE, seed=7)
    b = ColdStartLatency(DEFAULT_TABLE, seed=7)
    c = ColdStartLatency(DEFAULT_TABLE, seed=8)
    first = [a.delay("python3.11", 128) for _ in range(5)]
    assert first == [b.delay("python3.11", 128) for _ in range(5)]
    assert first != [c.delay("python3.11", 128) for _ in range(5)]


def test_entries_match_by_runtime_and_memory(tmp_path: Path) -> None:
    table = tmp_path / "cold.json"
    table.write_text(
        json.dumps(
            [
                {"runtime": "python3.12", "memory_mb": [128, 512], "p50_ms": 300, "p99_ms": 300.1},
                {"runtime": "python*", "p50_ms": 100, "p99_ms": 100.1},
            ]
        )
    )
    latency = load_latency(str(table))
    assert latency is not None
    assert 0.29 < (latency.delay("python3.12", 256) or 0) < 0.31
    assert 0.09 < (latency.delay("python3.12", 1024) or 0) < 0.11  # memory out of range
    assert 0.09 < (latency.delay("python3.11", 256) or 0) < 0.11
    assert latency.delay("nodejs20.x", 256) is None  # no entry: no delay (and a warning)


@pytest.mark.parametrize(
    ("content", "field"),
    [
        ('[{"runtime": "python*", "p50_ms": 400, "p99_ms": 100}]', "p99_ms"),
        ('[{"runtime": "python*", "p50_ms": "x", "p99_ms": 100}]', "p50_ms"),
        ('[{"p50_ms": 1, "p99_ms": 2}]', "runtime"),
        ('[{"runtime": "*", "p50_ms": 1, "p99_ms": 2, "memory_mb": [512, 128]}]', "memory_mb"),
    ],
)
def test_a_bad_table_names_file_and_field(tmp_path: Path, content: str, field: str) -> None:
    table = tmp_path / "cold.json"
    table.write_text(content)
    with pytest.raises(ConfigError) as raised:
        RuntimeConfig(cold_start_latency=str(table))
    assert str(table) in str(raised.value) and field in str(raised.value)


def test_a_missing_file_or_unknown_field_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="HARNESS_RUNTIME_COLD_START_LATENCY"):
        load_latency(str(tmp_path / "nope.json"))
    table = tmp_path / "cold.json"
    table.write_text('[{"runtime": "*", "p50_ms": 1, "p99_ms": 2, "p95_ms": 1}]')
    with pytest.raises(ConfigError, match="p95_ms"):
        load_latency(str(table))


def _pools(tmp_path: Path, **config: Any) -> tuple[WorkerPools, FunctionPool]:
    pools = WorkerPools(
        RuntimeConfig(max_workers=2, fork=0, **config), tmp_path, functions=lambda: [pool]
    )
    spec = FunctionSpec(
        logical_id="Fn", name="fn", arn="arn:aws:lambda:us-east-1:1:function:fn",
        handler="h.h", runtime="python3.11", code_dir=str(tmp_path),
        interpreter="/usr/bin/python3", execution_env="python3.11",
    )  # fmt: skip
    pool = FunctionPool(spec, "stack", FunctionLog(tmp_path / "fn.log", "fn", 10))
    return pools, pool


@pytest.fixture
def instant_start(monkeypatch: pytest.MonkeyPatch) -> None:
    async def start(self: Worker, *args: Any) -> None:
        return None

    monkeypatch.setattr(Worker, "start", start)


def _cold_then_warm(pools: WorkerPools, pool: FunctionPool) -> tuple[float, float, float]:
    async def scenario() -> tuple[float, float, float]:
        wall, cpu = time.monotonic(), time.process_time()
        worker, cold = await pools.acquire(pool, wait=False)
        cold_wall, cold_cpu = time.monotonic() - wall, time.process_time() - cpu
        assert cold
        pools.release(pool, worker)
        wall = time.monotonic()
        again, cold = await pools.acquire(pool, wait=False)
        warm_wall = time.monotonic() - wall
        assert again is worker and not cold
        pools.release(pool, again)
        await pools.close([pool])
        return cold_wall, cold_cpu, warm_wall

    return asyncio.run(scenario())


def test_a_cold_start_waits_without_cpu(tmp_path: Path, instant_start: None) -> None:
    table = tmp_path / "cold.json"
    table.write_text('[{"runtime": "python*", "p50_ms": 300, "p99_ms": 300.1}]')
    pools, pool = _pools(tmp_path, cold_start_latency=str(table))
    cold_wall, cold_cpu, warm_wall = _cold_then_warm(pools, pool)
    assert cold_wall >= 0.29  # the configured latency delays the first call
    assert cold_cpu < 0.1  # ...sleeping: the machine stays with the system under test
    assert warm_wall < 0.05  # a warm call is not delayed
    delays = pool.metrics.to_json(0, 1, 1)["cold_start_delay_ms"]
    assert delays["count"] == 1 and 290 < delays["p50"] < 310


def test_without_the_setting_no_delay(tmp_path: Path, instant_start: None) -> None:
    pools, pool = _pools(tmp_path)
    cold_wall, _, _ = _cold_then_warm(pools, pool)
    assert cold_wall < 0.1
    assert pool.metrics.to_json(0, 1, 1)["cold_start_delay_ms"]["count"] == 0
