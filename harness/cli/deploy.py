"""``harness deploy STACK_DIR``: deploy a stack folder; ``--watch`` follows it (harness.deploy_watch)."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from harness.cli.common import from_env, parse_params, running_environment, sigterm_as_interrupt
from harness.deploy.local_urls import local_outputs, nested_stacks
from harness.errors import ConfigError
from harness.model import DeployedStack, stack_file

__all__ = ["HELP", "configure", "run"]

HELP = "deploy a stack folder (SAM/CloudFormation template.yaml)"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("stack_dir", help="folder with template.yaml, src/ and harness.yaml")
    parser.add_argument(
        "--param", action="append", default=[], metavar="K=V", help="parameter override"
    )
    parser.add_argument(
        "--json", action="store_true", help="print the stack, API URLs and resource ids"
    )
    parser.add_argument(
        "--no-seed", action="store_true", help="skip the seed hook of harness.yaml's fixtures"
    )
    parser.add_argument(
        "--watch",
        action="store_true",
        help="after the deploy, keep following STACK_DIR: a code or layer change swaps the "
        "function's environments in place (next invocation runs the new code), a template or "
        "dependency change redeploys; Ctrl-C stops",
    )
    parser.add_argument(
        "--allow-unsupported",
        action="store_true",
        default=from_env("ALLOW_UNSUPPORTED", "0").lower() in ("1", "true", "yes"),
        help="deploy even when the template asks for what the harness cannot honour: each such "
        "thing becomes a warning, listed again at the end and in `harness status` "
        "(HARNESS_ALLOW_UNSUPPORTED=1)",
    )


def summary(stack: DeployedStack, state_dir: Path) -> dict[str, Any]:
    """What ``harness deploy --json`` prints."""
    return {
        "stack": stack.name,
        "stack_dir": stack.stack_dir,
        "state_file": str(stack_file(state_dir, stack.name)),
        "api_urls": {k: api.base_url for k, api in stack.apis.items()},
        "apis": {
            k: {
                "kind": api.kind,
                "api_id": api.api_id,
                "stage": api.stage,
                "base_url": api.base_url,
                "routes": [f"{r.method} {r.path}" for r in api.routes],
            }
            for k, api in stack.apis.items()
        },
        "resources": {
            k: {"type": r.type, "physical_id": r.physical_id, "arn": r.arn}
            for k, r in sorted(stack.resources.items())
        },
        "functions": {
            k: {"name": f.name, "arn": f.arn, "code_dir": f.code_dir}
            for k, f in stack.functions.items()
        },
        "event_sources": [
            {"kind": e.kind, "function": e.function, "source": e.source_arn or e.schedule}
            for e in stack.event_sources
        ],
        "outputs": stack.outputs,
        "local_outputs": local_outputs(stack, nested_stacks(state_dir, stack.name)),
        "parameters": stack.parameters,
        "fake_servers": stack.fake_servers,
        "not_honoured": list(stack.unsupported),
    }


def deploy(args: argparse.Namespace) -> int:
    from harness.deploy.engine import deploy_stack

    params = parse_params(getattr(args, "param", None))
    env = running_environment(args)
    stack = deploy_stack(
        env,
        Path(args.stack_dir),
        params,
        seed=not getattr(args, "no_seed", False),
        allow_unsupported=getattr(args, "allow_unsupported", False),
    )
    data = summary(stack, env.state_dir)
    if getattr(args, "json", False):
        print(json.dumps(data, indent=2, sort_keys=True))
        return 0
    print(f"deployed stack {stack.name} ({len(stack.resources)} resources)")
    for name, url in data["api_urls"].items():
        print(f"  api {name:<24} {url}")
    for name, res in data["resources"].items():
        print(f"  {name:<32} {res['type']:<34} {res['arn'] or res['physical_id']}")
    local = data["local_outputs"]
    for name, value in stack.outputs.items():
        print(f"  output {name:<25} {value}")
        if name in local:
            print(f"         {'(served locally at)':<25} {local[name]}")
    for name, url in stack.fake_servers.items():
        print(f"  fake server {name:<20} {url}")
    if stack.unsupported:  # repeated at the end, where nobody can miss it
        from harness.deploy.unsupported import Unsupported

        print(f"WARNING: {len(stack.unsupported)} thing(s) in the template are NOT honoured:")
        for item in stack.unsupported:
            print(f"  - {Unsupported(**item).text()}")
    return 0


def _watch(args: argparse.Namespace) -> int:
    """``harness deploy --watch``: follow the folder just deployed (harness.deploy_watch)."""
    from harness.config import Settings
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
    with sigterm_as_interrupt():
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


def run(args: argparse.Namespace) -> int:
    code = deploy(args)
    if code != 0 or not getattr(args, "watch", False):
        return code
    return _watch(args)
