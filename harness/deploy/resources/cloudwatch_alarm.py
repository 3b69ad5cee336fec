"""AWS::CloudWatch::Alarm on the emulator (recorded there; alarm actions do not fire locally)."""

from __future__ import annotations

from typing import Any

from harness.deploy.resources.base import Context, boolean, record
from harness.model import ResourceRecord

TYPES = ("AWS::CloudWatch::Alarm",)
BACKEND = "ministack CloudWatch"
_PASSTHROUGH = (
    "AlarmDescription",
    "ActionsEnabled",
    "OKActions",
    "AlarmActions",
    "InsufficientDataActions",
    "MetricName",
    "Namespace",
    "Statistic",
    "ExtendedStatistic",
    "Dimensions",
    "Period",
    "Unit",
    "EvaluationPeriods",
    "DatapointsToAlarm",
    "Threshold",
    "ComparisonOperator",
    "TreatMissingData",
    "EvaluateLowSampleCountPercentile",
    "Metrics",
    "ThresholdMetricId",
)
PROPERTIES = frozenset({"AlarmName", *_PASSTHROUGH})
# accepted with no local effect, and why (unsupported.py)
IGNORED: dict[str, str] = {
    "Tags": "tags label the resource; they change no behaviour",
}
ATTRIBUTES = ("Arn",)
_INTS = ("Period", "EvaluationPeriods", "DatapointsToAlarm")


def _put(ctx: Context, logical_id: str, name: str, props: dict[str, Any]) -> None:
    args = {k: props[k] for k in _PASSTHROUGH if k in props}
    for key in _INTS:
        if key in args:
            args[key] = int(args[key])
    if "Threshold" in args:
        args["Threshold"] = float(args["Threshold"])
    if "ActionsEnabled" in args:
        args["ActionsEnabled"] = boolean(args["ActionsEnabled"])
    ctx.call(logical_id, BACKEND, ctx.client("cloudwatch").put_metric_alarm, AlarmName=name, **args)


def create(ctx: Context, logical_id: str, props: dict[str, Any]) -> ResourceRecord:
    name = str(props.get("AlarmName") or ctx.physical_name(logical_id, max_len=255))
    _put(ctx, logical_id, name, props)
    arn = ctx.arn("cloudwatch", f"alarm:{name}")
    return record(logical_id, TYPES[0], name, props, arn=arn, Arn=arn)


def update(ctx: Context, old: ResourceRecord, props: dict[str, Any]) -> ResourceRecord:
    if old.properties.get("AlarmName") != props.get("AlarmName"):
        delete(ctx, old)
        return create(ctx, old.logical_id, props)
    _put(ctx, old.logical_id, old.physical_id, props)
    return record(old.logical_id, TYPES[0], old.physical_id, props, arn=old.arn, Arn=old.arn)


def delete(ctx: Context, rec: ResourceRecord) -> None:
    ctx.quietly(ctx.client("cloudwatch").delete_alarms, AlarmNames=[rec.physical_id])
