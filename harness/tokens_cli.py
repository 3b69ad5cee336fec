"""``harness token STACK_NAME --tenant ID [--user ID] [--scope S]``: print a valid token."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

__all__ = ["cmd_token"]


def cmd_token(args: Any) -> int:
    """Print an access token for the stack's authorizer; notes go to stderr. Returns 0."""
    from harness.auth.stack import token_for_stack

    result = token_for_stack(
        Path(args.state_dir),
        args.stack,
        args.tenant,
        user=getattr(args, "user", None),
        scopes=list(getattr(args, "scope", None) or []),
    )
    if result.note:
        print(f"harness token: {result.note} [{result.source}]", file=sys.stderr)
    print(result.token)
    return 0
