"""Benchmark ``load-engine``: can the load engine alone hold 3,000 RPS on this machine?

It starts the environment (``harness up``, embedded backend) in a temporary state folder and aims
the open model at the cheapest route there is, ``GET {gateway_url}/_harness/health`` (answered
by the daemon's uvicorn workers without touching a Lambda or an emulator), at 3,000 arrivals per
second for 5 minutes (``--quick``: 30 s), with one generator process per core. It reports the
achieved RPS, the dropped share, p50/p99 (from the intended start), the CPU of every generator
process and of every server process, and the engine's own warnings (which process was
CPU-bound). Each run is repeated with ``client: raw`` (the users' geventhttpclient connections
without Locust's session layer) to show what that layer costs.

The target (baseline) is the seeds' NFR: 3,000 RPS sustained with < 1% dropped arrivals. When a
run misses it, separate step-down runs (2,750 RPS, 2,500, ... by 250; 10 s each in quick mode,
30 s otherwise) find the highest rate sustained with < 1% dropped and >= 97% of the target
achieved.

On a 2-core machine the generators and the server share the two cores (and any other work on
the machine), so the result says where the CPU went rather than what either side could do alone:
``generator_cpu_wait_seconds`` is how long each generator process was runnable but waiting for a
CPU (Linux schedstat) -- a large value means the machine, not the engine, was the limit.
"""

from __future__ import annotations

import dataclasses
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

from harness.bench import spread
from harness.config import Settings
from harness.env.environment import Environment
from harness.load.engine import run_load
from harness.load.profile import LoadProfile, Stage, TrafficMix
from harness.load.result import LoadResult

__all__ = ["run"]

TARGET_RPS = 3000.0
MAX_DROPPED = 0.01
MIN_ACHIEVED = 0.97
ROUTE = "/_harness/health"


def _server_processes(env: Environment) -> dict[str, psutil.Process]:
    """The gateway daemon and its uvicorn workers, by a readable name."""
    record = next(p for p in env.processes if p.name == "gateway")
    main = psutil.Process(record.pid)
    procs = {f"gateway (pid {main.pid})": main}
    for i, child in enumerate(main.children(recursive=True)):
        procs[f"gateway worker {i} (pid {child.pid})"] = child
    return procs


def _cpu(procs: dict[str, psutil.Process]) -> dict[str, float]:
    out = {}
    for name, proc in procs.items():
        try:
            times = proc.cpu_times()
            out[name] = times.user + times.system
        except psutil.Error:
            out[name] = 0.0
    return out


def _profile(rate: float, duration: float, client: str = "fasthttp") -> LoadProfile:
    return LoadProfile(
        stages=[Stage.hold(rate, duration, "hold")],
        max_users=2000,
        timeout=5,
        client=client,
    )


def _one_run(
    url: str, procs: dict[str, psutil.Process], profile: LoadProfile, processes: int, seed: int
) -> tuple[LoadResult, dict[str, float], float]:
    before, started = _cpu(procs), time.perf_counter()
    result = run_load(
        url, profile, TrafficMix.single(ROUTE), processes=processes, seed=seed, warn=False
    )
    wall = time.perf_counter() - started
    after = _cpu(procs)
    server = {name: after[name] - before[name] for name in procs}
    return result, server, wall


def _sustained(achieved_ratio: float, dropped_ratio: float) -> bool:
    return dropped_ratio < MAX_DROPPED and achieved_ratio >= MIN_ACHIEVED


def _summary(result: LoadResult, server_cpu: dict[str, float], duration: float) -> dict[str, Any]:
    t = result.total
    return {
        "achieved_rps": round(t.rps, 1),
        "achieved_ratio": round(t.achieved_ratio, 4),
        "dropped_percent": round(100 * t.dropped_ratio, 3),
        "error_rate": round(t.error_rate, 6),
        "p50_ms": round(t.p50_ms, 3),
        "p99_ms": round(t.p99_ms, 3),
        "service_p50_ms": round(t.service_p50_ms, 3),
        "service_p99_ms": round(t.service_p99_ms, 3),
        "generator_cpu_percent": {
            f"process {g.index} (pid {g.pid})": round(g.cpu_percent, 1) for g in result.generators
        },
        "generator_cpu_wait_seconds": {
            f"process {g.index} (pid {g.pid})": round(g.cpu_wait_seconds, 2)
            for g in result.generators
        },
        "generator_cpu_ms_per_request": round(
            1000 * sum(g.cpu_seconds for g in result.generators) / max(t.requests, 1), 4
        ),
        "server_cpu_percent": {
            name: round(100 * cpu / duration, 1) for name, cpu in server_cpu.items()
        },
        "server_cpu_ms_per_request": round(1000 * sum(server_cpu.values()) / max(t.requests, 1), 4),
        "cpu_bound": [w for w in result.warnings if "CPU-bound" in w],
        "warnings": result.warnings,
        "sustained": _sustained(t.achieved_ratio, t.dropped_ratio),
    }


