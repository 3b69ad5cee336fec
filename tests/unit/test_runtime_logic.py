"""Pure logic of the runtime: handler strings, schedules, event shapes, batch responses, retries."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from harness.errors import ConfigError
from harness.runtime.bootstrap import HandlerSpecError, parse_handler, trace_header
from harness.runtime.config import RuntimeConfig
from harness.runtime.events import (
    ddb_batch_info,
    ddb_record,
    destination_record,
    parse_batch_response,
    scheduled_event,
    sns_record,
    sqs_record,
)
from harness.runtime.filters import matches, matches_any, sqs_filter_view
from harness.runtime.logs import billed, tail_text
from harness.runtime.metrics import percentile
from harness.runtime.names import function_key
from harness.runtime.pollers.eventbridge_poller import rule_name_and_bus
from harness.runtime.retry import next_async_retry
from harness.runtime.schedule import ScheduleError, parse_schedule


def ts(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def iso(value: float) -> str:
    return datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%d %H:%M")


# -- handler strings ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("handler", "expected"),
    [
        ("app.handler", ("app", "handler")),
        ("src/app.handler", ("src.app", "handler")),
        ("pkg/sub/mod.fn", ("pkg.sub.mod", "fn")),
        ("pkg.sub.mod.fn", ("pkg.sub.mod", "fn")),
        (" app.main ", ("app", "main")),
    ],
)
def test_parse_handler(handler: str, expected: tuple[str, str]) -> None:
    assert parse_handler(handler) == expected


@pytest.mark.parametrize("handler", ["handler", "app.", ".fn", ""])
def test_parse_handler_rejects_malformed(handler: str) -> None:
    with pytest.raises(HandlerSpecError):
        parse_handler(handler)


@pytest.mark.parametrize(
    ("given", "name"),
    [
        ("fn", "fn"),
        ("arn:aws:lambda:us-east-1:000000000000:function:fn", "fn"),
        ("arn:aws:lambda:us-east-1:000000000000:function:fn:$LATEST", "fn"),
        ("000000000000:function:fn", "fn"),
        ("fn:$LATEST", "fn"),
    ],
)
def test_function_names_and_arns(given: str, name: str) -> None:
    assert function_key(given) == name


# -- schedules -----------------------------------------------------------------------------------


def test_rate_schedules() -> None:
    assert parse_schedule("rate(5 minutes)").seconds == 300  # type: ignore[union-attr]
    assert parse_schedule("rate(1 hour)").seconds == 3600  # type: ignore[union-attr]
    assert parse_schedule("rate(2 days)").seconds == 172800  # type: ignore[union-attr]
    rate = parse_schedule("rate(5 minutes)")
    assert rate.next_after(1000.0, 1000.0) == 1300.0
    assert rate.next_after(1299.0, 1000.0) == 1300.0
    assert rate.next_after(1300.0, 1000.0) == 1600.0


@pytest.mark.parametrize(
    "expr",
    ["rate(0 minutes)", "rate(1 minutes)", "rate(5 minute)", "rate(5 weeks)", "every 5 minutes",
     "cron(0 12 * * * *)", "cron(0 12 ? * ? *)", "cron(61 * * * ? *)", "cron(0 12 * *)"],
)  # fmt: skip
def test_invalid_schedules(expr: str) -> None:
    with pytest.raises(ScheduleError):
        parse_schedule(expr)


@pytest.mark.parametrize(
    ("expr", "after", "expected"),
    [
        ("cron(0 3 * * ? *)", "2026-01-01 02:59", "2026-01-01 03:00"),
        ("cron(0 3 * * ? *)", "2026-01-01 03:00", "2026-01-02 03:00"),
        ("cron(0/15 * * * ? *)", "2026-01-01 10:07", "2026-01-01 10:15"),
        ("cron(0 18 ? * MON-FRI *)", "2026-01-02 19:00", "2026-01-05 18:00"),  # Fri → Mon
        ("cron(0 9 L * ? *)", "2026-02-03 00:00", "2026-02-28 09:00"),
        ("cron(0 10 ? * 6#3 *)", "2026-01-01 00:00", "2026-01-16 10:00"),  # 3rd Friday
        ("cron(30 8 1 JAN,JUL ? 2027)", "2026-06-01 00:00", "2027-01-01 08:30"),
        ("cron(0 12 15W * ? *)", "2026-08-01 00:00", "2026-08-14 12:00"),  # 15th is a Saturday
        ("cron(0 0 ? * 1L *)", "2026-01-01 00:00", "2026-01-25 00:00"),  # last Sunday
    ],
)
def test_cron_next_fire(expr: str, after: str, expected: str) -> None:
    assert iso(parse_schedule(expr).next_after(ts(after))) == expected


# -- event shapes -----------------------------------------------------------------------------------


def test_sqs_record_shape() -> None:
    message = {
        "MessageId": "m1",
        "ReceiptHandle": "rh",
        "MD5OfBody": "md5",
        "Body": "hello",
        "Attributes": {
            "SenderId": "000000000000",
            "SentTimestamp": "1",
            "ApproximateReceiveCount": "2",
            "ApproximateFirstReceiveTimestamp": "3",
            "MessageGroupId": "g",
            "Unrelated": "x",
        },
        "MessageAttributes": {"tenant": {"StringValue": "t1", "DataType": "String"}},
    }
    record = sqs_record(message, "arn:aws:sqs:us-east-1:000000000000:q", "us-east-1")
    assert record == {
        "messageId": "m1",
        "receiptHandle": "rh",
        "body": "hello",
        "attributes": {
            "ApproximateReceiveCount": "2",
            "SentTimestamp": "1",
            "SenderId": "000000000000",
            "ApproximateFirstReceiveTimestamp": "3",
            "MessageGroupId": "g",
        },
        "messageAttributes": {
            "tenant": {
                "stringValue": "t1",
                "dataType": "String",
                "stringListValues": [],
                "binaryListValues": [],
            }
        },
        "md5OfBody": "md5",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:q",
        "awsRegion": "us-east-1",
    }


def test_sns_record_shape() -> None:
    envelope = {
        "Type": "Notification",
        "MessageId": "id1",
        "TopicArn": "arn:aws:sns:us-east-1:000000000000:t",
        "Subject": "s",
        "Message": "m",
        "Timestamp": "2026-01-01T00:00:00.000Z",
        "MessageAttributes": {"k": {"Type": "String", "Value": "v"}},
    }
    record = sns_record(envelope, "arn:sub")
    assert record["EventSource"] == "aws:sns" and record["EventSubscriptionArn"] == "arn:sub"
    assert record["Sns"]["MessageAttributes"] == {"k": {"Type": "String", "Value": "v"}}
    assert {
        k: record["Sns"][k]
        for k in ("Type", "MessageId", "TopicArn", "Subject", "Message", "Timestamp")
    } == {
        k: envelope[k] for k in ("Type", "MessageId", "TopicArn", "Subject", "Message", "Timestamp")
    }


def test_scheduled_event_shape() -> None:
    event = scheduled_event(
        "arn:aws:events:us-east-1:000000000000:rule/r",
        "000000000000",
        "us-east-1",
        ts("2026-01-01 03:00"),
    )
    assert event["detail-type"] == "Scheduled Event" and event["source"] == "aws.events"
    assert event["time"] == "2026-01-01T03:00:00Z"
    assert event["resources"] == ["arn:aws:events:us-east-1:000000000000:rule/r"]
    assert event["detail"] == {} and event["version"] == "0"


def test_ddb_record_and_batch_info() -> None:
    raw = {
        "eventID": "e1",
        "eventName": "INSERT",
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "ddblocal",
        "dynamodb": {
            "ApproximateCreationDateTime": datetime(2026, 1, 1, tzinfo=UTC),
            "Keys": {"pk": {"S": "a"}},
            "NewImage": {"pk": {"S": "a"}},
            "SequenceNumber": "100",
            "SizeBytes": 10,
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        },
    }
    local = "arn:aws:dynamodb:ddblocal:000000000000:table/T/stream/2026-01-01T00:00:00.000"
    record = ddb_record(raw, local, "us-east-1")
    # the region AWS would say, not DynamoDB Local's "ddblocal"
    assert record["awsRegion"] == "us-east-1"
    assert record["eventSourceARN"] == local.replace(":ddblocal:", ":us-east-1:")
    assert record["eventSource"] == "aws:dynamodb"
    assert record["dynamodb"]["ApproximateCreationDateTime"] == ts("2026-01-01 00:00")
    json.dumps(record)
    info = ddb_batch_info([record, record], "shard-1", "arn:stream")
    assert info["batchSize"] == 2 and info["shardId"] == "shard-1"
    assert info["startSequenceNumber"] == info["endSequenceNumber"] == "100"
    assert info["approximateArrivalOfFirstRecord"] == "2026-01-01T00:00:00.000Z"


def test_destination_record_shape() -> None:
    record = destination_record(
        request_id="r1",
        function_arn="arn:aws:lambda:us-east-1:000000000000:function:f",
        condition="RetriesExhausted",
        invoke_count=3,
        request_payload={"a": 1},
        response_payload={"errorMessage": "x", "errorType": "E"},
        function_error="Unhandled",
    )
    assert record["version"] == "1.0" and record["timestamp"].endswith("Z")
    assert record["requestContext"] == {
        "requestId": "r1",
        "functionArn": "arn:aws:lambda:us-east-1:000000000000:function:f:$LATEST",
        "condition": "RetriesExhausted",
        "approximateInvokeCount": 3,
    }
    assert record["requestPayload"] == {"a": 1}
    assert record["responseContext"]["functionError"] == "Unhandled"
    assert record["responsePayload"]["errorType"] == "E"
    stream = destination_record(
        request_id="r", function_arn="arn:f", condition="RetryAttemptsExhausted",
        invoke_count=2, extra={"DDBStreamBatchInfo": {"batchSize": 1}},
    )  # fmt: skip
    assert "requestPayload" not in stream and stream["DDBStreamBatchInfo"] == {"batchSize": 1}


# -- partial batch responses ----------------------------------------------------------------------------

IDS = ["a", "b", "c"]


@pytest.mark.parametrize(
    ("payload", "failed", "all_failed"),
    [
        (None, [], False),
        ({}, [], False),
        ({"batchItemFailures": []}, [], False),
        ({"batchItemFailures": None}, [], False),
        (b'"not an object"', [], False),
        (b'{"batchItemFailures": [{"itemIdentifier": "b"}]}', ["b"], False),
        (
            {"batchItemFailures": [{"itemIdentifier": "c"}, {"itemIdentifier": "a"}]},
            ["c", "a"],
            False,
        ),
        ({"batchItemFailures": [{"itemIdentifier": "zzz"}]}, IDS, True),
        ({"batchItemFailures": [{"itemIdentifier": ""}]}, IDS, True),
        ({"batchItemFailures": [{"itemIdentifier": None}]}, IDS, True),
        ({"batchItemFailures": [{"wrongKey": "a"}]}, IDS, True),
        ({"batchItemFailures": "a"}, IDS, True),
        (b"{not json", IDS, True),
    ],
)
def test_parse_batch_response(payload: object, failed: list[str], all_failed: bool) -> None:
    result = parse_batch_response(payload, IDS)
    assert result.failed_ids == failed
    assert result.all_failed is all_failed


# -- retries, config, logs ---------------------------------------------------------------------------


def test_async_retry_schedule() -> None:
    delays = [60.0, 120.0]
    first = next_async_retry(1, 2, delays, age_s=0, max_age_s=21600)
    second = next_async_retry(2, 2, delays, age_s=60, max_age_s=21600)
    assert (first.retry, first.delay_s) == (True, 60.0)
    assert (second.retry, second.delay_s) == (True, 120.0)
    assert next_async_retry(3, 2, delays, 180, 21600).condition == "RetriesExhausted"
    assert next_async_retry(1, 0, delays, 0, 21600).condition == "RetriesExhausted"
    assert next_async_retry(1, 2, delays, 50, 100).condition == "EventAgeExceeded"
    assert next_async_retry(5, 9, delays, 0, 21600).delay_s == 120.0  # last delay repeats


def test_runtime_config_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARNESS_RUNTIME_ASYNC_RETRY_DELAYS", "0.1,0.2")
    monkeypatch.setenv("HARNESS_RUNTIME_MAX_WORKERS", "3")
    config = RuntimeConfig.load(max_workers=5)
    assert config.retry_delays == [0.1, 0.2]
    assert config.resolved_max_workers == 5  # the argument beats the env var
    monkeypatch.setenv("HARNESS_RUNTIME_IDLE_TIMEOUT_S", "soon")
    with pytest.raises(ConfigError):
        RuntimeConfig.load()


def test_tail_is_the_last_4kb_base64() -> None:
    report = {
        "durationMs": 1.5,
        "billedDurationMs": 2,
        "memorySizeMB": 128,
        "maxMemoryUsedMB": 30,
        "initDurationMs": None,
    }
    lines = [["stdout", "", "x" * 100] for _ in range(100)]
    raw = base64.b64decode(tail_text("r1", lines, report))
    assert len(raw) == 4096
    assert raw.decode().rstrip().endswith("Max Memory Used: 30 MB")
    assert billed(0.2) == 1 and billed(10.01) == 11


def test_percentile_and_rule_arn() -> None:
    assert percentile([], 50) is None
    assert percentile([float(i) for i in range(1, 101)], 50) == 50.0
    assert percentile([float(i) for i in range(1, 101)], 99) == 99.0
    assert rule_name_and_bus("arn:aws:events:us-east-1:000000000000:rule/r1") == ("r1", "default")
    assert rule_name_and_bus("arn:aws:events:us-east-1:000000000000:rule/bus1/r1") == ("r1", "bus1")


# -- event filtering -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "event", "expected"),
    [
        ({"body": {"kind": ["order"]}}, {"body": {"kind": "order"}}, True),
        ({"body": {"kind": ["order"]}}, {"body": {"kind": "refund"}}, False),
        ({"body": {"kind": ["order"]}}, {"body": "plain text"}, False),
        ({"body": {"sku": [{"prefix": "A-"}]}}, {"body": {"sku": "A-12"}}, True),
        ({"body": {"sku": [{"suffix": "-X"}]}}, {"body": {"sku": "A-12"}}, False),
        ({"body": {"n": [{"numeric": [">", 10, "<=", 20]}]}}, {"body": {"n": 15}}, True),
        ({"body": {"n": [{"numeric": [">", 10]}]}}, {"body": {"n": "15"}}, False),
        ({"body": {"tier": [{"anything-but": ["free"]}]}}, {"body": {"tier": "pro"}}, True),
        ({"body": {"tier": [{"anything-but": ["free"]}]}}, {"body": {"tier": "free"}}, False),
        ({"body": {"tenant": [{"exists": True}]}}, {"body": {"tenant": "t1"}}, True),
        ({"body": {"tenant": [{"exists": False}]}}, {"body": {"tenant": "t1"}}, False),
        ({"body": {"tenant": [{"exists": False}]}}, {"body": {}}, True),
        ({"eventName": ["INSERT", "MODIFY"]}, {"eventName": "REMOVE"}, False),
        ({"body": {"tags": ["a"]}}, {"body": {"tags": ["b", "a"]}}, True),
        ({"body": {"s": [{"equals-ignore-case": "ok"}]}}, {"body": {"s": "OK"}}, True),
    ],
)
def test_filter_patterns(pattern: dict[str, Any], event: dict[str, Any], expected: bool) -> None:
    assert matches(pattern, event) is expected


def test_filter_any_and_sqs_view() -> None:
    record = {"messageId": "m", "body": '{"kind": "order"}'}
    view = sqs_filter_view(record)
    assert view["body"] == {"kind": "order"} and record["body"] == '{"kind": "order"}'
    assert matches_any([], view)
    assert matches_any([{"body": {"kind": ["x"]}}, {"body": {"kind": ["order"]}}], view)
    assert sqs_filter_view({"body": "{broken"})["body"] == "{broken"


def test_each_invocation_gets_an_x_ray_trace_header_like_lambda() -> None:
    import re

    caller = {"headers": {"X-Amzn-Trace-Id": "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=0"}}
    kept, parent = trace_header(caller, active=True)
    assert kept.startswith("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=")
    assert kept.endswith(";Sampled=0")  # the caller's sampling decision wins
    assert parent is None  # the caller named no parent span
    message = {
        "attributes": {
            "AWSTraceHeader": "Root=1-5759e988-00000000000000000000abcd;Parent=00000000000000aa;Sampled=1"
        }
    }
    consumer, parent = trace_header({"Records": [message, {"attributes": {}}]}, active=False)
    assert consumer.startswith("Root=1-5759e988-00000000000000000000abcd;Parent=")
    assert consumer.endswith(";Sampled=1")  # the producer's decision travels with the message
    assert parent == "00000000000000aa"  # the invocation span's parent: the producer's send
    assert "Parent=00000000000000aa" not in consumer  # the invocation's own span id is new
    fresh, parent = trace_header({"Records": []}, active=True)
    assert re.fullmatch(r"Root=1-[0-9a-f]{8}-[0-9a-f]{24};Parent=[0-9a-f]{16};Sampled=1", fresh)
    assert parent is None
    assert trace_header(None, active=False)[0].endswith(";Sampled=0")
    assert trace_header(
        {"headers": {"x-amzn-trace-id": "Root=1-a-b"}}, active=False
    ) != trace_header(
        {"headers": {"x-amzn-trace-id": "Root=1-a-b"}}, active=False
    )  # a new parent segment per invocation
    # an SNS or EventBridge delivery: the invoker's header wins over the event's
    carried = "Root=1-5759e988-bd862e3fe1be46a9942727ff;Parent=00000000000000bb;Sampled=1"
    header, parent = trace_header(caller, active=False, carried=carried)
    assert (
        header.startswith("Root=1-5759e988-bd862e3fe1be46a9942727ff;")
        and parent == "00000000000000bb"
    )


def test_default_worker_cap_follows_cores_and_memory() -> None:
    from harness.runtime.config import _default_max_workers

    assert _default_max_workers(2, 24 * 1024) == 64  # 32 per core
    assert _default_max_workers(2, 7 * 1024) == 28  # one per 256 MB on a small CI machine
    assert _default_max_workers(1, 1024) == 8  # never under 8
    assert _default_max_workers(4, 0) == 32  # memory unknown: 8 per core, as before
