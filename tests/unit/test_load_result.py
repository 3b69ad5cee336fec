"""Merging generator results: the timeline, generator CPU, and the warnings that name a process."""

from __future__ import annotations

import pytest

from harness.load.profile import LoadProfile, Stage
from harness.load.result import build_result
from harness.load.stats import Second, WorkerResult


def _worker(
    index: int, cpu: float, dropped: int = 0, lag: float = 0.0, wait: float = 0.0
) -> WorkerResult:
    w = WorkerResult(index=index, pid=1000 + index, seed=0, pool_size=50)
    cell = w.cell(("hold", "/x", "default"))
    for s in range(4):
        sec = Second(completed=100, sent=100, dropped=dropped, cpu=cpu, lag_max=lag, cpu_wait=wait)
        for _ in range(100):
            sec.latency.record(0.002)
            sec.service.record(0.001)
            cell.latency.record(0.002)
            cell.service.record(0.001)
        sec.statuses[200] = 100
        w.seconds[s] = sec
        cell.requests += 100
        cell.statuses[200] = cell.statuses.get(200, 0) + 100
        cell.dropped += dropped
        cell.last_sent = s + 0.99
    w.cpu_seconds, w.wall_seconds = cpu * 4, 4.0
    return w


PROFILE = LoadProfile(stages=[Stage.hold(200 + 0, 4, "hold")])


def test_merged_timeline_and_totals() -> None:
    result = build_result(
        base_url="http://x",
        profile=PROFILE,
        workers=[_worker(0, 0.3), _worker(1, 0.3)],
        seed=1,
        warn=False,
    )
    assert result.total.requests == 800 and result.total.rps == 200
    assert [row["rps"] for row in result.timeline] == [200, 200, 200, 200]
    assert result.timeline[0]["target"] == 200 and result.timeline[0]["cpu_percent"] == {
        "0": 30.0,
        "1": 30.0,
    }
    assert result.warnings == [] and result.drop_causes == {"generator": 0, "system": 0}
    assert result.total.p50_ms == 2.0 and result.total.service_p50_ms == 1.0


def test_cpu_bound_generator_is_named(capsys: pytest.CaptureFixture[str]) -> None:
    result = build_result(
        base_url="http://x",
        profile=PROFILE,
        workers=[_worker(0, 0.3), _worker(1, 0.97, dropped=5)],
        seed=1,
    )
    bound = [w for w in result.warnings if "was CPU-bound" in w]
    assert len(bound) == 1 and "generator process 1 (pid 1001)" in bound[0]
    assert result.generators[1].cpu_bound and not result.generators[0].cpu_bound
    # drops while the process was CPU-bound are the generator's, not the system's
    assert result.drop_causes == {"generator": 20, "system": 0}
    assert any(
        "caused by the load generator" in w and "process 1 (pid 1001): 20" in w
        for w in result.warnings
    )
    assert "CPU-bound" in capsys.readouterr().err


def test_starved_generator_is_reported_with_its_wait() -> None:
    result = build_result(
        base_url="http://x",
        profile=PROFILE,
        workers=[_worker(0, 0.3, lag=0.5, wait=0.6)],
        seed=1,
        warn=False,
    )
    assert len(result.warnings) == 1
    assert "fell behind its schedule in 4 seconds" in result.warnings[0]
    assert "waited 2.4 s for a CPU" in result.warnings[0]


def test_slow_system_drops_are_the_systems() -> None:
    w = _worker(0, 0.3, dropped=10)
    for sec in w.seconds.values():  # 1 s service time: 100 req/s needs 100 users > pool of 50
        sec.service = type(sec.service)()
        for _ in range(100):
            sec.service.record(1.0)
    result = build_result(base_url="http://x", profile=PROFILE, workers=[w], seed=1, warn=False)
    assert result.drop_causes == {"generator": 0, "system": 40}
    assert result.total.dropped_ratio == 40 / 440
