"""Alarm evaluation against hand-computed expectations: the CloudWatch User Guide's two tables
("How alarm state is evaluated when data is missing"), M out of N, every TreatMissingData mode,
the comparison operators, and the refusals."""

from __future__ import annotations

from typing import Any

import pytest

from harness.metrics.alarms import AlarmDefinitionError, MetricAlarm, evaluate

RETAIN = "retain"
MODES = ("missing", "ignore", "breaching", "notBreaching")


def _alarm(m: int, n: int, treat: str, **extra: Any) -> MetricAlarm:
    props = {
        "Namespace": "AWS/Lambda",
        "MetricName": "Errors",
        "Statistic": "Sum",
        "Period": 60,
        "EvaluationPeriods": n,
        "DatapointsToAlarm": m,
        "Threshold": 0.5,
        "ComparisonOperator": "GreaterThanThreshold",
        "TreatMissingData": treat,
        **extra,
    }
    return MetricAlarm.from_properties("a", props)


def _points(text: str) -> list[float | None]:
    # the guide's notation: 0 not breaching, X breaching, - missing (oldest first)
    return [None if c == "-" else (1.0 if c == "X" else 0.0) for c in text.split()]


# (datapoints, MISSING, IGNORE, BREACHING, NOT BREACHING) — copied from the guide's tables.
THREE_OF_THREE = [
    ("0 - X - X", "OK", "OK", "OK", "OK"),
    ("0 - - - -", "OK", "OK", "OK", "OK"),
    ("- - - - -", "INSUFFICIENT_DATA", RETAIN, "ALARM", "OK"),
    ("0 X X - X", "ALARM", "ALARM", "ALARM", "ALARM"),
    ("- - X - -", "ALARM", RETAIN, "ALARM", "OK"),
]
TWO_OF_THREE = [
    ("0 - X - X", "ALARM", "ALARM", "ALARM", "ALARM"),
    ("0 0 X 0 X", "ALARM", "ALARM", "ALARM", "ALARM"),
    ("0 - X - -", "OK", "OK", "ALARM", "OK"),
    ("- - - - 0", "OK", "OK", "ALARM", "OK"),
    ("- - - X -", "ALARM", RETAIN, "ALARM", "OK"),
]


@pytest.mark.parametrize(("m", "rows"), [(3, THREE_OF_THREE), (2, TWO_OF_THREE)])
@pytest.mark.parametrize("mode_index", range(4))
def test_the_guides_tables(m: int, rows: list[tuple[str, ...]], mode_index: int) -> None:
    mode = MODES[mode_index]
    for row in rows:
        expected = row[1 + mode_index]
        for current in ("OK", "ALARM", "INSUFFICIENT_DATA"):
            got = evaluate(_alarm(m, 3, mode), _points(row[0]), current).state
            want = current if expected == RETAIN else expected
            assert got == want, f"{row[0]} {mode} (was {current}): {got}, expected {want}"


def test_premature_alarm_is_avoided_until_the_breach_is_old_enough() -> None:
    alarm = _alarm(3, 3, "missing")
    assert evaluate(alarm, _points("- - - - X"), "OK").state == "OK"
    assert evaluate(alarm, _points("- - - X -"), "OK").state == "OK"
    assert evaluate(alarm, _points("- - X - -"), "OK").state == "ALARM"


def test_m_out_of_n_counts_only_the_last_n_real_datapoints() -> None:
    alarm = _alarm(2, 4, "missing")
    # 6 datapoints in the range (N + 2): the two old breaches fall outside the last 4
    assert evaluate(alarm, _points("X X 0 0 0 X"), "OK").state == "OK"
    assert evaluate(alarm, _points("X X 0 X 0 X"), "OK").state == "ALARM"
    # a gap: the last 4 real datapoints reach back past it
    assert evaluate(alarm, _points("X 0 - 0 - X"), "OK").state == "ALARM"


def test_only_the_shortfall_is_filled() -> None:
    # N=3, two real datapoints: one fill; breaching fills make 1 + 1 = 2 < 3
    alarm = _alarm(3, 3, "breaching")
    assert evaluate(alarm, _points("0 - X - -"), "OK").state == "OK"
    assert evaluate(alarm, _points("- - X - -"), "OK").state == "ALARM"


def test_dynamodb_alarms_always_ignore_missing_data() -> None:
    alarm = _alarm(1, 1, "breaching", Namespace="AWS/DynamoDB", MetricName="ThrottledRequests")
    assert alarm.effective_treat_missing == "ignore"
    assert evaluate(alarm, _points("- - -"), "OK").state == "OK"


@pytest.mark.parametrize(
    ("op", "value", "breach"),
    [
        ("GreaterThanThreshold", 10.0, False),
        ("GreaterThanThreshold", 10.5, True),
        ("GreaterThanOrEqualToThreshold", 10.0, True),
        ("LessThanThreshold", 10.0, False),
        ("LessThanThreshold", 9.0, True),
        ("LessThanOrEqualToThreshold", 10.0, True),
    ],
)
def test_comparison_operators(op: str, value: float, breach: bool) -> None:
    alarm = _alarm(1, 1, "missing", ComparisonOperator=op, Threshold=10)
    assert evaluate(alarm, [value], "OK").state == ("ALARM" if breach else "OK")


@pytest.mark.parametrize(
    ("props", "field"),
    [
        ({"ComparisonOperator": "GreaterThanUpperThreshold"}, "ComparisonOperator"),
        ({"ComparisonOperator": "Bigger"}, "ComparisonOperator"),
        ({"Statistic": "Median"}, "Statistic"),
        ({"Statistic": "p99"}, "Statistic"),
        ({"Statistic": None, "ExtendedStatistic": "tm99"}, "ExtendedStatistic"),
        ({"Period": 0.5}, "Period"),
        ({"DatapointsToAlarm": 5}, "DatapointsToAlarm"),
        ({"TreatMissingData": "sometimes"}, "TreatMissingData"),
        ({"Metrics": [{"Id": "m1"}]}, "Metrics"),
    ],
)
def test_refused_definitions_name_the_field(props: dict[str, Any], field: str) -> None:
    base = {
        "Namespace": "AWS/Lambda",
        "MetricName": "Errors",
        "Statistic": "Sum",
        "Period": 60,
        "EvaluationPeriods": 3,
        "Threshold": 1,
        "ComparisonOperator": "GreaterThanThreshold",
    }
    merged = {k: v for k, v in {**base, **props}.items() if v is not None}
    with pytest.raises(AlarmDefinitionError) as info:
        MetricAlarm.from_properties("a", merged)
    assert info.value.field == field


def test_a_scale_factor_shortens_the_period_and_keeps_the_declared_one() -> None:
    alarm = MetricAlarm.from_properties(
        "a",
        {
            "Namespace": "AWS/ApiGateway",
            "MetricName": "5XXError",
            "ExtendedStatistic": "p99",
            "Period": 300,
            "EvaluationPeriods": 1,
            "Threshold": 1,
            "ComparisonOperator": "GreaterThanThreshold",
        },
        scale=30,
    )
    assert (alarm.period, alarm.declared_period, alarm.statistic) == (10, 300, "p99")
    with pytest.raises(AlarmDefinitionError, match="at least 1 second"):
        MetricAlarm.from_properties(
            "a",
            {
                "Namespace": "AWS/ApiGateway",
                "MetricName": "5XXError",
                "Statistic": "Sum",
                "Period": 60,
                "EvaluationPeriods": 1,
                "Threshold": 1,
                "ComparisonOperator": "GreaterThanThreshold",
            },
            scale=120,
        )
