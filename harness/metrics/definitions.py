"""Alarm definitions from deployed stacks (``AWS::CloudWatch::Alarm`` and
``AWS::CloudWatch::CompositeAlarm`` resources as deployed, properties resolved)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.metrics.alarms import AlarmDefinitionError, MetricAlarm
from harness.metrics.composite import CompositeAlarm, RuleError, parse_rule
from harness.model import DeployedStack, load_stacks

__all__ = [
    "ALARM_TYPE",
    "COMPOSITE_TYPE",
    "DefinitionProblem",
    "Definitions",
    "from_stacks",
    "load",
    "profile_alarm_properties",
]

ALARM_TYPE = "AWS::CloudWatch::Alarm"
COMPOSITE_TYPE = "AWS::CloudWatch::CompositeAlarm"


@dataclass(frozen=True)
class DefinitionProblem:
    stack: str
    logical_id: str
    field: str
    message: str

    def __str__(self) -> str:
        return f"stack {self.stack}, {self.logical_id}, {self.field}: {self.message}"


@dataclass
class Definitions:
    alarms: list[MetricAlarm] = field(default_factory=list)
    composites: list[CompositeAlarm] = field(default_factory=list)
    problems: list[DefinitionProblem] = field(default_factory=list)


def from_stacks(stacks: dict[str, DeployedStack], scale: float = 1.0) -> Definitions:
    out = Definitions()
    names: set[str] = set()
    arns: set[str] = set()
    for stack in stacks.values():
        for rec in stack.resources.values():
            if rec.type != ALARM_TYPE:
                continue
            try:
                alarm = MetricAlarm.from_properties(
                    rec.physical_id,
                    rec.properties,
                    scale=scale,
                    stack=stack.name,
                    logical_id=rec.logical_id,
                    arn=rec.arn or "",
                )
            except AlarmDefinitionError as exc:
                out.problems.append(
                    DefinitionProblem(stack.name, rec.logical_id, exc.field, exc.message)
                )
                continue
            out.alarms.append(alarm)
            names.add(alarm.name)
            arns.add(alarm.arn)
    for stack in stacks.values():
        for rec in stack.resources.values():
            if rec.type != COMPOSITE_TYPE:
                continue
            props = rec.properties
            text = str(props.get("AlarmRule") or "")
            try:
                rule, refs = parse_rule(text)
            except RuleError as exc:
                out.problems.append(
                    DefinitionProblem(stack.name, rec.logical_id, "AlarmRule", str(exc))
                )
                continue
            out.composites.append(
                CompositeAlarm(
                    name=rec.physical_id,
                    rule_text=text,
                    rule=rule,
                    references=refs,
                    alarm_actions=[str(a) for a in props.get("AlarmActions") or []],
                    ok_actions=[str(a) for a in props.get("OKActions") or []],
                    insufficient_data_actions=[
                        str(a) for a in props.get("InsufficientDataActions") or []
                    ],
                    actions_enabled=str(props.get("ActionsEnabled", True)).lower()
                    not in ("false", "0"),
                    description=str(props.get("AlarmDescription") or ""),
                    stack=stack.name,
                    logical_id=rec.logical_id,
                    arn=rec.arn or "",
                )
            )
            names.add(rec.physical_id)
            arns.add(rec.arn or "")
    for composite in out.composites:
        unknown = [r for r in composite.references if r not in names and r not in arns]
        if unknown:
            out.problems.append(
                DefinitionProblem(
                    composite.stack,
                    composite.logical_id,
                    "AlarmRule",
                    f"names unknown alarm(s) {', '.join(unknown)}",
                )
            )
    return out


_OPS = {
    ">": "GreaterThanThreshold",
    ">=": "GreaterThanOrEqualToThreshold",
    "<": "LessThanThreshold",
    "<=": "LessThanOrEqualToThreshold",
}
_FLIP = {">": "<", ">=": "<=", "<": ">", "<=": ">="}


def profile_alarm_properties(stack: DeployedStack, alarm: dict[str, Any]) -> dict[str, Any]:
    """A harness.yaml ``alarms:`` entry as the CloudWatch alarm it stands for, on the metrics
    the harness records for the stack's API (``api:``, else its first): ``error_rate_5xx`` is the
    5xx Average (0/1 per request), ``count_5xx`` its Sum, ``availability`` 1 minus that rate
    (operator and threshold mirrored), ``p50``..``p99``/``max`` the Latency percentile/Maximum,
    ``function_errors`` AWS/Lambda Errors. Raises ValueError for a metric it cannot map."""
    from harness.durations import parse_duration
    from harness.load.slo import metric_number

    metric = str(alarm.get("metric"))
    op = str(alarm.get("op", ">"))
    if str(alarm.get("scope", "all")) != "all":
        raise ValueError(
            f"scope {alarm.get('scope')} has no CloudWatch metric (API Gateway metrics are per "
            "API, stage and route, not per tenant or tier)"
        )
    base: dict[str, Any] = {
        "Period": parse_duration(alarm.get("period", "1m")),
        "EvaluationPeriods": int(alarm.get("evaluation_periods", 1)),
        "TreatMissingData": "notBreaching",
        "AlarmDescription": f"harness.yaml alarm {alarm.get('name')}: {metric} {op} "
        f"{alarm.get('threshold')}",
    }
    if metric == "function_errors":
        threshold = float(alarm["threshold"])
        return {**base, "Namespace": "AWS/Lambda", "MetricName": "Errors", "Statistic": "Sum",
                "Threshold": threshold, "ComparisonOperator": _OPS[op]}  # fmt: skip
    apis = list(stack.apis.values())
    wanted = stack.profile.get("api")
    api = next((a for a in apis if a.logical_id == wanted), apis[0] if apis else None)
    if api is None:
        raise ValueError(f"metric {metric} needs an API, and stack {stack.name} has none")
    rest = api.kind == "rest"
    if rest:
        rec = stack.resources.get(api.logical_id)
        dims = [{"Name": "ApiName", "Value": (rec.properties.get("Name") if rec else None)
                 or api.logical_id}]  # fmt: skip
    else:
        dims = [{"Name": "ApiId", "Value": api.api_id}]
    five = "5XXError" if rest else "5xx"
    common = {**base, "Namespace": "AWS/ApiGateway", "Dimensions": dims}
    if metric in ("error_rate_5xx", "count_5xx"):
        stat = "Average" if metric == "error_rate_5xx" else "Sum"
        return {**common, "MetricName": five, "Statistic": stat,
                "Threshold": float(alarm["threshold"]), "ComparisonOperator": _OPS[op]}  # fmt: skip
    if metric == "availability":
        return {**common, "MetricName": five, "Statistic": "Average",
                "Threshold": round(1 - float(alarm["threshold"]), 12),
                "ComparisonOperator": _OPS[_FLIP[op]]}  # fmt: skip
    if metric in ("p50", "p90", "p95", "p99", "max"):
        threshold = metric_number(metric, alarm["threshold"])
        latency_stat: dict[str, str] = (
            {"Statistic": "Maximum"} if metric == "max" else {"ExtendedStatistic": metric}
        )
        return {**common, "MetricName": "Latency", **latency_stat, "Threshold": threshold,
                "ComparisonOperator": _OPS[op]}  # fmt: skip
    raise ValueError(
        f"metric '{metric}' has no CloudWatch equivalent the harness records (use "
        "error_rate_5xx, count_5xx, availability, p50/p95/p99/max or function_errors)"
    )


def _profile_alarms(stack: DeployedStack, scale: float, out: Definitions) -> None:
    for alarm in stack.profile.get("alarms") or []:
        if not isinstance(alarm, dict):
            continue
        name = str(alarm.get("name"))
        try:
            props = profile_alarm_properties(stack, alarm)
            out.alarms.append(
                MetricAlarm.from_properties(
                    f"{stack.name}:{name}",
                    props,
                    scale=scale,
                    stack=stack.name,
                    logical_id=name,
                    arn=f"arn:aws:cloudwatch:us-east-1:000000000000:alarm:{stack.name}:{name}",
                )
            )
        except (ValueError, KeyError, AlarmDefinitionError) as exc:
            out.problems.append(
                DefinitionProblem(stack.name, f"harness.yaml alarms '{name}'", "metric", str(exc))
            )


def load(state_dir: Path, scale: float = 1.0) -> Definitions:
    stacks = load_stacks(state_dir)
    out = from_stacks(stacks, scale)
    for stack in stacks.values():
        _profile_alarms(stack, scale, out)
    return out
