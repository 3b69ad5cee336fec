"""The metrics package: statistics, EMF extraction, recorder files merged by the store,
composite rules and the monitor's evaluation over time."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from harness.metrics import emf
from harness.metrics.alarms import MetricAlarm
from harness.metrics.catalog import check_metric
from harness.metrics.composite import CompositeAlarm, RuleError, parse_rule
from harness.metrics.monitor import AlarmMonitor
from harness.metrics.recorder import Recorder, key
from harness.metrics.statistics import StatisticError, compute, parse_statistic
from harness.metrics.store import MetricStore, series_key


def test_statistics_by_hand() -> None:
    samples = Counter({float(v): 1 for v in range(1, 101)})  # 1..100
    assert compute(samples, "SampleCount") == 100
    assert compute(samples, "Sum") == 5050
    assert compute(samples, "Average") == 50.5
    assert compute(samples, "Minimum") == 1
    assert compute(samples, "Maximum") == 100
    assert compute(samples, "p99") == 99
    assert compute(samples, "p50") == 50
    assert compute(samples, "p99.9") == 100
    assert compute(Counter(), "Sum") is None
    assert compute(Counter({1.0: 3, 0.0: 1}), "Average") == 0.75


@pytest.mark.parametrize("bad", ["Median", "p101", "tm99", "P99", "avg"])
def test_unknown_statistics_are_refused(bad: str) -> None:
    with pytest.raises(StatisticError):
        parse_statistic(bad)


def test_emf_extraction_as_powertools_prints_it() -> None:
    line = json.dumps(
        {
            "_aws": {
                "Timestamp": 1_765_100_000_500,
                "CloudWatchMetrics": [
                    {
                        "Namespace": "SyncWell",
                        "Dimensions": [["service"], []],
                        "Metrics": [{"Name": "JobsFailed", "Unit": "Count"},
                                    {"Name": "Lag", "Unit": "Milliseconds"}],
                    }
                ],
            },
            "service": "sync",
            "JobsFailed": 2,
            "Lag": [10, 20.5],
        }
    )  # fmt: skip
    assert emf.looks_like_emf(line)
    points, problems = emf.extract(line)
    assert problems == []
    assert [(p.name, p.dimensions, p.values) for p in points] == [
        ("JobsFailed", {"service": "sync"}, (2.0,)),
        ("JobsFailed", {}, (2.0,)),
        ("Lag", {"service": "sync"}, (10.0, 20.5)),
        ("Lag", {}, (10.0, 20.5)),
    ]
    assert points[0].timestamp == 1_765_100_000.5


def test_emf_lines_cloudwatch_would_reject_are_not_extracted() -> None:
    no_dim = {"_aws": {"Timestamp": 1, "CloudWatchMetrics": [
        {"Namespace": "N", "Dimensions": [["service"]], "Metrics": [{"Name": "M"}]}]}, "M": 1}  # fmt: skip
    points, problems = emf.extract(json.dumps(no_dim))
    assert points == [] and "service" in problems[0]
    bad_value = {"_aws": {"Timestamp": 1, "CloudWatchMetrics": [
        {"Namespace": "N", "Dimensions": [[]], "Metrics": [{"Name": "M"}]}]}, "M": "x"}  # fmt: skip
    points, problems = emf.extract(json.dumps(bad_value))
    assert points == [] and "not a number" in problems[0]
    assert emf.extract('{"_aws": {}}')[0] == []


def test_recorder_files_of_two_processes_merge_in_the_store(tmp_path: Path) -> None:
    a = Recorder(tmp_path, "gateway")
    b = Recorder(tmp_path, "runtime")
    b.component = "gateway-2"
    metric = key("AWS/Lambda", "Duration", {}, {"FunctionName": "f"})
    for v in (10.0, 20.0, 20.0):
        a.put(metric, v, when=1000.2)
    b.put(metric, 30.0, when=1000.9)
    b.put(metric, 99.0, when=1001.1)
    assert a.flush(everything=True) == 2  # one line per dimension set
    assert b.flush(everything=True) == 4
    store = MetricStore(tmp_path)
    assert store.refresh() == 6
    k = series_key("AWS/Lambda", "Duration", {"FunctionName": "f"})
    assert store.datapoint(k, 1000, 1001, "SampleCount") == 4
    assert store.datapoint(k, 1000, 1001, "Sum") == 80
    assert store.datapoint(k, 1000, 1002, "Maximum") == 99
    assert store.datapoint(k, 1002, 1003, "Sum") is None  # missing, not 0
    assert store.datapoint(series_key("AWS/Lambda", "Duration"), 1000, 1001, "Sum") == 80
    # dimensions match exactly
    assert (
        store.datapoint(
            series_key("AWS/Lambda", "Duration", {"FunctionName": "g"}), 1000, 1002, "Sum"
        )
        is None
    )
    # incremental: only new lines are read
    a.put(metric, 5.0, when=1003.0)
    a.flush(everything=True)
    assert store.refresh() == 2
    assert store.datapoint(k, 1003, 1004, "Sum") == 5


def test_recorder_is_off_without_a_directory() -> None:
    off = Recorder(None)
    off.put(key("AWS/Lambda", "Errors"), 1.0)
    assert off.flush(everything=True) == 0


def test_composite_rules() -> None:
    rule, names = parse_rule(
        'ALARM("a-1") AND NOT (OK(b) OR INSUFFICIENT_DATA(arn:aws:cloudwatch:us-east-1:0:alarm:c))'
    )
    assert names == ["a-1", "b", "arn:aws:cloudwatch:us-east-1:0:alarm:c"]
    c = "arn:aws:cloudwatch:us-east-1:0:alarm:c"
    assert rule({"a-1": "ALARM", "b": "ALARM", c: "OK"})
    assert not rule({"a-1": "ALARM", "b": "OK", c: "OK"})
    assert not rule({"a-1": "OK", "b": "ALARM", c: "OK"})
    assert not rule({"a-1": "ALARM", "b": "ALARM", c: "INSUFFICIENT_DATA"})
    assert parse_rule("TRUE OR FALSE")[0]({})
    # AND binds tighter than OR
    assert parse_rule("ALARM(x) OR ALARM(y) AND FALSE")[0]({"x": "ALARM"})
    for bad in ("ALARM(a) AND", "ALARM(a) XOR ALARM(b)", "(ALARM(a)", "WARN(a)", ""):
        with pytest.raises(RuleError):
            parse_rule(bad)


def _errors_alarm(**extra: object) -> MetricAlarm:
    return MetricAlarm.from_properties(
        "errors",
        {
            "Namespace": "AWS/Lambda",
            "MetricName": "Errors",
            "Dimensions": [{"Name": "FunctionName", "Value": "f"}],
            "Statistic": "Sum",
            "Period": 10,
            "EvaluationPeriods": 2,
            "DatapointsToAlarm": 2,
            "Threshold": 0,
            "ComparisonOperator": "GreaterThanThreshold",
            "TreatMissingData": "notBreaching",
            **extra,
        },
        arn="arn:aws:cloudwatch:us-east-1:000000000000:alarm:errors",
    )


def test_monitor_goes_to_alarm_and_back_and_runs_composites(tmp_path: Path) -> None:
    store = MetricStore(tmp_path)
    seen: list[tuple[str, str]] = []
    monitor = AlarmMonitor(store, lag=0, on_change=lambda t, _d: seen.append((t.alarm, t.new)))
    rule, refs = parse_rule('ALARM("arn:aws:cloudwatch:us-east-1:000000000000:alarm:errors")')
    monitor.load([_errors_alarm()], [CompositeAlarm("page", "r", rule, refs)])
    dims = {"FunctionName": "f"}
    for second in range(1000, 1040):
        store.add("AWS/Lambda", "Errors", dims, second, [1.0 if 1010 <= second < 1030 else 0.0])
    store.refresh = lambda: 0  # type: ignore[method-assign]
    monitor.tick(1010)  # periods [990,1000) and [1000,1010): clean
    assert monitor.states["errors"] == "OK"
    monitor.tick(1020)  # only [1010,1020) breaches: 1 of 2
    assert monitor.states["errors"] == "OK"
    monitor.tick(1030)  # [1010,1020) and [1020,1030): 2 of 2
    assert monitor.states["errors"] == "ALARM" and monitor.states["page"] == "ALARM"
    monitor.tick(1035)  # same period boundary: not evaluated again
    monitor.tick(1040)
    assert monitor.states["errors"] == "OK"
    assert seen == [("errors", "OK"), ("page", "OK"), ("errors", "ALARM"), ("page", "ALARM"),
                    ("errors", "OK"), ("page", "OK")]  # fmt: skip
    monitor.set_state("errors", "ALARM", "testing", 1041)
    assert monitor.states["errors"] == "ALARM"
    monitor.tick(1050)  # the next evaluation overrides SetAlarmState
    assert monitor.states["errors"] == "OK"
    assert [h.kind for h in monitor.history].count("set") == 1


def test_catalog_refuses_metrics_the_harness_does_not_produce() -> None:
    assert check_metric("AWS/Lambda", "Errors", ["FunctionName"]) is None
    assert check_metric("AWS/Lambda", "Errors", []) is None
    assert check_metric("MyApp", "Anything", ["x"]) is None
    assert "no AWS/EC2" in str(check_metric("AWS/EC2", "CPUUtilization", []))
    assert "PostRuntimeExtensionsDuration" in str(
        check_metric("AWS/Lambda", "PostRuntimeExtensionsDuration", ["FunctionName"])
    )
    # the sampled SQS age and the stream mappings' iterator age are recorded
    assert check_metric("AWS/SQS", "ApproximateAgeOfOldestMessage", ["QueueName"]) is None
    assert check_metric("AWS/Lambda", "IteratorAge", ["FunctionName"]) is None
    assert check_metric("AWS/Kinesis", "GetRecords.IteratorAgeMilliseconds", ["StreamName"]) is None
    assert "exactly" in str(check_metric("AWS/SQS", "ApproximateAgeOfOldestMessage", []))
    assert "exactly" in str(check_metric("AWS/Lambda", "Errors", ["Function"]))
