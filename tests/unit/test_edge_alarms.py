"""The edge's alarm service without processes: definitions read from the state folder, the
CloudWatch calls answered in rpc-v2-cbor and JSON, SetAlarmState, the control API and
CloudWatch's SNS message shape."""

from __future__ import annotations

import json
import time
from pathlib import Path

import cbor2

from harness.edge.alarms import EdgeAlarms, alarm_message
from harness.model import DeployedStack, ResourceRecord

ARN = "arn:aws:cloudwatch:us-east-1:000000000000:alarm:s-errors"


def _state(tmp_path: Path) -> Path:
    stack = DeployedStack("s", str(tmp_path), str(tmp_path / "template.yaml"), time.time())
    props = {"Namespace": "AWS/Lambda", "MetricName": "Errors", "Statistic": "Sum",
             "Dimensions": [{"Name": "FunctionName", "Value": "f"}], "Period": 60,
             "EvaluationPeriods": 1, "Threshold": 0, "ComparisonOperator": "GreaterThanThreshold",
             "AlarmActions": ["arn:aws:sns:us-east-1:000000000000:pager", "arn:aws:ssm:x"]}  # fmt: skip
    stack.resources["Errors"] = ResourceRecord(
        "Errors", "AWS::CloudWatch::Alarm", "s-errors", ARN, {}, props
    )
    stack.resources["Page"] = ResourceRecord(
        "Page", "AWS::CloudWatch::CompositeAlarm", "s-page", ARN.replace("s-errors", "s-page"), {},
        {"AlarmRule": f'ALARM("{ARN}")'},
    )  # fmt: skip
    stack.save(tmp_path)
    return tmp_path


def _cbor_call(
    edge: EdgeAlarms, operation: str, params: dict[str, object]
) -> tuple[int, dict[str, object]]:
    answer = edge.cloudwatch(
        f"/service/GraniteServiceVersion20100801/operation/{operation}",
        {"smithy-protocol": "rpc-v2-cbor"},
        cbor2.dumps(params),
    )
    assert answer is not None
    head, _, body = answer.partition(b"\r\n\r\n")
    assert b"smithy-protocol: rpc-v2-cbor" in head
    return int(head[9:12]), cbor2.loads(body)


def test_describe_set_and_history(tmp_path: Path) -> None:
    edge = EdgeAlarms(_state(tmp_path))
    published: list[tuple[str, str, str]] = []
    edge._publish = lambda arn, subject, message: (
        published.append((arn, subject, message)) or (True, "ok")
    )  # type: ignore[method-assign]
    edge.tick()
    status, answer = _cbor_call(
        edge, "DescribeAlarms", {"AlarmTypes": ["MetricAlarm", "CompositeAlarm"]}
    )
    assert status == 200
    metric = answer["MetricAlarms"][0]  # type: ignore[index]
    assert (metric["AlarmName"], metric["StateValue"], metric["Statistic"]) == (
        "s-errors",
        "INSUFFICIENT_DATA",  # no datapoint yet, TreatMissingData missing
        "Sum",
    )
    assert answer["CompositeAlarms"][0]["AlarmRule"] == f'ALARM("{ARN}")'  # type: ignore[index]

    status, _ = _cbor_call(
        edge,
        "SetAlarmState",
        {"AlarmName": "s-errors", "StateValue": "ALARM", "StateReason": "drill"},
    )
    assert status == 200 and edge.monitor.states["s-errors"] == "ALARM"
    edge.tick()  # the composite follows on the next tick
    assert edge.monitor.states["s-page"] == "ALARM"
    assert [p[0] for p in published] == ["arn:aws:sns:us-east-1:000000000000:pager"]
    subject, message = published[0][1], json.loads(published[0][2])
    assert subject == 'ALARM: "s-errors" in US East (N. Virginia)'
    assert message["NewStateValue"] == "ALARM" and message["Trigger"]["Namespace"] == "AWS/Lambda"
    not_delivered = [a for a in edge.actions if not a["delivered"]]
    assert not_delivered and "only SNS" in not_delivered[0]["detail"]

    status, history = _cbor_call(
        edge, "DescribeAlarmHistory", {"AlarmName": "s-errors", "HistoryItemType": "StateUpdate"}
    )
    assert "Alarm updated from INSUFFICIENT_DATA to ALARM" in [
        h["HistorySummary"] for h in history["AlarmHistoryItems"]
    ]  # type: ignore[index]
    status, missing = _cbor_call(
        edge, "SetAlarmState", {"AlarmName": "ghost", "StateValue": "OK", "StateReason": "x"}
    )
    assert status == 404 and missing["__type"] == "ResourceNotFound"

    # the JSON protocol of other SDKs; other CloudWatch calls go on to the emulator
    answer_json = edge.cloudwatch(
        "/", {"x-amz-target": "GraniteServiceVersion20100801.DescribeAlarms"}, b"{}"
    )
    assert answer_json is not None and b'"MetricAlarms"' in answer_json
    assert (
        edge.cloudwatch("/", {"x-amz-target": "GraniteServiceVersion20100801.PutMetricData"}, b"{}")
        is None
    )


