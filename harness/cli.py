"""The ``harness`` command line.

Exit codes: 0 success, 1 failure (unhealthy, a failed expectation, a start error), 2 usage error
(unknown option, bad input file), 130 interrupted. Every flag has a ``HARNESS_*`` env var.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from harness import __version__
from harness.config import BACKENDS, Settings
from harness.errors import ConfigError, HarnessError

__all__ = ["main"]

logger = logging.getLogger("harness")


def _env(name: str, default: Any = None) -> Any:
    return os.environ.get(f"HARNESS_{name}", default)


def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, sort_keys=True))


def _settings(args: argparse.Namespace) -> Settings:
    return Settings.load(
        backend=getattr(args, "backend", None),
        localstack_url=getattr(args, "localstack_url", None),
        state_dir=getattr(args, "state_dir", None),
        otlp_endpoint=getattr(args, "otlp", None),
        tracing=False if getattr(args, "no_tracing", False) else None,
    )


# -- commands ------------------------------------------------------------------------------


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM raises KeyboardInterrupt while the block runs, so the environments it started
    are torn down by their context managers instead of outliving a killed command."""

    def on_term(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def cmd_up(args: argparse.Namespace) -> int:
    from harness.env.environment import Environment

    env = Environment(_settings(args))
    with _sigterm_as_interrupt():
        env.start()
    endpoints = env.endpoints
    if args.json:
        _print_json(
            {
                **{k: endpoints[k] for k in ("aws_endpoint", "redis_url", "gateway_url")},
                "backend": env.settings.backend,
                "already_running": not env.owned,
                "endpoints": endpoints,
                "processes": [
                    {
                        "name": p.name,
                        "pid": p.pid,
                        "port": p.port,
                        "endpoint": p.endpoint,
                        "log": p.log,
                    }
                    for p in env.processes
                ],
                "state_file": str(env.state_dir / "state.json"),
            }
        )
    else:
        verb = "is already running" if not env.owned else "is up"
        print(f"harness environment ({env.settings.backend}) {verb}:")
        for key in ("aws_endpoint", "redis_url", "gateway_url"):
            print(f"  {key:<13} {endpoints[key]}")
        print(f"  {'emulator':<13} {endpoints.get('emulator', '')}")
        print("stop it with: harness down")
    return 0


def _deployed(state_dir: Path) -> dict[str, dict[str, Any]]:
    """Per deployed stack: its resource count and, for a nested stack, its parent."""
    from harness.model import load_stacks

    return {
        name: {"resources": len(stack.resources), "parent": stack.parent or None}
        for name, stack in sorted(load_stacks(state_dir).items())
    }


def _not_honoured(state_dir: Path) -> dict[str, list[str]]:
    """Per deployed stack, what `deploy --allow-unsupported` let through (one line each)."""
    from harness.deploy.unsupported import Unsupported
    from harness.model import load_stacks

    return {
        name: [Unsupported(**item).text() for item in stack.unsupported]
        for name, stack in sorted(load_stacks(state_dir).items())
        if stack.unsupported
    }


def cmd_status(args: argparse.Namespace) -> int:
    from harness.env.environment import Environment
    from harness.errors import NotRunningError

    env = Environment(_settings(args))
    try:
        health = env.health(deep=True)
    except NotRunningError as exc:
        if args.json:
            _print_json({"running": False, "healthy": False, "components": [], "error": str(exc)})
        else:
            print(str(exc))
        return 1
    healthy = all(h.healthy for h in health)
    not_honoured = _not_honoured(env.state_dir)
    deployed = _deployed(env.state_dir)
    if args.json:
        _print_json(
            {
                "running": True,
                "healthy": healthy,
                "backend": env.refresh().backend,
                "endpoints": env.endpoints,
                "components": [h.to_json() for h in health],
                "not_honoured": not_honoured,
                "stacks": deployed,
            }
        )
    else:
        for h in health:
            mark = "ok  " if h.healthy else "DOWN"
            print(f"  {mark} {h.name:<10} {h.detail}")
        for name, info in deployed.items():
            nested = f", nested in {info['parent']}" if info["parent"] else ""
            print(f"  stack {name} ({info['resources']} resources{nested})")
        if healthy:
            print("healthy")
        elif any(h.name.startswith("stack:") for h in health) and all(
            h.healthy for h in health if not h.name.startswith("stack:")
        ):
            print("UNHEALTHY: a deployed stack lost its resources; redeploy it (see above)")
        else:
            print("UNHEALTHY: run `harness down` then `harness up`")
        for stack, items in not_honoured.items():
            print(f"WARNING: stack {stack} was deployed with --allow-unsupported; NOT honoured:")
            for item in items:
                print(f"  - {item}")
    return 0 if healthy else 1


def cmd_down(args: argparse.Namespace) -> int:
    from harness.env.environment import Environment

    env = Environment(_settings(args))
    stopped = env.stop(keep_data=True if args.keep_data else None)
    print("stopped" if stopped else "nothing was running")
    return 0


def cmd_setup(args: argparse.Namespace) -> int:
    from harness.setup import run_setup

    steps = run_setup(_settings(args), force=args.force)
    if args.json:
        _print_json([step.__dict__ for step in steps])
    else:
        for step in steps:
            print(f"  {step.status:<9} {step.name:<15} {step.detail}")
    return 0


def cmd_smoke(args: argparse.Namespace) -> int:
    from harness.smoke import run_smoke

    result = run_smoke(_settings(args), keep=args.keep)
    if args.json:
        _print_json(result)
    else:
        for check in result["checks"]:
            print(
                f"  {'ok  ' if check['passed'] else 'FAIL'} {check['name']:<28} {check['detail']}"
            )
        print("smoke check passed" if result["passed"] else "smoke check FAILED")
    return 0 if result["passed"] else 1


def cmd_init(args: argparse.Namespace) -> int:
    from harness.deploy.cli import cmd_init as run

    return run(args)


def cmd_deploy(args: argparse.Namespace) -> int:
    from harness.deploy.cli import cmd_deploy as run

    code = run(args)
    if code != 0 or not getattr(args, "watch", False):
        return code
    return _watch(args)


def _watch(args: argparse.Namespace) -> int:
    """``harness deploy --watch``: follow the folder just deployed (harness.deploy_watch)."""
    from harness.config import Settings
    from harness.deploy.cli import parse_params
    from harness.deploy_watch import watch_stack
    from harness.env.environment import Environment
    from harness.model import load_stacks

    env = Environment(Settings.load(state_dir=getattr(args, "state_dir", None)))
    env.refresh()
    folder = os.path.realpath(args.stack_dir)
    stack = next(
        (s for s in load_stacks(env.state_dir).values() if os.path.realpath(s.stack_dir) == folder),
        None,
    )
    if stack is None:  # the deploy just saved it: only a concurrent destroy gets here
        raise ConfigError(
            f"no deployed stack comes from {folder}",
            source="harness deploy --watch",
            field="STACK_DIR",
        )
    with _sigterm_as_interrupt():
        try:
            return watch_stack(
                env,
                Path(args.stack_dir),
                parse_params(getattr(args, "param", None)),
                allow_unsupported=getattr(args, "allow_unsupported", False),
                stack=stack,
                out=lambda line: print(line, flush=True),
            )
        except KeyboardInterrupt:
            return 0


def cmd_destroy(args: argparse.Namespace) -> int:
    from harness.deploy.cli import cmd_destroy as run

    return run(args)


def cmd_token(args: argparse.Namespace) -> int:
    from harness.tokens_cli import cmd_token as run

    args.state_dir = str(_settings(args).state_dir)
    return run(args)


def cmd_logs(args: argparse.Namespace) -> int:
    from harness.logs_cli import cmd_logs as run

    return run(args)


def cmd_debug(args: argparse.Namespace) -> int:
    from harness.debug_cli import cmd_debug as run

    return run(args)


def cmd_trace(args: argparse.Namespace) -> int:
    from harness.obs.trace import cmd_trace as run

    return run(args)


def cmd_load(args: argparse.Namespace) -> int:
    from harness.load.cli import cmd_load as run

    return run(args)


def cmd_load_worker(args: argparse.Namespace) -> int:
    """Become a Locust worker (this process is replaced: Locust monkey-patches it on import)."""
    from harness.load.worker import check_master_address

    try:
        check_master_address(args.master)
    except ValueError as exc:
        raise ConfigError(str(exc), source="harness load-worker", field="--master") from None
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, [sys.executable, "-m", "harness.load.worker", "--master", args.master])


