"""``harness run SCENARIO --plan``: the scenario's faults as AWS FIS experiment templates.

Nothing is called: the templates select their targets by the tags CloudFormation puts on the
stack's resources, and ARNs the plan cannot know (account, role) are placeholders. The output is
JSON: each template's ``CreateExperimentTemplate`` input (already checked with botocore's
validation of the FIS model), its window on the run's timeline, the SSM documents it runs, the
IAM policy of the role FIS assumes and the permissions the harness itself needs.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from harness.errors import ConfigError
from harness.remote.fis import plan_experiments
from harness.remote.target import AwsTarget

__all__ = ["print_plan"]


def print_plan(path: Path, args: argparse.Namespace) -> int:
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
