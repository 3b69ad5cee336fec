"""``harness up``: start the environment in the background and wait until it is healthy."""

from __future__ import annotations

import argparse

from harness.cli.common import from_env, print_json, settings, sigterm_as_interrupt
from harness.config import BACKENDS

__all__ = ["HELP", "configure", "run"]

HELP = "start the environment in the background and wait until it is healthy"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--backend",
        choices=BACKENDS,
        default=from_env("BACKEND"),
        help="embedded (default; no Docker) or localstack (env HARNESS_BACKEND)",
    )
    parser.add_argument(
        "--localstack-url",
        default=from_env("LOCALSTACK_URL"),
        help="use this running LocalStack (env HARNESS_LOCALSTACK_URL)",
    )
    parser.add_argument(
        "--otlp",
        metavar="URL",
        default=None,
        help="also send the live spans with OTLP/HTTP to this receiver, e.g. "
        "http://127.0.0.1:4318 (env HARNESS_OTLP_ENDPOINT)",
    )
    parser.add_argument(
        "--no-tracing",
        action="store_true",
        help="record no spans (env HARNESS_TRACING=0); harness trace then rebuilds them from logs",
    )
    parser.add_argument(
        "--json", action="store_true", default=bool(from_env("JSON")), help="print JSON"
    )


def run(args: argparse.Namespace) -> int:
    from harness.env.environment import Environment

    env = Environment(settings(args))
    with sigterm_as_interrupt():
        env.start()
    endpoints = env.endpoints
    if args.json:
        print_json(
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