def cmd_fault(args: argparse.Namespace) -> int:
    from harness.chaos.cli import cmd_fault as run
    from harness.env.environment import Environment

    return run(args, Environment(_settings(args)).endpoints)


def cmd_run(args: argparse.Namespace) -> int:
    from harness.scenario.cli import cmd_run as run

    return run(args, _settings(args))


def cmd_isolation(args: argparse.Namespace) -> int:
    from harness.isolation.cli import cmd_isolation as run

    return run(args, _settings(args))


def cmd_replay(args: argparse.Namespace) -> int:
    from harness.isolation.cli import cmd_replay as run

    return run(args, _settings(args))


def cmd_report(args: argparse.Namespace) -> int:
    from pathlib import Path

    from harness.report import load_run, render_all

    folder = Path(args.dir)
    run = load_run(folder)
    for name, path in render_all(run, folder).items():
        print(f"  {name:<8} {path}")
    print(f"{run.title}: {'PASSED' if run.passed else 'FAILED'}")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from harness.bench import run_benchmark

    with _sigterm_as_interrupt():  # a killed benchmark still stops its environment
        extra = {"workers": args.workers} if args.workers else {}
        result = run_benchmark(
            args.name, _settings(args), runs=args.runs, quick=args.quick, **extra
        )
    if args.json:
        _print_json(result)
    if args.name == "list":
        return 0
    return 0 if result.get("passed") is True else 1  # no verdict is not a pass