def _step_down(
    url: str, procs: dict[str, psutil.Process], processes: int, quick: bool
) -> dict[str, Any]:
    """Separate runs at 2,750, 2,500, ... RPS (so an overloaded step leaves no backlog for the
    next) until one is sustained; each step reports who used the CPU."""
    each = 10.0 if quick else 30.0
    steps = []
    best = None
    level = TARGET_RPS - 250
    while level >= 250 and best is None:
        result, server, _ = _one_run(url, procs, _profile(level, each), processes, seed=int(level))
        summary = _summary(result, server, each)
        summary["target_rps"] = level
        steps.append(summary)
        print(
            f"step {level:g} RPS: {summary['achieved_rps']} RPS, "
            f"dropped {summary['dropped_percent']}%, p99 {summary['p99_ms']} ms",
            flush=True,
        )
        if summary["sustained"]:
            best = level
        level -= 250
    return {"highest_sustained_rps": best, "step_s": each, "steps": steps}


def run(
    settings: Settings, runs: int = 3, quick: bool = False, workers: int | None = None
) -> dict[str, Any]:
    if workers:
        from harness.bench.load_distributed import run as distributed

        return distributed(settings, runs=runs, quick=quick, workers=workers)
    duration = 30.0 if quick else 300.0
    processes = os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp:
        env_settings = dataclasses.replace(settings, state_dir=Path(tmp))
        with Environment(env_settings) as env:
            url = str(env.endpoints["gateway_url"])
            procs = _server_processes(env)
            by_client: dict[str, list[dict[str, Any]]] = {"fasthttp": [], "raw": []}
            for i in range(runs):
                for client, runs_of_client in by_client.items():
                    profile = _profile(TARGET_RPS, duration, client)
                    result, server, _ = _one_run(url, procs, profile, processes, i)
                    summary = _summary(result, server, duration)
                    runs_of_client.append(summary)
                    print(
                        f"run {i + 1}/{runs} ({client}): {summary['achieved_rps']} RPS, "
                        f"dropped {summary['dropped_percent']}%, p50 {summary['p50_ms']} ms, "
                        f"p99 {summary['p99_ms']} ms, "
                        f"generators {summary['generator_cpu_percent']}, "
                        f"server {summary['server_cpu_percent']}",
                        flush=True,
                    )
            per_run = by_client["fasthttp"]
            sustained = statistics.median(1.0 if r["sustained"] else 0.0 for r in per_run) >= 0.5
            step_down = None if sustained else _step_down(url, procs, processes, quick)
    metric_names = (
        "achieved_rps",
        "dropped_percent",
        "p50_ms",
        "p99_ms",
        "generator_cpu_ms_per_request",
        "server_cpu_ms_per_request",
    )
    return {
        "benchmark": "load-engine",
        "target": {
            "rps": TARGET_RPS,
            "max_dropped_percent": 100 * MAX_DROPPED,
            "duration_s": duration,
            "route": f"GET {{gateway_url}}{ROUTE}",
            "processes": processes,
        },
        "baseline": "the seeds' NFR: 3,000 RPS sustained with < 1% dropped arrivals "
        "(DESIGN.md: ~0.25 ms of generator CPU per request with Locust FastHttpUser)",
        "passed": sustained,
        "figures": {name: spread([float(r[name]) for r in per_run]) for name in metric_names},
        "figures_raw_client": {
            name: spread([float(r[name]) for r in by_client["raw"]]) for name in metric_names
        },
        "runs": per_run,
        "runs_raw_client": by_client["raw"],
        "step_down": step_down,
    }
