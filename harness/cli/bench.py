"""``harness bench NAME``: run a documented benchmark and print its figures."""

from __future__ import annotations

import argparse

from harness.cli.common import from_env, print_json, settings, sigterm_as_interrupt

__all__ = ["HELP", "configure", "run"]

HELP = "run a documented benchmark and print its figures"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", help="benchmark name (see `harness bench list`)")
    parser.add_argument(
        "--runs", type=int, default=int(from_env("BENCH_RUNS", 3)), help="repetitions (default 3)"
    )
    parser.add_argument("--quick", action="store_true", help="smaller data sizes, for a fast look")
    parser.add_argument(
        "--workers",
        type=int,
        default=int(from_env("BENCH_WORKERS", 0)) or None,
        help="load-engine only: N workers joining over TCP vs the engine's N local processes",
    )
    parser.add_argument("--json", action="store_true", help="print JSON")


def run(args: argparse.Namespace) -> int:
    from harness.bench import run_benchmark

    with sigterm_as_interrupt():  # a killed benchmark still stops its environment
        extra = {"workers": args.workers} if args.workers else {}
        result = run_benchmark(args.name, settings(args), runs=args.runs, quick=args.quick, **extra)
    if args.json:
        print_json(result)
    if args.name == "list":
        return 0
    return 0 if result.get("passed") is True else 1  # no verdict is not a pass
