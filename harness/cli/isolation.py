"""``harness isolation STACK_DIR``: token tampering, the state machine, data-layer invariants.

Brings the environment up if none is running (and stops it afterwards only if it started it),
deploys the stack, runs token tampering, the state machine and the data-layer/IAM invariants,
prints a summary and writes ``isolation.json`` (and, on a machine violation,
``isolation-replay.json``) under ``--report-dir``. Exit 0: no violation; 1: a violation; 2: a
usage error.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from harness.cli.common import (
    checked_stack_dir,
    environment,
    from_env,
    parse_params,
    settings,
)
from harness.errors import ConfigError

__all__ = ["HELP", "configure", "run"]

HELP = (
    "tenant isolation: token tampering, the state machine, data-layer invariants; exit 1 on a "
    "violation"
)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("stack_dir", help="folder with template.yaml and harness.yaml")
    parser.add_argument(
        "--examples",
        type=int,
        default=int(from_env("ISOLATION_EXAMPLES", 50)),
        help="state-machine examples (env HARNESS_ISOLATION_EXAMPLES; default 50)",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=int(from_env("ISOLATION_SEED", 0)),
        help="Hypothesis seed (env HARNESS_ISOLATION_SEED; default 0)",
    )
    parser.add_argument(
        "--report-dir",
        default=from_env("REPORT_DIR"),
        help="where isolation.json and the replay file go (env HARNESS_REPORT_DIR; "
        "default reports/isolation-<stack>)",
    )
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="K=V",
        help="template parameter override for the deploy (repeatable), e.g. a test variant's "
        "switch; recorded in the replay file",
    )
    parser.add_argument("--json", action="store_true", help="print the result as JSON")


def run(args: argparse.Namespace) -> int:
    from harness.deploy import deploy_stack
    from harness.isolation.run import run_isolation
    from harness.isolation.spec import load_spec

    stack_dir = checked_stack_dir(args.stack_dir)
    params = parse_params(getattr(args, "param", None))
    try:
        load_spec(stack_dir)  # a bad isolation section fails before anything starts
        infer = False
    except ConfigError as exc:
        if getattr(exc, "field", None) != "isolation":
            raise
        infer = True  # no section: proposed from the API's shape once it is deployed
    if args.examples < 1:
        raise ConfigError(
            f"--examples must be at least 1 (got {args.examples}).",
            source="--examples",
            fix="pass a positive number, e.g. --examples 50.",
        )
    report_dir = Path(args.report_dir or Path("reports") / f"isolation-{stack_dir.name}")
    with environment(settings(args)) as env:
        stack = deploy_stack(env, stack_dir, params or None)
        if infer:
            from harness.isolation.infer import propose

            section, notes = propose(env, stack, report_dir)
            stack.profile = {**(stack.profile or {}), "isolation": section}
            print(
                f"no `isolation` section in {stack_dir / 'harness.yaml'}: inferred "
                f"(written to {report_dir / 'isolation-proposed.yaml'}):"
            )
            for line in notes:
                print(f"  - {line}")

        def redeploy() -> Any:
            """A fresh deployment (empty data) of the same stack, to confirm replays on."""
            from harness.deploy.engine import destroy_stack

            destroy_stack(env, stack.name)
            return deploy_stack(env, stack_dir, params or None)

        result = run_isolation(
            env,
            stack,
            examples=args.examples,
            seed=args.seed,
            report_dir=report_dir,
            redeploy=redeploy,
        )
    if args.json:
        print(json.dumps(result.to_json(), indent=2))
    else:
        _summary(result, report_dir)
    return 0 if result.passed else 1


def _summary(result: Any, report_dir: Path) -> None:
    rows = [
        ("stack", str(result.stack)),
        ("seed", str(result.seed)),
        ("examples", str(result.examples)),
        ("steps", str(result.steps)),
        ("HTTP calls", f"{result.calls} ({result.throttled} 429s waited out)"),
        ("endpoints covered", f"{result.endpoints_covered}: {', '.join(result.endpoints)}"),
        ("tenants covered", f"{result.tenants_covered}: {', '.join(map(repr, result.tenants))}"),
        (
            "token tampering",
            f"{sum(1 for c in result.tampering if c['passed'])}/{len(result.tampering)} as expected",
        ),
        (
            "data layer",
            ", ".join(f"{k}: {v}" for k, v in result.data_layer.items()) or "no rules",
        ),
        (
            "IAM at the edge",
            str(result.iam.get("summary", "not available"))
            + ("" if result.iam.get("enforce", True) else " (recorded only)"),
        ),
        (
            "replays confirmed",
            "; ".join(
                f"{Path(f).name}: fresh {'yes' if c['fresh'] else 'NO'}, "
                f"pre-filled {'yes' if c['prefilled'] else 'NO'}"
                for f, c in result.confirmed.items()
            )
            or "none to confirm",
        ),
        (
            "control plane",
            (
                f"{result.control_plane.get('refused', 0)} call(s) without the secret refused"
                + (
                    f" (tenant code probed it: {', '.join(result.control_plane['functions'])})"
                    if result.control_plane.get("functions")
                    else ""
                )
            )
            if result.control_plane.get("available")
            else "not available",
        ),
        ("seconds", f"{result.seconds:.1f}"),
        ("violations", str(len(result.violations))),
    ]
    verdict = "PASSED: no isolation violation" if result.passed else "FAILED: isolation violated"
    if getattr(result, "status", "") == "inconclusive":
        verdict = f"FAILED (inconclusive): {result.inconclusive}"
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        for key, value in rows:
            print(f"  {key:<18} {value}")
        for line in result.violations:
            print(f"  VIOLATION {line}")
    else:
        table = Table(title=f"harness isolation: {result.stack}", show_header=False)
        table.add_column(style="bold")
        table.add_column(overflow="fold")
        for key, value in rows:
            table.add_row(key, value)
        console = Console(soft_wrap=True)
        console.print(table)
        for line in result.violations:
            console.print(f"[red]VIOLATION[/red] {line}", markup=True, highlight=False)
    print(verdict)
    print(f"results: {report_dir / 'isolation.json'}")
    if result.replay_file:
        print(
            f"replay file: {result.replay_file}  (reproduce: harness replay {result.replay_file})"
        )
