"""``harness deploy STACK_DIR [--json] [--param K=V ...]`` and ``harness destroy STACK_NAME``.

The caller wires these into the CLI; each takes the parsed :class:`argparse.Namespace`
(``stack_dir``, ``json``, ``param``, ``no_seed``, ``state_dir``; ``name`` for destroy) and returns the exit code.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from harness.deploy.local_urls import local_outputs, nested_stacks
from harness.errors import ConfigError
from harness.model import DeployedStack, stack_file

__all__ = ["cmd_deploy", "cmd_destroy", "cmd_init", "parse_params", "summary"]


def parse_params(pairs: list[str] | None) -> dict[str, str]:
    params: dict[str, str] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigError(
                f"'{pair}' is not KEY=VALUE.", source="--param", fix="write --param Name=value."
            )
        params[key.strip()] = value
    return params


def _environment(args: argparse.Namespace) -> Any:
    from harness.config import Settings
    from harness.env.environment import Environment

    env = Environment(Settings.load(state_dir=getattr(args, "state_dir", None)))
    env.refresh()  # NotRunningError (with the fix) when `harness up` was not run
    return env


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


def cmd_deploy(args: argparse.Namespace) -> int:
    from harness.deploy.engine import deploy_stack

    params = parse_params(getattr(args, "param", None))
    env = _environment(args)
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


def cmd_init(args: argparse.Namespace) -> int:
    from harness.deploy.init import init_stack

    result = init_stack(
        Path(args.stack_dir), parse_params(getattr(args, "param", None)), force=args.force
    )
    routes = [f"{r.method} {r.path}" for r in result.routes]
    data: dict[str, Any] = {
        "profile": str(result.profile_path),
        "scenario": str(result.scenario_path),
        "api": result.api,
        "routes": routes,
        "authorizers": result.authorizers,
        "tenant_claim": result.tenant_claim,
    }
    if getattr(args, "json", False):
        print(json.dumps(data, indent=2, sort_keys=True))
        return 0
    print(f"wrote {result.profile_path} and {result.scenario_path}")
    print(f"  api {result.api or '(none)'}: {', '.join(routes) or 'no routes'}")
    print(f"  tenant claim {result.tenant_claim}")
    print(f"next: harness deploy {args.stack_dir} && harness run {result.scenario_path}")
    return 0


def cmd_destroy(args: argparse.Namespace) -> int:
    from harness.deploy.engine import destroy_stack

    env = _environment(args)
    destroy_stack(env, args.name)
    if getattr(args, "json", False):
        print(json.dumps({"stack": args.name, "destroyed": True}))
    else:
        print(f"destroyed stack {args.name}")
    return 0
