"""``harness load URL``: an ad-hoc load run with an SLO gate.

    harness load http://127.0.0.1:8080 --rate 200 --duration 30s --path /health --slo 'p99<50ms'
    harness load $API --profile plans/peak.yaml --report-dir reports/peak --json

Writes ``load.json`` (the full :class:`~harness.load.result.LoadResult` plus ``expectations``) to
``--report-dir`` (default: the current folder). Exit codes: 0 every SLO held, 1 an SLO failed
(named on stderr), 2 a usage error. Every flag has an env var ``HARNESS_LOAD_<FLAG>``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.errors import ConfigError

__all__ = ["HELP", "build_parser", "configure", "main", "run"]

HELP = "open- or closed-model load (Locust) against a base URL, with SLOs"


def _env(name: str, default: Any = None) -> Any:
    return os.environ.get(f"HARNESS_LOAD_{name}", default)


def _env_list(name: str) -> list[str] | None:
    value = _env(name)
    return [v for v in value.split(",") if v] if value else None


def configure(parser: argparse.ArgumentParser) -> None:
    """The ``harness load`` options (for the main CLI to mount as a sub-command)."""
    parser.add_argument("url", help="base URL of the system under test")
    target = parser.add_mutually_exclusive_group()
    target.add_argument(
        "--rate", type=float, default=_env("RATE"), help="open model: arrivals per second"
    )
    target.add_argument(
        "--users", type=int, default=_env("USERS"), help="closed model: concurrent users"
    )
    parser.add_argument("--duration", default=_env("DURATION", "60s"), help="e.g. 30s, 5m")
    parser.add_argument(
        "--path",
        action="append",
        default=_env_list("PATH"),
        help="GET this path (repeat for an equal mix); default /",
    )
    parser.add_argument(
        "--processes",
        type=int,
        default=_env("PROCESSES"),
        help="local worker processes (default: cores, or 0 with --expect-workers)",
    )
    parser.add_argument(
        "--expect-workers",
        type=int,
        default=int(_env("EXPECT_WORKERS", 0)),
        help="also wait for N workers from other machines (harness load-worker --master HOST:PORT)",
    )
    parser.add_argument(
        "--master-bind",
        default=_env("MASTER_BIND", "127.0.0.1"),
        help="interface the master listens on for workers (0.0.0.0 for other machines)",
    )
    parser.add_argument(
        "--master-port", type=int, default=int(_env("MASTER_PORT", 0)), help="default: a free one"
    )
    parser.add_argument(
        "--on-worker-loss",
        choices=["fail", "redistribute"],
        default=_env("ON_WORKER_LOSS", "fail"),
        help="a worker lost mid-run fails the run, or its arrivals go to the others",
    )
    parser.add_argument(
        "--join-timeout", type=float, default=float(_env("JOIN_TIMEOUT", 120)), help="seconds"
    )
    parser.add_argument("--max-users", type=int, default=_env("MAX_USERS"), help="open: pool")
    parser.add_argument("--think-time", default=_env("THINK_TIME"), help="closed: e.g. 100ms")
    parser.add_argument("--profile", default=_env("PROFILE"), help="a load plan YAML file")
    parser.add_argument(
        "--slo", action="append", default=_env_list("SLO"), help="e.g. 'p99<500ms' (repeat)"
    )
    parser.add_argument("--seed", type=int, default=_env("SEED"))
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    parser.add_argument(
        "--report-dir", default=_env("REPORT_DIR", "."), help="where load.json is written"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="harness load", description=__doc__.split("\n")[0])
    configure(parser)
    return parser


def _plan(args: argparse.Namespace) -> Any:
    from harness.load.plan import LoadPlan, load_plan
    from harness.load.profile import LoadProfile, Stage, TrafficMix
    from harness.load.slo import parse_slo

    plan = load_plan(args.profile) if args.profile else LoadPlan()
    updates: dict[str, Any] = {}
    if args.rate is not None or args.users is not None or plan.profile is None:
        mode = "closed" if args.users is not None else "open"
        target = float(args.users if args.users is not None else (args.rate or 10.0))
        options: dict[str, Any] = {}
        if args.max_users:
            options["max_users"] = int(args.max_users)
        if args.think_time:
            options["think_time"] = args.think_time
        try:
            stage = Stage.hold(target, args.duration)
            updates["profile"] = LoadProfile(mode=mode, stages=[stage], **options)
        except ValueError as exc:
            raise ConfigError(str(exc), source="harness load", field="--duration") from None
    elif args.max_users and plan.profile is not None:
        updates["profile"] = plan.profile.model_copy(update={"max_users": int(args.max_users)})
    if args.path:
        updates["mix"] = TrafficMix.model_validate(
            {"requests": [{"name": p, "path": p} for p in args.path]}
        )
    if args.slo:
        try:
            updates["slos"] = [*plan.slos, *(parse_slo(s) for s in args.slo)]
        except ValueError as exc:
            raise ConfigError(str(exc), source="harness load", field="--slo") from None
    if args.processes:
        updates["processes"] = int(args.processes)
    if args.seed is not None:
        updates["seed"] = int(args.seed)
    return plan.model_copy(update=updates)


def _print_progress(p: Any) -> None:
    cpu = " ".join(f"{v:.0f}%" for _, v in sorted(p.cpu_percent.items()))
    print(
        f"[{p.phase}] {p.elapsed_s:5.0f}s (-{p.remaining_s:.0f}s)  {p.rps:7.0f} rps "
        f"(target {p.target:.0f})  p99 {p.p99_ms:8.1f} ms  errors {p.errors}  "
        f"dropped {p.dropped}  users {p.active_users}  cpu {cpu}",
        file=sys.stderr,
        flush=True,
    )


def _print_listening(host: str, port: int) -> None:
    print(
        f"load master listening on {host}:{port}; join it from each load machine with: "
        f"harness load-worker --master <this host>:{port}",
        file=sys.stderr,
        flush=True,
    )


def _table(result: Any) -> str:
    lines = [
        f"{'scope':32} {'requests':>9} {'rps':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} "
        f"{'max ms':>8} {'errors':>7} {'dropped':>8}"
    ]
    rows = [("all", result.total)]
    rows += [(f"phase:{g.name}", g) for g in result.phases]
    rows += [(f"endpoint:{g.name}", g) for g in result.endpoints]
    rows += [(f"tenant:{g.name}", g) for g in result.tenants]
    for label, g in rows:
        lines.append(
            f"{label[:32]:32} {g.requests:>9} {g.rps:>8.1f} {g.p50_ms:>8.1f} {g.p95_ms:>8.1f} "
            f"{g.p99_ms:>8.1f} {g.max_ms:>8.1f} {g.error_rate:>7.2%} {g.dropped:>8}"
        )
    for g in result.generators:
        lines.append(
            f"generator {g.index} (pid {g.pid}): {g.cpu_percent:.0f}% of a core "
            f"(worst second {g.cpu_max_percent:.0f}%)"
        )
    if result.master_cpu_seconds:
        lines.append(
            f"master: {result.master_cpu_seconds:.2f} CPU s "
            f"({1000 * result.master_cpu_seconds / max(result.total.requests, 1):.3f} ms/request)"
        )
    for lost in result.workers_lost:
        lines.append(f"worker {lost['index']} lost at {lost['at_s']:.1f}s: {lost['why']}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from harness.load.engine import run_load
    from harness.load.slo import evaluate_slos

    plan = _plan(args)
    base = Path(args.profile).parent if args.profile else None
    tokens = plan.tokens.provider(base) if plan.tokens else None
    assert plan.profile is not None
    result = run_load(
        args.url,
        plan.profile,
        plan.mix,
        plan.tenant_set(),
        tokens,
        processes=plan.processes,
        seed=plan.seed,
        progress=None if args.quiet else _print_progress,
        expect_workers=args.expect_workers,
        master_host=args.master_bind,
        master_port=args.master_port,
        on_worker_loss=args.on_worker_loss,
        join_timeout=args.join_timeout,
        listening=None if args.quiet or not args.expect_workers else _print_listening,
    )
    expectations = evaluate_slos(result, plan.slos)
    passed = all(e.passed for e in expectations)
    data = {
        **result.to_json(),
        "passed": passed,
        "expectations": [e.to_json() for e in expectations],
    }
    folder = Path(args.report_dir)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "load.json").write_text(json.dumps(data, indent=2) + "\n")
    if args.json:
        print(json.dumps(data, indent=2))
    else:
        print(_table(result))
        for e in expectations:
            mark = {"passed": "PASS", "failed": "FAIL"}.get(e.status, "INCONCLUSIVE")
            print(f"{mark} {e.name}: observed {e.observed} {e.target}")
        print(f"wrote {folder / 'load.json'}")
    for e in expectations:
        if not e.passed:
            print(f"SLO failed: {e.name} ({e.detail})", file=sys.stderr)
    return 0 if passed else 1


def main(argv: Sequence[str] | None = None) -> int:
    from harness.errors import HarnessError

    args = build_parser().parse_args(argv)
    try:
        return run(args)
    except HarnessError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
