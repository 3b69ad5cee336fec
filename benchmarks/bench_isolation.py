"""Benchmark: 1,000 isolation state-machine steps per shipped stack in under 60 s.

    .venv/bin/python benchmarks/bench_isolation.py [--runs 3] [--quick]
    harness bench isolation            # the same, through the benchmark registry

Starts a private environment, deploys each shipped stack (``HARNESS_BENCH_ISOLATION_STACKS=a,b``
picks some), times the machine (min/median/max of the
runs), reports distinct endpoints and tenants covered, and writes
``benchmarks/results/isolation.json``. The measurement lives in ``harness/bench/isolation.py``.
"""

from __future__ import annotations

import argparse
import json
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="200 steps per stack")
    args = parser.parse_args(argv)

    from harness.bench import run_benchmark
    from harness.config import Settings

    result = run_benchmark("isolation", Settings.load(), runs=args.runs, quick=args.quick)
    print(json.dumps({k: result[k] for k in ("passed", "stacks")}, indent=2))
    return 0 if result["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
