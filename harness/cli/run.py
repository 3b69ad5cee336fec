"""``harness run SCENARIO.yaml [--report-dir DIR] [--seed N]``: exit 0 only if every
expectation held (1 if one failed, 2 on bad input, 130 when interrupted).

``--plan`` prints the scenario's faults as AWS FIS experiment templates instead: nothing is
called; the templates select their targets by the tags CloudFormation puts on the stack's
resources, and ARNs the plan cannot know (account, role) are placeholders. The output is JSON:
each template's ``CreateExperimentTemplate`` input (already checked with botocore's validation
of the FIS model), its window on the run's timeline, the SSM documents it runs, the IAM policy
of the role FIS assumes and the permissions the harness itself needs.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from harness.cli.common import settings
from harness.errors import ConfigError

__all__ = ["HELP", "configure", "print_plan", "run"]

HELP = (
    "run a gameday scenario: deploy, load, faults, checks; report; exit 1 if any expectation failed"
)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("scenario", help="the scenario file (YAML; see scenarios/README.md)")
    parser.add_argument(
        "--report-dir",
        help="where summary.json, junit.xml and report.html go (default reports/<scenario>-<time>)",
    )
    parser.add_argument("--seed", type=int, help="override the scenario's seed")
    parser.add_argument(
        "--keep", action="store_true", help="leave the environment and stacks up afterwards"
    )
    parser.add_argument(
        "--plain", action="store_true", help="plain progress lines instead of the live panel"
    )
    parser.add_argument(
        "--check", action="store_true", help="only validate the scenario (nothing runs)"
    )
    parser.add_argument(
        "--plan",
        action="store_true",
        help="print the faults as AWS FIS experiment templates and the IAM permissions they need "
        "(target kind aws; nothing is called)",
    )
    parser.add_argument(
        "--apply",
        action="store_true",
        help="run a kind aws target's faults as AWS FIS experiments (creates and starts them)",
    )
    parser.add_argument(
        "--target", metavar="STACK", help="aim at this deployed stack (target kind aws)"
    )
    parser.add_argument("--region", help="the target stack's region")
    parser.add_argument("--profile", help="the AWS profile to read the target stack with")


def run(args: argparse.Namespace) -> int:
    from harness.scenario.loader import load_scenario
    from harness.scenario.runner import RunOptions, ScenarioRunner, run_scenario

    path = Path(args.scenario)
    if getattr(args, "plan", False):
        return print_plan(path, args)
    if getattr(args, "target", None):
        raise ConfigError(
            "--target is used with --plan for now: to run a scenario against a deployed stack, "
            "give it `target: {kind: aws, stack: NAME, region: R}`.",
            source="harness run",
            field="--target",
        )
    if args.check:
        scenario = load_scenario(path)
        runner = ScenarioRunner(scenario, path, RunOptions(report_dir=Path("."), live=False))
        print(
            f"{path}: valid ({len(scenario.timeline)} phases, {scenario.duration_s:g}s, "
            f"{len(runner.expectations)} expectations)"
        )
        for row in runner.profile_slos:
            print(f"  {row['stack']} SLO '{row['slo']}': {row['how']}")
        return 0
    folder = (
        Path(args.report_dir)
        if args.report_dir
        else Path("reports") / f"{path.stem}-{time.strftime('%Y%m%d-%H%M%S')}"
    )
    run = run_scenario(
        path,
        RunOptions(
            report_dir=folder,
            seed=args.seed,
            settings=settings(args),
            live=False if args.plain else None,
            keep=args.keep,
            apply=bool(getattr(args, "apply", False)),
        ),
    )
    width = max((len(e.name) for e in run.expectations), default=10)
    print(f"\n{run.title}: {'PASSED' if run.passed else 'FAILED'} (seed {run.seed})")
    for e in run.expectations:
        mark = (
            "ok  " if e.status == "passed" else "FAIL" if e.status == "failed" else "INCONCLUSIVE"
        )
        if e.inconclusive and e.passed:
            mark = "ok (inconclusive, allowed)"
        print(f"  {mark} {e.name:<{width}}  observed {e.observed!s:<14} target {e.target}")
        if (not e.passed or e.inconclusive) and e.detail:
            print(f"       {e.detail}")
    for p in run.phases:
        print(
            f"  phase {p.name}: {p.requests} requests, {p.rps:.1f} rps, p99 {p.p99_ms:.1f} ms, "
            f"errors {p.error_rate:.2%}"
        )
    print(f"report: {folder / 'report.html'}")
    sys.stdout.flush()
    if run.environment.get("interrupted"):
        return 130
    return 0 if run.passed else 1


def print_plan(path: Path, args: argparse.Namespace) -> int:
    from harness.remote.fis import plan_experiments
    from harness.remote.target import AwsTarget
    from harness.scenario.loader import load_scenario

    scenario = load_scenario(path)
    target = scenario.target
    if args.target:
        region = args.region or (target.region if isinstance(target, AwsTarget) else None)
        if not region:
            raise ConfigError(
                "--target needs the stack's region.",
                source="harness run --plan",
                field="--region",
                fix="add --region eu-west-1 (or the scenario's target.region).",
            )
        base = target.model_dump() if isinstance(target, AwsTarget) else {}
        target = AwsTarget.model_validate(
            {**base, "kind": "aws", "stack": args.target, "region": region}
            | ({"profile": args.profile} if args.profile else {})
        )
    if not isinstance(target, AwsTarget):
        raise ConfigError(
            "--plan needs a target of kind aws (a deployed stack) to plan FIS experiments for.",
            source=str(path),
            field="target",
            fix="add `target: {kind: aws, stack: NAME, region: R}`, or pass --target NAME "
            "--region R.",
        )
    plan = plan_experiments(scenario, target, None, source=str(path))
    print(json.dumps({"stack": target.stack, "region": target.region, **plan.to_json()}, indent=2))
    return 0
