"""AWS::CloudWatch::Alarm: recorded on the emulator and evaluated live by the AWS edge
(:mod:`harness.edge.alarms`) over the metrics the harness records.

An alarm the harness could not evaluate faithfully is refused before anything is created
(:func:`check`, literal properties) or when its properties are resolved (:func:`create`):
an unknown statistic or operator, an anomaly-band operator, metric math, a period under one
second, an ``AWS/*`` metric or dimension set the harness does not record. Never "OK forever".
"""

from __future__ import annotations

from typing import Any

from harness.deploy.resources.base import Context, boolean, record
from harness.errors import DeployError
from harness.metrics.alarms import AlarmDefinitionError, MetricAlarm
from harness.metrics.catalog import check_metric
from harness.model import ResourceRecord

TYPES = ("AWS::CloudWatch::Alarm",)
BACKEND = "ministack CloudWatch (evaluated by the harness's AWS edge)"
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
_FIX = {
    "ComparisonOperator": "use GreaterThanThreshold, GreaterThanOrEqualToThreshold, "
    "LessThanThreshold or LessThanOrEqualToThreshold.",
    "Statistic": "use SampleCount, Average, Sum, Minimum or Maximum, or a percentile "
    "(p99) as ExtendedStatistic.",
    "ExtendedStatistic": "use a percentile such as p99 or p99.9.",
    "Period": "use a period of at least 1 second (after any scenario scale factor).",
    "Metrics": "alarm on one metric: MetricName, Namespace, Statistic, Period.",
    "MetricName": "alarm on a metric the harness records (README: CloudWatch metrics), or on a "
    "custom metric your functions publish with EMF.",
}


def _definition(file: str, logical_id: str, props: dict[str, Any], literal_only: bool) -> None:
    def literal(value: Any) -> bool:
        return not isinstance(value, dict) and not (
            isinstance(value, list) and any(isinstance(v, dict) and "Fn::" in str(v) for v in value)
        )

    skip_metric_check = False
    if literal_only:
        checked = {k: v for k, v in props.items() if literal(v) and k != "Dimensions"}
        dims = props.get("Dimensions")
        if isinstance(dims, list):
            names = [d.get("Name") if isinstance(d, dict) else None for d in dims]
            if all(isinstance(n, str) for n in names):
                checked["Dimensions"] = [{"Name": n, "Value": "?"} for n in names]
            else:
                skip_metric_check = True
        elif dims is not None:
            skip_metric_check = True
        # fields that intrinsics left out are checked again when resolved (create)
        for required in ("MetricName", "Namespace", "Period", "EvaluationPeriods", "Threshold",
                         "ComparisonOperator"):  # fmt: skip
            if required in props and required not in checked:
                checked[required] = {"MetricName": "m", "Namespace": "N", "Period": 60,
                                     "EvaluationPeriods": 1, "Threshold": 0,
                                     "ComparisonOperator": "GreaterThanThreshold"}[required]  # fmt: skip
        if "Statistic" not in checked and "ExtendedStatistic" not in checked:
            if "Statistic" in props:
                checked["Statistic"] = "Sum"
            elif "ExtendedStatistic" in props:
                checked["ExtendedStatistic"] = "p99"
        props = checked
    try:
        alarm = MetricAlarm.from_properties("check", props)
    except AlarmDefinitionError as exc:
        raise DeployError(
            f"alarm cannot be evaluated locally: {exc.message}",
            file=file,
            logical_id=logical_id,
            property=exc.field,
            backend=BACKEND,
            fix=_FIX.get(exc.field, f"fix {exc.field}."),
        ) from None
    if "MetricName" in props and "Namespace" in props and not skip_metric_check:
        dims = [str(d.get("Name")) for d in props.get("Dimensions") or [] if isinstance(d, dict)]
        problem = check_metric(alarm.namespace, alarm.metric_name, dims)
        if problem is not None:
            raise DeployError(
                f"alarm on a metric the harness does not produce: {problem}.",
                file=file,
                logical_id=logical_id,
                property="Dimensions" if "dimensions" in problem else "MetricName",
                backend=BACKEND,
                fix=_FIX["MetricName"],
            )


def check(file: str, logical_id: str, props: dict[str, Any]) -> None:
    """Up-front: the literal properties (before anything is created)."""
    _definition(file, logical_id, props, literal_only=True)


def _put(ctx: Context, logical_id: str, name: str, props: dict[str, Any]) -> None:
    _definition(ctx.file, logical_id, props, literal_only=False)
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
