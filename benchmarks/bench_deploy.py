"""Benchmark: deploy + destroy every stack folder in ``stacks/`` (or the test SAM app) 3 times.

    .venv/bin/python benchmarks/bench_deploy.py [--runs 3] [STACK_DIR ...]

Starts a private environment in a temporary folder, times ``deploy_stack`` and ``destroy_stack``
for each stack, prints min/median/max seconds and writes ``benchmarks/results/deploy.json``.
Target: a deploy under 15 s.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "deploy.json"
TARGET_S = 15.0


def _stack_dirs(explicit: list[str]) -> list[Path]:
    if explicit:
        return [Path(p).resolve() for p in explicit]
    found = sorted(p.parent for p in (ROOT / "stacks").glob("*/template.y*ml"))
    return found or [ROOT / "tests" / "fixtures" / "deploy" / "samapp"]


def _figures(samples: list[float]) -> dict[str, float]:
    return {
        "min_s": round(min(samples), 3),
        "median_s": round(statistics.median(samples), 3),
        "max_s": round(max(samples), 3),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stacks", nargs="*", help="stack folders (default: stacks/*)")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)

    from harness.config import Settings
    from harness.deploy import deploy_stack, destroy_stack
    from harness.env.environment import Environment

    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench-deploy-") as tmp:
        started = time.perf_counter()
        with Environment(Settings.load(state_dir=Path(tmp))) as env:
            env_start = time.perf_counter() - started
            for stack_dir in _stack_dirs(args.stacks):
                deploys, destroys, counts = [], [], []
                for _ in range(args.runs):
                    t0 = time.perf_counter()
                    stack = deploy_stack(env, stack_dir)
                    t1 = time.perf_counter()
                    destroy_stack(env, stack.name)
                    t2 = time.perf_counter()
                    deploys.append(t1 - t0)
                    destroys.append(t2 - t1)
                    counts.append(len(stack.resources))
                results[stack_dir.name] = {
                    "stack_dir": str(stack_dir),
                    "resources": counts[0],
                    "deploy": _figures(deploys),
                    "destroy": _figures(destroys),
                    "deploy_samples_s": [round(x, 3) for x in deploys],
                    "passed": max(deploys) < TARGET_S,
                }
                d = results[stack_dir.name]["deploy"]
                print(
                    f"{stack_dir.name:<16} {counts[0]:>3} resources  deploy "
                    f"min {d['min_s']:.2f} / median {d['median_s']:.2f} / max {d['max_s']:.2f} s"
                    f"  destroy median {results[stack_dir.name]['destroy']['median_s']:.2f} s"
                )
    report = {
        "benchmark": "deploy",
        "runs": args.runs,
        "target_s": TARGET_S,
        "environment_start_s": round(env_start, 3),
        "machine": {"python": platform.python_version(), "platform": platform.platform()},
        "note": "the first deploy includes importing cfn-lint and aws-sam-translator (~2 s)",
        "stacks": results,
        "passed": all(r["passed"] for r in results.values()),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2, sort_keys=True))
    print(f"written {RESULTS}")
    return 0 if report["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
