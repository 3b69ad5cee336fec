"""Run the edge proxy: ``python -m harness.edge --port P --default URL --route dynamodb=URL``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
from pathlib import Path

from harness.edge.proxy import EdgeProxy, serve
from harness.edge.tracing import EdgeTracer
from harness.obs.spans import TraceConfig, recorder_for


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m harness.edge")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--default", required=True, help="emulator URL for unrouted services")
    parser.add_argument("--route", action="append", default=[], help="SERVICE=URL (repeatable)")
    parser.add_argument("--seed", type=int, default=0, help="default seed of fault rules")
    parser.add_argument(
        "--state-dir",
        default=None,
        help="where deployed stacks are recorded (roles' policies for IAM enforcement)",
    )
    args = parser.parse_args(argv)
    routes = {}
    for item in args.route:
        service, _, url = item.partition("=")
        routes[service] = url
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    with contextlib.suppress(ImportError):
        import uvloop

        uvloop.install()
    from harness.chaos.control import fault_admin
    from harness.chaos.engine import FaultEngine
    from harness.metrics import configure as configure_metrics
    from harness.obs import JsonLinesLog

    if args.state_dir:  # AWS/DynamoDB, SQS, SNS, Events, States metrics of the calls it sees
        configure_metrics(Path(args.state_dir), "edge")
    engine = FaultEngine(seed=args.seed)
    from harness.edge.iam_guard import IamGuard

    # IAM as AWS enforces it for assumed-role keys; HARNESS_IAM_ENFORCE=0 only records decisions.
    enforce = os.environ.get("HARNESS_IAM_ENFORCE", "1").strip().lower() not in ("0", "false", "no")
    guard = IamGuard(Path(args.state_dir) if args.state_dir else None, enforce=enforce)
    from harness.env.secret import ControlGuard

    control = ControlGuard(Path(args.state_dir) if args.state_dir else None, "edge")
    alarms = None
    if args.state_dir:  # the stacks' CloudWatch alarms, evaluated live (harness/edge/alarms.py)
        from harness.edge.alarms import EdgeAlarms

        alarms = EdgeAlarms(Path(args.state_dir))
        alarms.edge_url = f"http://{args.host}:{args.port}"
        alarms.sqs_url = routes.get("sqs", args.default).rstrip("/")
    proxy = EdgeProxy(
        routes,
        args.default,
        fault_hook=engine,
        admin_handler=fault_admin(engine),
        iam=guard,
        control=control,
        alarms=alarms,
        # one JSON line per AWS call (service, operation, status, fault, trace root): `harness logs`
        call_log=JsonLinesLog(Path(args.state_dir) / "logs" / "edge-calls.log")
        if args.state_dir
        else None,
        # DynamoDB backups and point-in-time recovery (harness/edge/backups.py)
        backups_dir=Path(args.state_dir) if args.state_dir else None,
        tracer=_tracer(Path(args.state_dir)) if args.state_dir else None,
    )

    async def run() -> None:
        loop = asyncio.get_running_loop()
        task = asyncio.ensure_future(serve(proxy, args.host, args.port))
        evaluator = asyncio.ensure_future(alarms.run()) if alarms is not None else None
        task.add_done_callback(lambda _t: evaluator.cancel() if evaluator else None)
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, task.cancel)
        with contextlib.suppress(asyncio.CancelledError):
            await task
        if proxy.call_log is not None:
            proxy.call_log.close()
        if proxy.tracer is not None:
            proxy.tracer.close()

    asyncio.run(run())


def _tracer(state_dir: Path) -> EdgeTracer | None:
    """A span per traced AWS call (harness/edge/tracing.py); ``None`` when HARNESS_TRACING=0."""
    config = TraceConfig.from_env()
    recorder = recorder_for("aws", state_dir, config)
    return EdgeTracer(recorder, state_dir, config) if recorder is not None else None


if __name__ == "__main__":
    main()
