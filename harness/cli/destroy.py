"""``harness destroy NAME``: remove everything a deployed stack created."""

from __future__ import annotations

import argparse
import json

from harness.cli.common import running_environment

__all__ = ["HELP", "configure", "run"]

HELP = "remove everything a deployed stack created"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", help="the stack's name (as `harness deploy` printed it)")
    parser.add_argument("--json", action="store_true")


def run(args: argparse.Namespace) -> int:
    from harness.deploy.engine import destroy_stack

    env = running_environment(args)
    destroy_stack(env, args.name)
    if getattr(args, "json", False):
        print(json.dumps({"stack": args.name, "destroyed": True}))
    else:
        print(f"destroyed stack {args.name}")
    return 0
