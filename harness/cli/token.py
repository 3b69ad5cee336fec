"""``harness token STACK_NAME --tenant ID [--user ID] [--scope S]``: print a valid token."""

from __future__ import annotations

import argparse
import sys

from harness.cli.common import settings

__all__ = ["HELP", "configure", "run"]

HELP = "print a valid access token for a tenant and user of a deployed stack"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("stack", help="the deployed stack's name")
    parser.add_argument("--tenant", required=True)
    parser.add_argument("--user", help="user id (default: one per tenant)")
    parser.add_argument("--scope", action="append", default=[], help="OAuth scope (repeatable)")


def run(args: argparse.Namespace) -> int:
    """Print an access token for the stack's authorizer; notes go to stderr. Returns 0."""
    from harness.auth.stack import token_for_stack

    state_dir = settings(args).state_dir
    result = token_for_stack(
        state_dir,
        args.stack,
        args.tenant,
        user=getattr(args, "user", None),
        scopes=list(getattr(args, "scope", None) or []),
    )
    if result.note:
        print(f"harness token: {result.note} [{result.source}]", file=sys.stderr)
    print(result.token)
    return 0
