"""``harness status``: check each piece of the environment live (exit 1 if unhealthy)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from harness.cli.common import from_env, print_json, settings

__all__ = ["HELP", "configure", "run"]

HELP = "check each piece of the environment live (exit 1 if unhealthy)"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--json", action="store_true", default=bool(from_env("JSON")), help="print JSON"
    )


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


def run(args: argparse.Namespace) -> int:
    from harness.env.environment import Environment
    from harness.errors import NotRunningError

    env = Environment(settings(args))
    try:
        health = env.health(deep=True)
    except NotRunningError as exc:
        if args.json:
            print_json({"running": False, "healthy": False, "components": [], "error": str(exc)})
        else:
            print(str(exc))
        return 1
    healthy = all(h.healthy for h in health)
    not_honoured = _not_honoured(env.state_dir)
    deployed = _deployed(env.state_dir)
    if args.json:
        print_json(
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
