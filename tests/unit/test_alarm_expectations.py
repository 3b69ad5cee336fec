"""Alarm expectations judged on hand-built alarm histories: detection within the window, a
detection too late or never (failing with what was seen), an alarm already firing before the
fault, a quiet phase broken by a page, and a quiet phase with no data (inconclusive)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from harness.errors import ConfigError
from harness.report.alarms import alarm_section
from harness.report.data import FaultWindow
from harness.scenario.alarm_checks import (
    AlarmObservations,
    AlarmTimeline,
    check_scenario_alarms,
    judge,
    report_section,
)
from harness.scenario.model import Expectation, Scenario


def _obs(changes: list[tuple[float, str, str]], initial: str = "OK") -> AlarmObservations:
    return AlarmObservations(
        alarms={
            "s-errors": AlarmTimeline("s-errors", "s", "ErrorsAlarm", "metric", initial, changes)
        },
        faults=[FaultWindow("boom", 20.0, 40.0, "lambda:exception")],
        phases={"steady": (0.0, 20.0), "fault": (20.0, 40.0), "recovery": (40.0, 70.0)},
        run_end_s=70.0,
    )


def _alarm(within: float = 30, alarm: str = "ErrorsAlarm") -> Expectation:
    return Expectation(kind="alarm", alarm=alarm, state="ALARM", within=within, after_fault="boom")


def test_detected_within_the_window() -> None:
    verdict = judge(_alarm(), _obs([(32.5, "ALARM", "2 of 2"), (55.0, "OK", "")]))
    assert verdict.passed and verdict.observed == 12.5


def test_detected_too_late_fails_with_the_time_it_saw() -> None:
    verdict = judge(_alarm(within=10), _obs([(32.5, "ALARM", "")]))
    assert not verdict.passed and verdict.observed == 12.5 and "later than 10s" in verdict.detail


def test_never_detected_fails_and_says_so() -> None:
    verdict = judge(_alarm(), _obs([]))
    assert not verdict.passed and verdict.observed is None
    assert (
        "never reached ALARM in the 50s after boom" in verdict.detail
        and "stayed OK" in verdict.detail
    )


def test_an_alarm_already_firing_is_not_a_detection() -> None:
    verdict = judge(_alarm(), _obs([(5.0, "ALARM", "")]))
    assert not verdict.passed and "already ALARM" in verdict.detail


def test_unknown_alarm_at_judgement_fails() -> None:
    verdict = judge(_alarm(alarm="Nope"), _obs([]))
    assert not verdict.passed and "s-errors" in verdict.detail


def test_quiet_phase() -> None:
    quiet = Expectation(kind="alarm_quiet", alarm="s/ErrorsAlarm", phase="steady")
    assert judge(quiet, _obs([(32.5, "ALARM", "")])).passed
    paged = judge(quiet, _obs([(8.0, "ALARM", "1 of 1 datapoints"), (12.0, "OK", "")]))
    assert not paged.passed and paged.observed == 1 and "t=8s" in paged.detail
    blind = judge(quiet, _obs([], initial="INSUFFICIENT_DATA"))
    assert not blind.passed and blind.detail.startswith("inconclusive")
    # 5 datapoints of 10 s to page, in a 20 s phase: a page could not show, so it cannot pass
    slow = _obs([])
    slow.alarms["s-errors"].window_s = 50.0
    short = judge(quiet, slow)
    assert not short.passed and "needs 50s of breaching data" in short.detail


def test_report_section_times_to_detect_and_recover() -> None:
    section = report_section(_obs([(32.5, "ALARM", ""), (47.0, "OK", "")]))
    assert section["faults"] == [
        {"fault": "boom", "alarm": "s-errors", "fault_start_s": 20.0, "fault_end_s": 40.0,
         "detected_s": 12.5, "recovered_s": 7.0}
    ]  # fmt: skip
    page = alarm_section(section, [FaultWindow("boom", 20.0, 40.0)], 70.0)
    assert "time to detect" in page and "12.5 s" in page and "7 s" in page


def _scenario(**extra: object) -> dict[str, object]:
    return {
        "title": "t",
        "stacks": ["x"],
        "timeline": [
            {"name": "steady", "duration": "10s"},
            {
                "name": "fault",
                "duration": "10s",
                "faults": [
                    {
                        "action": "lambda:exception",
                        "name": "boom",
                        "targets": {"functions": ["Work"]},
                    }
                ],
            },
        ],
        **extra,
    }


def test_the_scenario_model_checks_alarm_expectations() -> None:
    ok = Scenario.model_validate(_scenario(expectations=[
        {"kind": "alarm", "alarm": "A", "within": "30s", "after_fault": "boom"},
        {"kind": "alarm_quiet", "alarm": "A", "phase": "steady"}], alarm_period_scale=6))  # fmt: skip
    assert ok.expectations[0].label == "A ALARM within 30s of boom"
    bad = [
        {"kind": "alarm", "alarm": "A", "after_fault": "boom"},  # no within
        {"kind": "alarm", "alarm": "A", "within": "30s", "after_fault": "nope"},
        {"kind": "alarm_quiet", "alarm": "A", "phase": "nope"},
        {"kind": "alarm_quiet", "phase": "steady"},
    ]
    for expectation in bad:
        with pytest.raises(ValidationError):
            Scenario.model_validate(_scenario(expectations=[expectation]))
    with pytest.raises(ValidationError):
        Scenario.model_validate(_scenario(alarm_period_scale=0))


def test_scenario_alarm_names_and_scale_are_checked_against_the_stacks(tmp_path: Path) -> None:
    stack = tmp_path / "x"
    stack.mkdir()
    (stack / "template.yaml").write_text(
        "Resources:\n  ErrorsAlarm:\n    Type: AWS::CloudWatch::Alarm\n    Properties:\n"
        "      AlarmName: x-errors\n      Namespace: AWS/Lambda\n      MetricName: Errors\n"
        "      Statistic: Sum\n      Period: 60\n      EvaluationPeriods: 1\n      Threshold: 0\n"
        "      ComparisonOperator: GreaterThanThreshold\n"
    )
    (stack / "harness.yaml").write_text(
        "alarms:\n  - {name: slow, metric: p99, threshold: 1s, period: 10s}\n"
    )
    for name in ("ErrorsAlarm", "x-errors", "x/ErrorsAlarm", "slow"):
        exp = [{"kind": "alarm_quiet", "alarm": name, "phase": "steady"}]
        scenario = _scenario(expectations=exp, alarm_period_scale=6)  # 60 s -> 10 s: fits
        check_scenario_alarms(Scenario.model_validate(scenario), [stack], "s.yaml")
    # unscaled, the 60 s period cannot page in the 10 s phase: the quiet check could never fail
    with pytest.raises(ConfigError) as info:
        exp = [{"kind": "alarm_quiet", "alarm": "x-errors", "phase": "steady"}]
        check_scenario_alarms(
            Scenario.model_validate(_scenario(expectations=exp)), [stack], "s.yaml"
        )
    assert info.value.field == "expectations[0].phase"
    assert "needs 60s of breaching data" in str(
        info.value
    ) and "raise alarm_period_scale to 6" in str(info.value)
    with pytest.raises(ConfigError) as info:
        exp = [{"kind": "alarm_quiet", "alarm": "Ghost", "phase": "steady"}]
        check_scenario_alarms(
            Scenario.model_validate(_scenario(expectations=exp)), [stack], "s.yaml"
        )
    assert info.value.field == "expectations[0].alarm" and "ErrorsAlarm" in str(info.value)
    with pytest.raises(ConfigError) as info:
        check_scenario_alarms(
            Scenario.model_validate(_scenario(alarm_period_scale=20)), [stack], "s.yaml"
        )
    assert info.value.field == "alarm_period_scale" and "slow" in str(info.value)


def test_profile_alarms_become_cloudwatch_alarms_or_are_reported() -> None:
    from harness.metrics.alarms import MetricAlarm
    from harness.metrics.definitions import profile_alarm_properties
    from harness.model import ApiSpec, DeployedStack

    stack = DeployedStack("cat", "/x", "/x/template.yaml", 0.0, profile={"api": "Api"})
    stack.apis["Api"] = ApiSpec("Api", "http", "abc123", "$default", "http://x")
    rate = profile_alarm_properties(
        stack, {"name": "r", "metric": "error_rate_5xx", "op": ">", "threshold": 0.05}
    )
    assert (rate["MetricName"], rate["Statistic"], rate["Dimensions"]) == (
        "5xx", "Average", [{"Name": "ApiId", "Value": "abc123"}])  # fmt: skip
    avail = profile_alarm_properties(
        stack, {"name": "a", "metric": "availability", "op": "<", "threshold": 0.9995, "period": "1m",
                "evaluation_periods": 5})  # fmt: skip
    assert avail["ComparisonOperator"] == "GreaterThanThreshold" and avail["Threshold"] == 0.0005
    assert MetricAlarm.from_properties("a", avail).evaluation_periods == 5
    p99 = profile_alarm_properties(stack, {"name": "p", "metric": "p99", "threshold": "3000ms"})
    assert (p99["ExtendedStatistic"], p99["Threshold"]) == ("p99", 3000.0)
    for bad in ({"name": "t", "metric": "throttled_rate", "threshold": 0},
                {"name": "t", "metric": "p99", "threshold": 1, "scope": "tier:premium"}):  # fmt: skip
        with pytest.raises(ValueError):
            profile_alarm_properties(stack, bad)