# -- parser --------------------------------------------------------------------------------


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--state-dir",
        default=_env("STATE_DIR"),
        help="folder for the state file and logs (env HARNESS_STATE_DIR; default ./.harness)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="harness",
        description="Run a multi-tenant serverless SaaS stack locally; load it, break it, check isolation.",
    )
    parser.add_argument("--version", action="version", version=f"harness {__version__}")
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="more log output (-vv: debug)"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(
        name: str, func: Callable[[argparse.Namespace], int], help_text: str
    ) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(func=func)
        _add_common(p)
        return p

    up = command(
        "up", cmd_up, "start the environment in the background and wait until it is healthy"
    )
    up.add_argument(
        "--backend",
        choices=BACKENDS,
        default=_env("BACKEND"),
        help="embedded (default; no Docker) or localstack (env HARNESS_BACKEND)",
    )
    up.add_argument(
        "--localstack-url",
        default=_env("LOCALSTACK_URL"),
        help="use this running LocalStack (env HARNESS_LOCALSTACK_URL)",
    )
    up.add_argument(
        "--otlp",
        metavar="URL",
        default=None,
        help="also send the live spans with OTLP/HTTP to this receiver, e.g. "
        "http://127.0.0.1:4318 (env HARNESS_OTLP_ENDPOINT)",
    )
    up.add_argument(
        "--no-tracing",
        action="store_true",
        help="record no spans (env HARNESS_TRACING=0); harness trace then rebuilds them from logs",
    )
    up.add_argument("--json", action="store_true", default=bool(_env("JSON")), help="print JSON")

    status = command(
        "status", cmd_status, "check each piece of the environment live (exit 1 if unhealthy)"
    )
    status.add_argument(
        "--json", action="store_true", default=bool(_env("JSON")), help="print JSON"
    )

    down = command("down", cmd_down, "stop everything `up` started (safe to repeat)")
    down.add_argument(
        "--keep-data",
        action="store_true",
        help="keep the emulators' state in <state_dir>/data (env HARNESS_KEEP_DATA)",
    )

    setup = command(
        "setup", cmd_setup, "install what the embedded backend needs (Redis, Java, DynamoDB Local)"
    )
    setup.add_argument("--force", action="store_true", help="reinstall DynamoDB Local")
    setup.add_argument("--json", action="store_true", help="print JSON")

    smoke = command("smoke", cmd_smoke, "up, a real call to every service and Redis, down")
    smoke.add_argument(
        "--keep", action="store_true", help="leave the environment running afterwards"
    )
    smoke.add_argument("--json", action="store_true", help="print JSON")
    smoke.add_argument("--backend", choices=BACKENDS, default=_env("BACKEND"))

    deploy = command(
        "deploy", cmd_deploy, "deploy a stack folder (SAM/CloudFormation template.yaml)"
    )
    deploy.add_argument("stack_dir", help="folder with template.yaml, src/ and harness.yaml")
    deploy.add_argument(
        "--param", action="append", default=[], metavar="K=V", help="parameter override"
    )
    deploy.add_argument(
        "--json", action="store_true", help="print the stack, API URLs and resource ids"
    )
    deploy.add_argument(
        "--no-seed", action="store_true", help="skip the seed hook of harness.yaml's fixtures"
    )
    deploy.add_argument(
        "--watch",
        action="store_true",
        help="after the deploy, keep following STACK_DIR: a code or layer change swaps the "
        "function's environments in place (next invocation runs the new code), a template or "
        "dependency change redeploys; Ctrl-C stops",
    )
    deploy.add_argument(
        "--allow-unsupported",
        action="store_true",
        default=_env("ALLOW_UNSUPPORTED", "0").lower() in ("1", "true", "yes"),
        help="deploy even when the template asks for what the harness cannot honour: each such "
        "thing becomes a warning, listed again at the end and in `harness status` "
        "(HARNESS_ALLOW_UNSUPPORTED=1)",
    )

    init = command(
        "init", cmd_init, "write a starting harness.yaml and smoke.yaml for an app that has none"
    )
    init.add_argument("stack_dir", help="folder with the app's template.yaml")
    init.add_argument(
        "--param", action="append", default=[], metavar="K=V", help="template parameter value"
    )
    init.add_argument("--force", action="store_true", help="overwrite existing files")
    init.add_argument("--json", action="store_true", help="print what was found as JSON")

    destroy = command("destroy", cmd_destroy, "remove everything a deployed stack created")
    destroy.add_argument("name", help="the stack's name (as `harness deploy` printed it)")
    destroy.add_argument("--json", action="store_true")

    token = command(
        "token", cmd_token, "print a valid access token for a tenant and user of a deployed stack"
    )
    token.add_argument("stack", help="the deployed stack's name")
    token.add_argument("--tenant", required=True)
    token.add_argument("--user", help="user id (default: one per tenant)")
    token.add_argument("--scope", action="append", default=[], help="OAuth scope (repeatable)")

    logs = command(
        "logs",
        cmd_logs,
        "function, gateway and edge logs merged in time order (--follow to keep printing)",
    )
    from harness.logs_cli import configure_parser as configure_logs

    configure_logs(logs)

    debug = command(
        "debug",
        cmd_debug,
        "the next execution environment of a function waits for a debugpy client (VS Code)",
    )
    from harness.debug_cli import configure_parser as configure_debug

    configure_debug(debug)

    trace = command(
        "trace",
        cmd_trace,
        "one request's spans (gateway, function invocations, AWS calls) as a tree with timings",
    )
    from harness.obs.trace import configure_parser as configure_trace

    configure_trace(trace)

    load = command(
        "load", cmd_load, "open- or closed-model load (Locust) against a base URL, with SLOs"
    )
    from harness.load.cli import add_arguments as configure_load

    configure_load(load)

    worker = command(
        "load-worker",
        cmd_load_worker,
        "join a distributed load run (`harness load --expect-workers N`) as one of its workers",
    )
    worker.add_argument(
        "--master",
        required=_env("MASTER") is None,
        default=_env("MASTER"),
        metavar="HOST:PORT",
        help="where the master listens (env HARNESS_MASTER)",
    )

    fault = command("fault", cmd_fault, "inject, list and clear faults on the running environment")
    from harness.chaos.cli import configure_parser as configure_fault

    configure_fault(fault)

    run = command(
        "run",
        cmd_run,
        "run a gameday scenario: deploy, load, faults, checks; report; exit 1 if any expectation failed",
    )
    from harness.scenario.cli import configure_parser as configure_run

    configure_run(run)

    isolation = command(
        "isolation",
        cmd_isolation,
        "tenant isolation: token tampering, the state machine, data-layer invariants; exit 1 on a violation",
    )
    from harness.isolation.cli import configure_isolation, configure_replay

    configure_isolation(isolation)
    replay = command(
        "replay", cmd_replay, "reproduce an isolation replay file on a fresh environment and deploy"
    )
    configure_replay(replay)

    report = command(
        "report", cmd_report, "re-render summary.json, junit.xml and report.html from a run folder"
    )
    report.add_argument("dir", help="a report folder written by `harness run` (holds raw.json)")

    bench = command("bench", cmd_bench, "run a documented benchmark and print its figures")
    bench.add_argument("name", help="benchmark name (see `harness bench list`)")
    bench.add_argument(
        "--runs", type=int, default=int(_env("BENCH_RUNS", 3)), help="repetitions (default 3)"
    )
    bench.add_argument("--quick", action="store_true", help="smaller data sizes, for a fast look")
    bench.add_argument(
        "--workers",
        type=int,
        default=int(_env("BENCH_WORKERS", 0)) or None,
        help="load-engine only: N workers joining over TCP vs the engine's N local processes",
    )
    bench.add_argument("--json", action="store_true", help="print JSON")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(
        level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    try:
        return int(args.func(args))
    except HarnessError as exc:
        print(f"error: {exc}", file=sys.stderr)
        for note in getattr(exc, "__notes__", []):
            print(f"  {note}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted; everything started by this command was stopped", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
