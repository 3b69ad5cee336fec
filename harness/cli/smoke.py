"""``harness smoke``: up, a real call to every service and Redis, down."""

from __future__ import annotations

import argparse

from harness.cli.common import from_env, print_json, settings
from harness.config import BACKENDS

__all__ = ["HELP", "configure", "run"]

HELP = "up, a real call to every service and Redis, down"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--keep", action="store_true", help="leave the environment running afterwards"
    )
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("--backend", choices=BACKENDS, default=from_env("BACKEND"))


def run(args: argparse.Namespace) -> int:
    from harness.smoke import run_smoke

    result = run_smoke(settings(args), keep=args.keep)
    if args.json:
        print_json(result)
    else:
        for check in result["checks"]:
            print(
                f"  {'ok  ' if check['passed'] else 'FAIL'} {check['name']:<28} {check['detail']}"
            )
        print("smoke check passed" if result["passed"] else "smoke check FAILED")
    return 0 if result["passed"] else 1
