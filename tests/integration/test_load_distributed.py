"""The load engine on Locust's distributed runner: a master and workers that are separate
processes talking ZeroMQ over TCP on 127.0.0.1 -- the exact merge, a worker lost mid-run (the
run fails, or its arrivals are taken over), too few workers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

import harness.load
from harness.env.process import free_port
from harness.load import (
    Histogram,
    LoadGeneratorError,
    LoadProfile,
    LoadProgress,
    Stage,
    TrafficMix,
    run_load,
)
from tests.fixtures.load.server import serve_load_app

pytestmark = pytest.mark.integration

LOCUSTFILE = Path(harness.load.__file__).parent / "locustfile.py"
BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with serve_load_app() as url:
        yield url


def _served(url: str, key: str) -> int:
    with urllib.request.urlopen(url + "/count", timeout=5) as response:
        return int(json.loads(response.read()).get(key, 0))


class Workers:
    """Worker processes started apart from the engine (as on other machines)."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(
        self, command: list[str], env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(command, env={**os.environ, **(env or {})})
        self.procs.append(proc)
        return proc

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture
def workers() -> Iterator[Workers]:
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    started = Workers()
    yield started
    started.stop()

    # what this test started and left (a session-wide environment's gateway, whose command line
    # has --workers, is not this test's)
    def ours(p: psutil.Process) -> bool:
        argv = p.cmdline()
        return any(m in argv for m in ("--worker", "load-worker")) or "harness.load." in " ".join(
            argv
        )

    left = [
        p
        for p in psutil.Process().children(recursive=True)
        if p.pid not in before and p.status() != psutil.STATUS_ZOMBIE and ours(p)
    ]
    assert left == []
    assert "locust" not in sys.modules and "gevent.monkey" not in sys.modules


def test_master_and_two_workers_over_tcp_merge_exactly(
    server: str, workers: Workers, tmp_path: Path
) -> None:
    port = free_port()
    samples = {"HARNESS_LOAD_SAMPLES": str(tmp_path)}
    # one joins with the harness's command, the other with Locust's own (the harness locustfile)
    workers.start([str(BIN / "harness"), "load-worker", "--master", f"127.0.0.1:{port}"], samples)
    workers.start(
        [
            str(BIN / "locust"),
            "--worker",
            "-f",
            str(LOCUSTFILE),
            "--master-host",
            "127.0.0.1",
            "--master-port",
            str(port),
            "--loglevel",
            "WARNING",
        ],
        samples,
    )
    before = _served(server, "dist")
    seen: list[LoadProgress] = []
    result = run_load(
        server,
        LoadProfile(stages=[Stage.hold(120, 2, "a"), Stage.hold(120, 1, "b")]),
        TrafficMix.single("/dist?ms=5"),
        processes=0,
        expect_workers=2,
        master_port=port,
        seed=11,
        progress=seen.append,
        warn=False,
        join_timeout=60,
    )
    served = _served(server, "dist") - before
    assert result.processes == 2 and {g.index for g in result.generators} == {0, 1}
    assert result.total.requests == served == pytest.approx(360, rel=0.1)
    assert all(g.requests == pytest.approx(180, rel=0.15) for g in result.generators)
    assert [p.name for p in result.phases] == ["a", "b"]
    assert result.master_cpu_seconds > 0 and result.workers_lost == []
    assert seen and set(seen[-1].cpu_percent) == {0, 1}
    # the merged histogram is exactly the one of every raw sample the two workers recorded
    raw = Histogram()
    files = sorted(tmp_path.glob("worker-*.samples"))
    assert [f.name for f in files] == ["worker-0.samples", "worker-1.samples"]
    for f in files:
        for line in f.read_text().split():
            raw.record_us(int(line))
    merged = Histogram.merged(c.latency for c in result.cells.values())
    assert raw.count == merged.count == result.total.requests
    assert raw.counts == merged.counts
    assert (raw.min_us, raw.max_us, raw.total_us) == (merged.min_us, merged.max_us, merged.total_us)
    assert result.total.p99_ms == pytest.approx(raw.percentile_ms(0.99))


def _kill_at(proc: subprocess.Popen[bytes], second: float) -> tuple[list[float], object]:
    killed: list[float] = []

    def on_progress(p: LoadProgress) -> None:
        if p.elapsed_s >= second and not killed:
            proc.send_signal(signal.SIGKILL)
            killed.append(p.elapsed_s)

    return killed, on_progress


