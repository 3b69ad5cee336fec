"""CloudWatch metric alarms: the definition, checked, and one evaluation step.

Semantics follow the CloudWatch User Guide, "Using Amazon CloudWatch alarms" (awsdocs
amazon-cloudwatch-user-guide, ``AlarmThatSendsEmail.md``: "How alarm state is evaluated when
data is missing" and "Avoiding premature transitions to alarm state"):

* Each period's datapoint is the statistic over that period; no sample is a *missing* datapoint.
* The evaluation range is ``EvaluationPeriods + 2`` datapoints (the guide's example: 3
  evaluation periods, a range of 5).
* With at least ``EvaluationPeriods`` real datapoints in the range, the most recent
  ``EvaluationPeriods`` real ones are judged and ``TreatMissingData`` is not used.
* Otherwise every real datapoint in the range is judged and the shortfall (only the
  shortfall) is filled per ``TreatMissingData``: ``breaching`` fills breach, ``notBreaching``
  fills do not; with no real datapoint at all ``missing`` gives INSUFFICIENT_DATA and ``ignore``
  keeps the state.
* Premature-alarm rule (``missing``): when the oldest breaching datapoint among the last
  ``EvaluationPeriods`` is at least ``DatapointsToAlarm`` periods old, every more recent one
  is breaching or missing, and no real datapoint of the range is non-breaching, the alarm goes
  to ALARM (``- - X - -`` with 3 of 3, ``- - - X -`` with 2 of 3, but ``0 - X - -`` with 2 of 3
  stays OK); ``ignore`` keeps the state in that case. This reading reproduces every row of
  the guide's two tables (tests/unit/test_alarm_evaluation.py).
* ALARM when at least ``DatapointsToAlarm`` judged datapoints breach, else OK.
* Alarms on ``AWS/DynamoDB`` metrics always treat missing data as ``ignore`` (PutMetricAlarm's
  documentation of ``TreatMissingData``).

The anomaly-detection operators need a band model; they are refused, never approximated.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.metrics.statistics import StatisticError, parse_statistic

__all__ = [
    "ANOMALY_OPERATORS",
    "OPERATORS",
    "STATES",
    "TREAT_MISSING",
    "AlarmDefinitionError",
    "Evaluation",
    "MetricAlarm",
    "evaluate",
]

STATES = ("OK", "ALARM", "INSUFFICIENT_DATA")
OPERATORS: dict[str, Callable[[float, float], bool]] = {
    "GreaterThanOrEqualToThreshold": lambda v, t: v >= t,
    "GreaterThanThreshold": lambda v, t: v > t,
    "LessThanThreshold": lambda v, t: v < t,
    "LessThanOrEqualToThreshold": lambda v, t: v <= t,
}
ANOMALY_OPERATORS = (
    "LessThanLowerOrGreaterThanUpperThreshold",
    "LessThanLowerThreshold",
    "GreaterThanUpperThreshold",
)
TREAT_MISSING = ("missing", "notBreaching", "breaching", "ignore")


class AlarmDefinitionError(ValueError):
    """An alarm the harness cannot evaluate faithfully; ``field`` names the property."""

    def __init__(self, field_: str, message: str) -> None:
        super().__init__(f"{field_}: {message}")
        self.field = field_
        self.message = message


@dataclass
class MetricAlarm:
    name: str
    namespace: str
    metric_name: str
    statistic: str
    period: float  # seconds, after any scenario scale factor
    evaluation_periods: int
    threshold: float
    comparison: str
    datapoints_to_alarm: int
    treat_missing_data: str = "missing"
    dimensions: dict[str, str] = field(default_factory=dict)
    alarm_actions: list[str] = field(default_factory=list)
    ok_actions: list[str] = field(default_factory=list)
    insufficient_data_actions: list[str] = field(default_factory=list)
    actions_enabled: bool = True
    description: str = ""
    stack: str = ""
    logical_id: str = ""
    declared_period: float = 0.0  # the template's Period, before scaling
    arn: str = ""

    @property
    def effective_treat_missing(self) -> str:
        return "ignore" if self.namespace == "AWS/DynamoDB" else self.treat_missing_data

    @classmethod
    def from_properties(
        cls, name: str, props: dict[str, Any], *, scale: float = 1.0, **extra: Any
    ) -> MetricAlarm:
        """From PutMetricAlarm / ``AWS::CloudWatch::Alarm`` properties; refuses with the field."""
        if props.get("Metrics"):
            raise AlarmDefinitionError(
                "Metrics",
                "metric math alarms are not evaluated by the harness; alarm on one metric "
                "(MetricName, Namespace, Statistic, Period)",
            )
        for required in ("MetricName", "Namespace", "Period", "EvaluationPeriods", "Threshold",
                         "ComparisonOperator"):  # fmt: skip
            if props.get(required) in (None, ""):
                raise AlarmDefinitionError(required, "is required")
        comparison = str(props["ComparisonOperator"])
        if comparison in ANOMALY_OPERATORS:
            raise AlarmDefinitionError(
                "ComparisonOperator",
                f"{comparison} compares with an anomaly-detection band, which the harness does "
                "not model; use a static threshold (GreaterThanThreshold, ...)",
            )
        if comparison not in OPERATORS:
            raise AlarmDefinitionError(
                "ComparisonOperator", f"'{comparison}' is not one of {', '.join(OPERATORS)}"
            )
        stat = props.get("Statistic")
        extended = props.get("ExtendedStatistic")
        if (stat is None) == (extended is None):
            raise AlarmDefinitionError(
                "Statistic", "give exactly one of Statistic or ExtendedStatistic"
            )
        try:
            statistic = parse_statistic(str(stat if stat is not None else extended))
        except StatisticError as exc:
            raise AlarmDefinitionError(
                "Statistic" if stat is not None else "ExtendedStatistic", str(exc)
            ) from None
        if stat is not None and statistic.startswith("p"):
            raise AlarmDefinitionError(
                "Statistic", f"'{stat}' is a percentile: give it as ExtendedStatistic"
            )
        try:
            period = float(props["Period"])
            evaluation_periods = int(props["EvaluationPeriods"])
            threshold = float(props["Threshold"])
            m = int(props.get("DatapointsToAlarm") or evaluation_periods)
        except (TypeError, ValueError) as exc:
            raise AlarmDefinitionError("Period", f"not a number: {exc}") from None
        scaled = period / scale
        if scaled < 1:
            raise AlarmDefinitionError(
                "Period",
                f"{period:g}s{f' scaled by {scale:g}' if scale != 1 else ''} is {scaled:g}s; "
                "the harness records metrics at one-second resolution, so a period must be "
                "at least 1 second",
            )
        if evaluation_periods < 1:
            raise AlarmDefinitionError("EvaluationPeriods", "must be at least 1")
        if not 1 <= m <= evaluation_periods:
            raise AlarmDefinitionError(
                "DatapointsToAlarm", f"{m} must be between 1 and EvaluationPeriods"
            )
        treat = str(props.get("TreatMissingData") or "missing")
        if treat not in TREAT_MISSING:
            raise AlarmDefinitionError(
                "TreatMissingData", f"'{treat}' is not one of {', '.join(TREAT_MISSING)}"
            )
        dims_raw = props.get("Dimensions") or []
        dimensions: dict[str, str] = {}
        for item in dims_raw:
            if not isinstance(item, dict) or "Name" not in item or "Value" not in item:
                raise AlarmDefinitionError("Dimensions", "each dimension needs Name and Value")
            dimensions[str(item["Name"])] = str(item["Value"])
        enabled = props.get("ActionsEnabled", True)
        return cls(
            name=name,
            namespace=str(props["Namespace"]),
            metric_name=str(props["MetricName"]),
            statistic=statistic,
            period=scaled,
            evaluation_periods=evaluation_periods,
            threshold=threshold,
            comparison=comparison,
            datapoints_to_alarm=m,
            treat_missing_data=treat,
            dimensions=dimensions,
            alarm_actions=[str(a) for a in props.get("AlarmActions") or []],
            ok_actions=[str(a) for a in props.get("OKActions") or []],
            insufficient_data_actions=[str(a) for a in props.get("InsufficientDataActions") or []],
            actions_enabled=str(enabled).lower() not in ("false", "0"),
            description=str(props.get("AlarmDescription") or ""),
            declared_period=period,
            **extra,
        )


@dataclass(frozen=True)
class Evaluation:
    state: str
    reason: str
    judged: tuple[float | None, ...]  # the datapoints of the range, oldest first


def _breaches(alarm: MetricAlarm, value: float) -> bool:
    return OPERATORS[alarm.comparison](value, alarm.threshold)


def evaluate(alarm: MetricAlarm, datapoints: Sequence[float | None], current: str) -> Evaluation:
    """One evaluation over the evaluation range (oldest first, ``None`` = missing)."""
    n = alarm.evaluation_periods
    m = alarm.datapoints_to_alarm
    treat = alarm.effective_treat_missing
    points = tuple(datapoints)
    real = [v for v in points if v is not None]
    shown = " ".join("-" if v is None else f"{v:g}" for v in points)
    op = alarm.comparison
    if len(real) >= n:
        judged = real[-n:]
        breaching = sum(_breaches(alarm, v) for v in judged)
        state = "ALARM" if breaching >= m else "OK"
        return Evaluation(
            state,
            f"{breaching} of the last {n} datapoints [{shown}] {op} {alarm.threshold:g}"
            f" (need {m} to alarm)",
            points,
        )
    if not real:
        if treat == "missing":
            return Evaluation("INSUFFICIENT_DATA", f"no datapoint in the range [{shown}]", points)
        if treat == "ignore":
            return Evaluation(current, f"no datapoint in [{shown}]: missing data ignored", points)
        state = "ALARM" if treat == "breaching" else "OK"
        return Evaluation(state, f"no datapoint in [{shown}], treated as {treat}", points)
    shortfall = n - len(real)
    breaching_real = sum(_breaches(alarm, v) for v in real)
    if treat in ("missing", "ignore"):
        last = points[-n:]
        flags = [None if v is None else _breaches(alarm, v) for v in last]
        oldest = next((i for i, f in enumerate(flags) if f), None)
        if (
            oldest is not None
            and breaching_real == len(real)
            and len(last) - oldest >= m
            and all(f is None or f for f in flags[oldest:])
        ):
            if treat == "ignore":
                return Evaluation(
                    current, f"[{shown}]: breaching then missing, missing data ignored", points
                )
            return Evaluation(
                "ALARM",
                f"[{shown}]: the oldest breaching datapoint of the last {n} is {len(last) - oldest}"
                f" periods old and every later one breaches or is missing",
                points,
            )
    filled_breaching = shortfall if treat == "breaching" else 0
    breaching = breaching_real + filled_breaching
    state = "ALARM" if breaching >= m else "OK"
    return Evaluation(
        state,
        f"{breaching_real} of {len(real)} real datapoints [{shown}] {op} {alarm.threshold:g},"
        f" {shortfall} missing filled as {'breaching' if filled_breaching else 'not breaching'}"
        f" (need {m} of {n})",
        points,
    )
