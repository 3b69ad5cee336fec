"""``harness init STACK_DIR``: write a starting harness.yaml and smoke.yaml."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from harness.cli.common import parse_params

__all__ = ["HELP", "configure", "run"]

HELP = "write a starting harness.yaml and smoke.yaml for an app that has none"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("stack_dir", help="folder with the app's template.yaml")
    parser.add_argument(
        "--param", action="append", default=[], metavar="K=V", help="template parameter value"
    )
    parser.add_argument("--force", action="store_true", help="overwrite existing files")
    parser.add_argument("--json", action="store_true", help="print what was found as JSON")


def run(args: argparse.Namespace) -> int:
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
