"""A remote target's faults as AWS FIS templates: validated by botocore's own FIS model, stop
conditions from the stack's alarms, faults without an FIS equivalent refused by name."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.cli import main
from harness.errors import ConfigError
from harness.remote.fis import UnsupportedFaultError, plan_experiments, validate_template
from harness.remote.target import AwsTarget, RemoteStack
from harness.scenario.model import Scenario

TARGET = {"kind": "aws", "stack": "shop", "region": "eu-west-1", "availability_zone": "eu-west-1a"}


def _scenario(faults: list[dict[str, Any]], target: dict[str, Any] | None = None) -> Scenario:
    return Scenario.model_validate(
        {
            "title": "remote gameday",
            "target": target or TARGET,
            "timeline": [
                {"name": "steady", "duration": "10s"},
                {"name": "break", "duration": "30s", "faults": faults},
            ],
        }
    )


FAULTS = [
    {
        "name": "slow",
        "action": "lambda:invocation-add-delay",
        "start_after": "5s",
        "duration": "20s",
        "targets": {"functions": ["OrdersFunction"]},
        "parameters": {"startupDelayMilliseconds": 1500, "invocationPercentage": 50},
    },
    {
        "name": "boom",
        "action": "lambda:invocation-error",
        "targets": {"functions": ["OrdersFunction"]},
    },
    {
        "name": "teapot",
        "action": "lambda:invocation-http-integration-response",
        "targets": {"functions": ["OrdersFunction", "UsersFunction"]},
        "parameters": {"statusCode": 418},
    },
    {"name": "zone", "action": "az:failure", "duration": "15s"},
    {"name": "squeeze", "action": "lambda:throttle", "targets": {"functions": ["UsersFunction"]}},
]


def _stack() -> RemoteStack:
    return RemoteStack(
        name="shop",
        region="eu-west-1",
        stack_id="arn:aws:cloudformation:eu-west-1:123456789012:stack/shop/abc",
        status="CREATE_COMPLETE",
        resources={
            "OrdersFunction": ("AWS::Lambda::Function", "shop-OrdersFunction-1"),
            "UsersFunction": ("AWS::Lambda::Function", "shop-UsersFunction-2"),
            "ErrorsAlarm": ("AWS::CloudWatch::Alarm", "shop-errors"),
        },
    )


def test_every_template_passes_botocore_validation_with_alarm_stop_conditions() -> None:
    plan = plan_experiments(_scenario(FAULTS), AwsTarget.model_validate(TARGET), _stack())
    assert [t.fault for t in plan.templates] == ["slow", "boom", "teapot", "zone", "squeeze"]
    for t in plan.templates:
        validate_template(t.request)  # raises on any invalid field
        assert t.request["stopConditions"] == [
            {
                "source": "aws:cloudwatch:alarm",
                "value": "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:shop-errors",
            }
        ]
    slow = plan.templates[0]
    assert (slow.start_s, slow.duration_s) == (15.0, 20.0)
    [action] = slow.request["actions"].values()
    assert action["actionId"] == "aws:lambda:invocation-add-delay"
    assert action["parameters"] == {
        "duration": "PT20S",
        "invocationPercentage": "50",
        "startupDelayMilliseconds": "1500",
    }
    [target] = slow.request["targets"].values()
    assert target["resourceTags"] == {
        "aws:cloudformation:stack-name": "shop",
        "aws:cloudformation:logical-id": "OrdersFunction",
    }
    teapot = plan.templates[2]
    assert len(teapot.request["actions"]) == 2  # one action per function target
    assert {a["parameters"]["statusCode"] for a in teapot.request["actions"].values()} == {"418"}
    zone = plan.templates[3].request
    assert next(iter(zone["actions"].values()))["actionId"] == "aws:network:disrupt-connectivity"
    assert zone["targets"]["subnets"]["filters"][0]["values"] == ["eu-west-1a"]
    squeeze = plan.templates[4]
    [ssm] = squeeze.request["actions"].values()
    assert ssm["actionId"] == "aws:ssm:start-automation-execution"
    assert (
        json.loads(ssm["parameters"]["documentParameters"])["FunctionName"]
        == "shop-UsersFunction-2"
    )
    assert "harness-lambda-throttle" in squeeze.documents
    policy = plan.role_policy()["Statement"][0]["Action"]
    assert "lambda:PutFunctionConcurrency" in policy and "ec2:CreateNetworkAcl" in policy


def test_a_fault_without_fis_equivalent_is_refused_by_name() -> None:
    faults = [*FAULTS[:1], {"name": "cache-gone", "action": "redis:down"}]
    with pytest.raises(UnsupportedFaultError) as refused:
        plan_experiments(_scenario(faults), AwsTarget.model_validate(TARGET))
    assert "cache-gone (redis:down)" in str(refused.value)


def test_botocore_validation_fails_a_broken_template() -> None:
    with pytest.raises(ValueError) as invalid:
        validate_template(
            {"description": "x", "actions": {"a": {"actionId": 5}}, "stopConditions": []}
        )
    text = str(invalid.value)
    assert "roleArn" in text and "actionId" in text


def test_unknown_function_and_missing_zone_are_refused() -> None:
    bad = [{"name": "x", "action": "lambda:invocation-error", "targets": {"functions": ["Nope"]}}]
    with pytest.raises(ConfigError, match="Nope"):
        plan_experiments(_scenario(bad), AwsTarget.model_validate(TARGET), _stack())
    no_zone = {k: v for k, v in TARGET.items() if k != "availability_zone"}
    with pytest.raises(ConfigError, match="availability_zone"):
        plan_experiments(_scenario(FAULTS[3:4], no_zone), AwsTarget.model_validate(no_zone))


def test_run_plan_prints_templates_without_calling_anything(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # any call would fail
    path = tmp_path / "remote.yaml"
    path.write_text(
        yaml.safe_dump(_scenario(FAULTS[:2]).model_dump(mode="json", exclude_none=True))
    )
    assert main(["run", str(path), "--plan"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [t["fault"] for t in out["templates"]] == ["slow", "boom"]
    assert "fis:CreateExperimentTemplate" in out["caller_permissions"]
    assert out["templates"][0]["create_experiment_template"]["stopConditions"] == [
        {"source": "none"}
    ]


def test_run_plan_needs_an_aws_target(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "url.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "title": "t",
                "target": {"base_url": "http://127.0.0.1:9"},
                "timeline": [{"name": "a", "duration": "1s"}],
            }
        )
    )
    assert main(["run", str(path), "--plan"]) == 2
    assert "target" in capsys.readouterr().err
