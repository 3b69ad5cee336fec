"""--apply on a remote target: FIS templates created, experiments started on the run's clock and
followed; one a stop condition ended is a problem of the run (botocore's Stubber plays FIS)."""

from __future__ import annotations

import time
from pathlib import Path

import boto3
import pytest
from botocore.stub import Stubber

from harness.remote.apply import FisExperiments
from harness.remote.fis import plan_experiments
from harness.remote.target import AwsTarget, RemoteStack
from harness.scenario.model import Scenario

TARGET = AwsTarget.model_validate(
    {
        "kind": "aws",
        "stack": "shop",
        "region": "eu-west-1",
        "fis_role_arn": "arn:aws:iam::123456789012:role/harness-fis",
    }
)


def _experiments() -> tuple[FisExperiments, Stubber]:
    scenario = Scenario.model_validate(
        {
            "title": "apply",
            "target": TARGET.model_dump(),
            "timeline": [
                {
                    "name": "break",
                    "duration": "10s",
                    "faults": [
                        {
                            "name": "boom",
                            "action": "lambda:invocation-error",
                            "targets": {"functions": ["OrdersFunction"]},
                        }
                    ],
                }
            ],
        }
    )
    stack = RemoteStack(
        "shop",
        "eu-west-1",
        "arn:aws:cloudformation:eu-west-1:123456789012:stack/shop/x",
        "UPDATE_COMPLETE",
        resources={
            "OrdersFunction": ("AWS::Lambda::Function", "shop-Orders"),
            "Errors": ("AWS::CloudWatch::Alarm", "shop-errors"),
        },
    )
    plan = plan_experiments(scenario, TARGET, stack)
    kw = {"region_name": "eu-west-1", "aws_access_key_id": "x", "aws_secret_access_key": "y"}
    fis = boto3.client("fis", **kw)
    stub = Stubber(fis)
    stub.activate()
    stub.add_response(
        "create_experiment_template",
        {"experimentTemplate": {"id": "EXT1"}},
        plan.templates[0].request,
    )
    experiments = FisExperiments(plan, fis, boto3.client("ssm", **kw), poll=3600)
    experiments.create()
    stub.add_response(
        "start_experiment", {"experiment": {"id": "EXP1", "state": {"status": "initiating"}}}
    )
    experiments.start(time.time())
    deadline = time.time() + 5
    while not experiments.running[0].experiment and time.time() < deadline:
        time.sleep(0.02)
    assert experiments.running[0].experiment == "EXP1"
    stub.add_response(
        "get_experiment",
        {"experiment": {"id": "EXP1", "state": {"status": "running"}}},
        {"id": "EXP1"},
    )
    experiments.refresh()
    return experiments, stub


def test_an_experiment_started_followed_and_stopped_at_the_end() -> None:
    experiments, stub = _experiments()
    stub.add_response("stop_experiment", {"experiment": {"id": "EXP1"}}, {"id": "EXP1"})
    stub.add_response(
        "get_experiment",
        {"experiment": {"id": "EXP1", "state": {"status": "stopped"}}},
        {"id": "EXP1"},
    )
    experiments.stop_all()
    stub.assert_no_pending_responses()
    assert [e.status for e in experiments.events] == ["initiating", "running", "stopped"]
    assert experiments.problems() == []


def test_an_experiment_its_stop_condition_ended_is_a_problem() -> None:
    experiments, stub = _experiments()
    stub.add_response(
        "get_experiment",
        {
            "experiment": {
                "id": "EXP1",
                "state": {"status": "stopped", "reason": "Experiment stopped by stop condition."},
            }
        },
        {"id": "EXP1"},
    )
    experiments.refresh()
    experiments.stop_all()  # nothing left to stop
    stub.assert_no_pending_responses()
    [problem] = experiments.problems()
    assert (
        problem
        == "FIS experiment EXP1 (fault boom) ended stopped: Experiment stopped by stop condition."
    )


def test_a_template_the_account_refuses_fails_before_the_run() -> None:
    scenario_plan = _experiments()[0].plan
    fis = boto3.client(
        "fis", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="y"
    )
    stub = Stubber(fis)
    stub.activate()
    two = type(scenario_plan)([*scenario_plan.templates, *scenario_plan.templates], [])
    stub.add_response("create_experiment_template", {"experimentTemplate": {"id": "EXT1"}})
    stub.add_client_error("create_experiment_template", "ValidationException", "bad role")
    stub.add_response("delete_experiment_template", {}, {"id": "EXT1"})  # the first is undone
    experiments = FisExperiments(two, fis, None)
    with pytest.raises(Exception, match="bad role"):
        experiments.create()
    stub.assert_no_pending_responses()
    assert experiments.running == []


def _scenario_file(tmp_path: Path) -> Path:
    import yaml

    path = tmp_path / "remote.yaml"
    target = {k: v for k, v in TARGET.model_dump(exclude_none=True).items() if k != "fis_role_arn"}
    path.write_text(
        yaml.safe_dump(
            {
                "title": "remote faults",
                "target": target,
                "timeline": [
                    {
                        "name": "break",
                        "duration": "2s",
                        "faults": [{"name": "boom", "action": "lambda:invocation-error"}],
                    }
                ],
            }
        )
    )
    return path


def test_remote_faults_without_apply_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from harness.cli import main

    code = main(["run", str(_scenario_file(tmp_path)), "--report-dir", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code == 2 and "boom" in err and "--plan" in err


def test_apply_needs_the_fis_role(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from harness.cli import main

    path = _scenario_file(tmp_path)
    code = main(["run", str(path), "--apply", "--report-dir", str(tmp_path / "r"), "--plain"])
    out = capsys.readouterr()
    assert code == 2, out
    assert "target.fis_role_arn" in out.err + out.out
