"""Alarms the harness could not evaluate are refused at deploy with the file, the logical id
and the property (plan: literal properties; create: resolved ones), never "OK forever"."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.deploy.engine import plan_stack
from harness.deploy.resources import cloudwatch_composite_alarm
from harness.deploy.resources.base import Context
from harness.deploy.template import load_source
from harness.errors import DeployError
from harness.model import ResourceRecord

GOOD = """\
  Fn:
    Type: AWS::SQS::Queue
  Errors:
    Type: AWS::CloudWatch::Alarm
    Properties:
      Namespace: AWS/Lambda
      MetricName: Errors
      Dimensions: [{Name: FunctionName, Value: !Ref Fn}]
      Statistic: Sum
      Period: 60
      EvaluationPeriods: 3
      DatapointsToAlarm: 2
      Threshold: 1
      ComparisonOperator: GreaterThanThreshold
"""


def _plan(tmp_path: Path, body: str) -> Any:
    (tmp_path / "template.yaml").write_text("Resources:\n" + body)
    return plan_stack(load_source(tmp_path), run_lint=False)


def test_a_good_alarm_plans(tmp_path: Path) -> None:
    assert "Errors" in _plan(tmp_path, GOOD).order


@pytest.mark.parametrize(
    ("old", "new", "prop", "words"),
    [
        ("MetricName: Errors", "MetricName: PostRuntimeExtensionsDuration", "MetricName", "does not produce"),
        ("Namespace: AWS/Lambda", "Namespace: AWS/EC2", "MetricName", "no AWS/EC2"),
        ("Statistic: Sum", "Statistic: Median", "Statistic", "unknown statistic"),
        ("Statistic: Sum", "ExtendedStatistic: tm90", "ExtendedStatistic", "unknown statistic"),
        ("Period: 60", "Period: 0", "Period", "at least 1 second"),
        ("ComparisonOperator: GreaterThanThreshold",
         "ComparisonOperator: GreaterThanUpperThreshold", "ComparisonOperator", "anomaly"),
        ("Name: FunctionName", "Name: Function", "Dimensions", "exactly"),
    ],
)  # fmt: skip
def test_bad_alarms_are_refused_before_anything_is_created(
    tmp_path: Path, old: str, new: str, prop: str, words: str
) -> None:
    with pytest.raises(DeployError) as info:
        _plan(tmp_path, GOOD.replace(old, new))
    err = info.value
    assert (err.logical_id, err.property) == ("Errors", prop)
    assert words in str(err) and str(tmp_path / "template.yaml") in str(err)


def test_a_composite_rule_that_cannot_be_read_is_refused_at_plan(tmp_path: Path) -> None:
    body = GOOD + (
        "  Both:\n    Type: AWS::CloudWatch::CompositeAlarm\n    Properties:\n"
        "      AlarmRule: ALARM(x) AND\n"
    )
    with pytest.raises(DeployError) as info:
        _plan(tmp_path, body)
    assert (info.value.logical_id, info.value.property) == ("Both", "AlarmRule")


def test_a_composite_naming_an_unknown_alarm_is_refused_at_create(tmp_path: Path) -> None:
    ctx = Context(
        "s", "us-east-1", "000000000000", tmp_path, "t.yaml", client_factory=lambda s: None
    )
    ctx.records["Errors"] = ResourceRecord(
        "Errors",
        "AWS::CloudWatch::Alarm",
        "s-errors",
        "arn:aws:cloudwatch:us-east-1:000000000000:alarm:s-errors",
    )
    rec = cloudwatch_composite_alarm.create(ctx, "Both", {"AlarmRule": 'ALARM("s-errors")'})
    assert rec.arn and rec.physical_id.startswith("s-Both")
    ok = cloudwatch_composite_alarm.create(
        ctx,
        "ByArn",
        {"AlarmRule": "ALARM(arn:aws:cloudwatch:us-east-1:000000000000:alarm:s-errors)"},
    )
    assert ok.type == "AWS::CloudWatch::CompositeAlarm"
    with pytest.raises(DeployError) as info:
        cloudwatch_composite_alarm.create(
            ctx, "Bad", {"AlarmRule": 'ALARM("s-errors") OR OK(ghost)'}
        )
    assert (info.value.logical_id, info.value.property) == ("Bad", "AlarmRule")
    assert "ghost" in str(info.value)