def _two_workers(workers: Workers, port: int) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "harness.load.worker", "--master", f"127.0.0.1:{port}"]
    workers.start(command)
    return workers.start(command)


def test_a_worker_killed_mid_run_fails_the_run(server: str, workers: Workers) -> None:
    port = free_port()
    victim = _two_workers(workers, port)
    killed, on_progress = _kill_at(victim, 2)
    started = time.monotonic()
    with pytest.raises(LoadGeneratorError) as failure:
        run_load(
            server,
            LoadProfile(stages=[Stage.hold(60, 30)]),
            TrafficMix.single("/killed"),
            processes=0,
            expect_workers=2,
            master_port=port,
            seed=12,
            progress=on_progress,  # type: ignore[arg-type]
            warn=False,
        )
    assert killed, "the worker was never killed"
    assert time.monotonic() - started < 25  # failed at once, not at the end of the 30 s run
    text = str(failure.value)
    assert "was lost" in text and "on_worker_loss is fail" in text


def test_a_worker_killed_mid_run_has_its_arrivals_taken_over(server: str, workers: Workers) -> None:
    port = free_port()
    victim = _two_workers(workers, port)
    killed, on_progress = _kill_at(victim, 2)
    before = _served(server, "taken")
    result = run_load(
        server,
        LoadProfile(stages=[Stage.hold(100, 9)]),
        TrafficMix.single("/taken"),
        processes=0,
        expect_workers=2,
        master_port=port,
        seed=13,
        progress=on_progress,  # type: ignore[arg-type]
        on_worker_loss="redistribute",
        warn=False,
    )
    served = _served(server, "taken") - before
    assert killed
    [lost] = result.workers_lost
    assert lost["pid"] == victim.pid and lost["taken_over_by"] == [1 - lost["index"]]
    assert any("was lost" in w for w in result.warnings)
    t = result.total
    # 900 arrivals: all sent or dropped, but for what the dead worker sent after its last report
    # (up to ~1 s of its 50 RPS), which it could not report and the survivor sends again
    assert 830 <= t.requests + t.dropped + t.aborted <= 960
    assert 0 <= served - t.requests <= 60
    survivor = next(g for g in result.generators if g.index != lost["index"])
    assert survivor.requests > 600  # its own 450 and most of the lost worker's


def test_too_few_workers_is_refused_with_the_join_command(server: str) -> None:
    with pytest.raises(LoadGeneratorError) as failure:
        run_load(
            server,
            LoadProfile(stages=[Stage.hold(10, 1)]),
            processes=0,
            expect_workers=1,
            join_timeout=2,
            warn=False,
        )
    text = str(failure.value)
    assert "only 0 of 1 load workers joined within 2s" in text
    assert "harness load-worker --master" in text


def test_load_worker_refuses_a_bad_master_address(capsys: pytest.CaptureFixture[str]) -> None:
    from harness.cli import main

    code = main(["load-worker", "--master", "nohost"])
    assert code == 2
    assert "--master" in capsys.readouterr().err


def test_cli_expect_workers_with_a_joining_worker(
    server: str, workers: Workers, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from harness.cli import main

    port = free_port()
    workers.start([str(BIN / "harness"), "load-worker", "--master", f"127.0.0.1:{port}"])
    code = main(
        [
            "load",
            server,
            "--rate",
            "30",
            "--duration",
            "2s",
            "--path",
            "/cli-dist",
            "--processes",
            "0",
            "--expect-workers",
            "1",
            "--master-port",
            str(port),
            "--on-worker-loss",
            "redistribute",
            "--report-dir",
            str(tmp_path),
        ]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert f"load master listening on 127.0.0.1:{port}" in captured.err
    data = json.loads((tmp_path / "load.json").read_text())
    assert data["processes"] == 1 and data["workers_lost"] == []
    assert data["total"]["requests"] == pytest.approx(60, abs=6)
    assert "master:" in captured.out and "ms/request" in captured.out


def test_closed_model_users_are_split_across_workers(server: str) -> None:
    result = run_load(
        server,
        LoadProfile(mode="closed", stages=[Stage.hold(4, 2, "users")], think_time=0.05),
        TrafficMix.single("/closed-dist?ms=10"),
        processes=2,
        seed=21,
        warn=False,
    )
    assert result.processes == 2
    assert sorted(g.users_allocated for g in result.generators) == [2, 2]
    assert max(row["active_users"] for row in result.timeline) <= 4
    assert result.total.requests > 40 and result.total.error_rate == 0
