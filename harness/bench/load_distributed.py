"""``harness bench load-engine --workers N``: the distributed engine against the single-host one.

Same environment, route and settings as :mod:`harness.bench.load_engine` (3,000 arrivals/s at
``GET {gateway_url}/_harness/health``), each run twice:

* **single**: the engine on one host, its N local worker processes started by the engine itself
  (what ``harness load --processes N`` does);
* **distributed**: N workers started apart as ``harness load-worker --master 127.0.0.1:PORT``
  joining a master started with ``--expect-workers N`` over TCP (what a run across machines does,
  here on loopback).

It reports both runs' achieved RPS, dropped share and p50/p99 from the intended start,
``distributed_to_single`` (aggregate RPS of the distributed run over the single-host one's; the
target is within 5%) and the master's CPU per request, with what that extrapolates to at 3,000 RPS
aggregate (the target is < 5% of one core). On a shared 2-core machine both modes are limited by
the same CPUs, so the ratio says whether distribution costs anything, not what N machines give.
"""

from __future__ import annotations

import dataclasses
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from harness.bench import spread
from harness.config import Settings
from harness.env.environment import Environment
from harness.env.process import free_port
from harness.load.engine import run_load
from harness.load.profile import LoadProfile, Stage, TrafficMix
from harness.load.result import LoadResult

__all__ = ["run"]

TARGET_RPS = 3000.0
ROUTE = "/_harness/health"
MASTER_BUDGET = 5.0  # percent of one core at 3,000 RPS aggregate
WITHIN = 0.05


def _profile(duration: float) -> LoadProfile:
    return LoadProfile(stages=[Stage.hold(TARGET_RPS, duration, "hold")], max_users=2000, timeout=5)


def _figures(result: LoadResult, duration: float) -> dict[str, Any]:
    t = result.total
    master_ms = 1000 * result.master_cpu_seconds / max(t.requests, 1)
    return {
        "achieved_rps": round(t.rps, 1),
        "dropped_percent": round(100 * t.dropped_ratio, 3),
        "p50_ms": round(t.p50_ms, 3),
        "p99_ms": round(t.p99_ms, 3),
        "workers": len(result.generators),
        "master_cpu_seconds": round(result.master_cpu_seconds, 3),
        "master_cpu_ms_per_request": round(master_ms, 4),
        # the master's share of one core if the aggregate were 3,000 RPS
        "master_cpu_percent_at_3000_rps": round(master_ms * TARGET_RPS / 10, 2),
        "generator_cpu_ms_per_request": round(
            1000 * sum(g.cpu_seconds for g in result.generators) / max(t.requests, 1), 4
        ),
        "duration_s": duration,
    }


def _distributed(url: str, workers: int, profile: LoadProfile, seed: int) -> LoadResult:
    port = free_port()
    harness = str(Path(sys.executable).parent / "harness")
    procs = [
        subprocess.Popen(
            [harness, "load-worker", "--master", f"127.0.0.1:{port}"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(workers)
    ]
    try:
        return run_load(
            url,
            profile,
            TrafficMix.single(ROUTE),
            processes=0,
            expect_workers=workers,
            master_port=port,
            seed=seed,
            warn=False,
        )
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def run(settings: Settings, runs: int = 3, quick: bool = False, workers: int = 2) -> dict[str, Any]:
    duration = 10.0 if quick else 60.0
    profile = _profile(duration)
    single: list[dict[str, Any]] = []
    distributed: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-load-dist-") as tmp:
        env_settings = dataclasses.replace(settings, state_dir=Path(tmp))
        with Environment(env_settings) as env:
            url = str(env.endpoints["gateway_url"])
            for i in range(runs):
                one = run_load(
                    url, profile, TrafficMix.single(ROUTE), processes=workers, seed=i, warn=False
                )
                single.append(_figures(one, duration))
                time.sleep(1)
                many = _distributed(url, workers, profile, seed=i)
                distributed.append(_figures(many, duration))
                ratio = many.total.rps / one.total.rps if one.total.rps else 0.0
                distributed[-1]["distributed_to_single"] = round(ratio, 4)
                print(
                    f"run {i + 1}/{runs}: single {single[-1]['achieved_rps']} RPS, distributed "
                    f"{distributed[-1]['achieved_rps']} RPS (ratio {ratio:.3f}), master "
                    f"{distributed[-1]['master_cpu_ms_per_request']} ms/request",
                    flush=True,
                )
                time.sleep(1)
    ratios = [float(r["distributed_to_single"]) for r in distributed]
    ratio = statistics.median(ratios)
    master_at_3000 = statistics.median(
        float(r["master_cpu_percent_at_3000_rps"]) for r in distributed
    )
    names = ("achieved_rps", "dropped_percent", "p50_ms", "p99_ms", "master_cpu_ms_per_request")
    return {
        "benchmark": "load-engine",
        "mode": f"--workers {workers}",
        "target": {
            "rps": TARGET_RPS,
            "duration_s": duration,
            "route": f"GET {{gateway_url}}{ROUTE}",
            "workers": workers,
            "distributed_to_single_within": WITHIN,
            "master_cpu_percent_at_3000_rps_below": MASTER_BUDGET,
        },
        "baseline": "the same engine on one host (its N local worker processes), same settings",
        "short_runs": quick,
        "distributed_to_single": spread(ratios, 4),
        "master_cpu_percent_at_3000_rps": round(master_at_3000, 2),
        "passed": abs(ratio - 1) <= WITHIN and master_at_3000 < MASTER_BUDGET,
        "figures_single": {n: spread([float(r[n]) for r in single]) for n in names},
        "figures_distributed": {n: spread([float(r[n]) for r in distributed]) for n in names},
        "runs_single": single,
        "runs_distributed": distributed,
        "cpus": os.cpu_count(),
    }