def test_control_api_scales_periods_and_reports_problems(tmp_path: Path) -> None:
    edge = EdgeAlarms(_state(tmp_path))
    status, snap = edge.admin("POST", "/_harness/edge/alarms/config", b'{"scale": 6}')  # type: ignore[misc]
    assert status == 200 and snap["scale"] == 6
    assert [a["period"] for a in snap["alarms"] if a["kind"] == "metric"] == [10.0]
    assert edge.admin("POST", "/_harness/edge/alarms/config", b'{"scale": 0}')[0] == 400  # type: ignore[index]
    assert edge.admin("GET", "/_harness/edge/faults", b"") is None


def test_alarm_message_shape() -> None:
    from harness.metrics.alarms import MetricAlarm
    from harness.metrics.monitor import Transition

    alarm = MetricAlarm.from_properties(
        "a", {"Namespace": "AWS/ApiGateway", "MetricName": "Latency", "ExtendedStatistic": "p99",
              "Period": 60, "EvaluationPeriods": 3, "Threshold": 3000,
              "ComparisonOperator": "GreaterThanThreshold"}, scale=6, arn="arn:x")  # fmt: skip
    _subject, text = alarm_message(
        Transition(0.0, "a", "OK", "ALARM", "r"), alarm, "us-east-1", "1"
    )
    message = json.loads(text)
    assert message["Trigger"]["StatisticType"] == "ExtendedStatistic"
    assert message["Trigger"]["ExtendedStatistic"] == "p99" and message["Trigger"]["Period"] == 60
    assert message["StateChangeTime"].endswith("+0000") and message["AlarmArn"] == "arn:x"


def test_oldest_message_age_from_a_peek_and_a_queue_that_cannot_be_peeked(tmp_path: Path) -> None:
    """ApproximateAgeOfOldestMessage: LocalStack's developer endpoint is absent (404), so the
    ministack peek answers (with the environment's secret); the oldest SentTimestamp, visible
    or in flight, gives the age; an empty queue is 0; an SQS that cannot be peeked records no
    datapoint and is named in the snapshot's problems."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    (tmp_path / "control-secret").write_text("s3cret")
    now_ms = int(time.time() * 1000)
    messages: list[dict[str, object]] = [
        {"MessageId": "a", "SentTimestamp": now_ms // 1000 - 30, "IsVisible": False,
         "Attributes": {"SentTimestamp": str(now_ms - 30_000)}},
        {"MessageId": "b", "SentTimestamp": now_ms // 1000 - 5, "IsVisible": True,
         "Attributes": {"SentTimestamp": str(now_ms - 5_000)}},
    ]  # fmt: skip
    seen: list[tuple[str, str | None]] = []

    class Fake(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # LocalStack's endpoint: not this emulator
            seen.append((self.path, None))
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_GET(self) -> None:
            seen.append((self.path, self.headers.get("X-Harness-Secret")))
            url = "http://127.0.0.1:1/000000000000/jobs"
            body = json.dumps(
                {"messages": {"000000000000": {"us-east-1": {url: list(messages)}}}}
            ).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Fake)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        edge = EdgeAlarms(tmp_path)
        edge.sqs_url = f"http://127.0.0.1:{server.server_address[1]}"
        age = edge._oldest_age("http://127.0.0.1:1/000000000000/jobs", "jobs")
        assert age is not None and 29 <= age <= 31, age
        assert seen[0][0] == "/_aws/sqs/messages?ShowInvisible=true"
        assert seen[1][0].startswith("/_ministack/sqs/messages?QueueUrl=http%3A%2F%2F")
        assert seen[1][1] == "s3cret"
        messages.clear()
        assert edge._oldest_age("http://127.0.0.1:1/000000000000/jobs", "jobs") == 0
        assert edge.snapshot()["problems"] == []
    finally:
        server.shutdown()
        server.server_close()
    # SQS gone: no datapoint (the alarm sees missing data), and the snapshot says why
    assert edge._oldest_age("http://127.0.0.1:1/000000000000/jobs", "jobs") is None
    problems = edge.snapshot()["problems"]
    assert len(problems) == 1 and "ApproximateAgeOfOldestMessage of queue jobs" in problems[0]
