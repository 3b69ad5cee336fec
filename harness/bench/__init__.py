"""Benchmarks behind ``harness bench NAME``: a named registry with lazy factories.

Each benchmark repeats its measurement (``runs``, default 3), reports min/median/max, names the
baseline it compares with, prints a table and saves JSON under ``benchmarks/results/``.
"""

from __future__ import annotations

import importlib
import json
import os
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from harness.config import Settings, find_project_root
from harness.errors import ConfigError

__all__ = ["BENCHMARKS", "results_dir", "run_benchmark", "spread"]

# name -> "module:function"; the function takes (settings, runs, quick) and returns a dict.
BENCHMARKS: dict[str, str] = {
    "cold-start": "harness.bench.cold_start:run",
    "data-size": "harness.bench.data_size:run",
    "isolation": "harness.bench.isolation:run",
    "load-engine": "harness.bench.load_engine:run",
    "syncwell-capacity": "harness.bench.syncwell_capacity:run",
    "tracing-cost": "harness.bench.tracing_cost:run",
}


def spread(values: Sequence[float], digits: int = 3) -> dict[str, float]:
    """min/median/max of repeated measurements."""
    return {
        "min": round(min(values), digits),
        "median": round(statistics.median(values), digits),
        "max": round(max(values), digits),
    }


def results_dir(settings: Settings) -> Path:
    """``HARNESS_RESULTS_DIR``, else ``benchmarks/results`` of the project (or the cwd)."""
    override = os.environ.get("HARNESS_RESULTS_DIR")
    folder = (
        Path(override) if override else find_project_root(Path.cwd()) / "benchmarks" / "results"
    )
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def run_benchmark(
    name: str,
    settings: Settings,
    *,
    runs: int = 3,
    quick: bool = False,
    workers: int | None = None,
) -> dict[str, Any]:
    if name == "list":
        for key in sorted(BENCHMARKS):
            print(key)
        return {"benchmarks": sorted(BENCHMARKS)}
    names = sorted(BENCHMARKS) if name == "all" else [name]
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        raise ConfigError(
            f"unknown benchmark '{unknown[0]}'.",
            source="harness bench NAME",
            fix=f"use one of: {', '.join(sorted(BENCHMARKS))}, or 'all'.",
        )
    if workers is not None and (names != ["load-engine"] or workers < 1):
        raise ConfigError(
            f"--workers {workers} applies to the load-engine benchmark only, with N >= 1.",
            source="harness bench",
            field="--workers",
            fix="harness bench load-engine --workers 2",
        )
    results: dict[str, Any] = {}
    for bench in names:
        module, _, func = BENCHMARKS[bench].partition(":")
        target: Callable[..., dict[str, Any]] = getattr(importlib.import_module(module), func)
        extra = {"workers": workers} if workers else {}
        result = target(settings, runs=runs, quick=quick, **extra)
        result.setdefault("benchmark", bench)
        result["machine"] = machine()
        stem = bench.replace("-", "_") + (f"_workers{workers}" if workers else "")
        path = results_dir(settings) / f"{stem}{'_quick' if quick else ''}.json"
        path.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
        print(f"saved {path}")
        results[bench] = result
    if len(results) == 1:
        return next(iter(results.values()))
    # a benchmark that gives no verdict is not a pass (never a default True)
    return {
        "passed": bool(results) and all(r.get("passed") is True for r in results.values()),
        "benchmarks": results,
    }
