"""``harness setup``: install what the embedded backend needs."""

from __future__ import annotations

import argparse

from harness.cli.common import print_json, settings

__all__ = ["HELP", "configure", "run"]

HELP = "install what the embedded backend needs (Redis, Java, DynamoDB Local)"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--force", action="store_true", help="reinstall DynamoDB Local")
    parser.add_argument("--json", action="store_true", help="print JSON")


def run(args: argparse.Namespace) -> int:
    from harness.setup import run_setup

    steps = run_setup(settings(args), force=args.force)
    if args.json:
        print_json([step.__dict__ for step in steps])
    else:
        for step in steps:
            print(f"  {step.status:<9} {step.name:<15} {step.detail}")
    return 0
