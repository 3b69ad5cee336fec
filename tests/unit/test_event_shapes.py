"""The events the harness builds, compared key by key and type by type with the events AWS
documents (tests/fixtures/events/: AWS's own examples and powertools' sample events)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from harness.gateway.payload import build_v1, build_v2
from harness.model import IntegrationSpec, RouteSpec
from harness.runtime.events import (
    ddb_record,
    scheduled_event,
    scheduler_input,
    sns_record,
    sqs_record,
)
from tests.fixtures.gateway.helpers import api_of, ctx_for

EVENTS = Path(__file__).parents[1] / "fixtures" / "events"
REGION = "us-east-1"


def load(name: str) -> Any:
    return json.loads((EVENTS / name).read_text())


def assert_shape(
    ours: Any, documented: Any, where: str = "event", *, skip: frozenset[str] = frozenset()
) -> None:
    """``ours`` has every key ``documented`` has (recursively, except ``skip`` paths), with a
    value of the same JSON type; a documented ``null`` accepts any value. Dicts whose keys are
    data (headers) are skipped by their path."""
    if documented is None:
        return
    if isinstance(documented, dict):
        assert isinstance(ours, dict), f"{where}: {type(ours).__name__}, documented an object"
        for key, value in documented.items():
            path = f"{where}.{key}"
            if path in skip:
                continue
            assert key in ours, f"{path}: missing (documented {json.dumps(value)[:60]})"
            assert_shape(ours[key], value, path, skip=skip)
        return
    if isinstance(documented, list):
        assert isinstance(ours, list), f"{where}: {type(ours).__name__}, documented a list"
        if documented and ours:
            assert_shape(ours[0], documented[0], f"{where}[0]", skip=skip)
        return
    kind = (
        bool
        if isinstance(documented, bool)
        else (int, float)
        if isinstance(documented, int | float)
        else str
    )
    assert isinstance(ours, kind) and (kind is bool or not isinstance(ours, bool)), (
        f"{where}: {ours!r} is not a {getattr(kind, '__name__', 'number')} like {documented!r}"
    )


def test_shape_check_fails_on_a_broken_event() -> None:
    documented = {"a": {"b": "x", "c": [1]}, "d": None}
    assert_shape({"a": {"b": "y", "c": [2, 3]}, "d": 5, "extra": 1}, documented)
    for broken in ({"a": {"b": 1, "c": [1]}}, {"a": {"c": [1]}}, {"a": {"b": "x", "c": ["1"]}}):
        with pytest.raises(AssertionError):
            assert_shape(broken, documented)


# -- API Gateway ----------------------------------------------------------------------------------


def test_rest_event_is_shaped_like_aws_rest_example() -> None:
    doc = load("aws_rest_proxy_event.json")
    api = api_of(
        "rest",
        [RouteSpec("ANY", "/{proxy+}", IntegrationSpec(type="lambda", function="Fn", payload_format="1.0"))],
        api_id="gy415nuibc",
        stage="testStage",
        stage_variables={"stageVariableName": "stageVariableValue"},
    )  # fmt: skip
    ctx = ctx_for(
        api,
        "POST",
        "/hello/world",
        query="name=me&multivalueName=you&multivalueName=me",
        headers=[
            ("Content-Type", "application/json"),
            ("headerName", "headerValue"),
            ("Host", "gy415nuibc.execute-api.us-east-1.amazonaws.com"),
            ("User-Agent", "PostmanRuntime/2.4.5"),
            ("X-Forwarded-For", "54.240.196.186"),
        ],
        body=b'{\r\n\t"a": 1\r\n}',
        source_ip="54.182.214.83",
    )
    event = build_v1(ctx)
    assert set(event) == set(doc)  # no "version": the REST example has none
    assert_shape(
        event,
        doc,
        skip=frozenset(
            {"event.headers", "event.multiValueHeaders", "event.requestContext.resourceId"}
        ),
    )
    for key in (
        "queryStringParameters",
        "multiValueQueryStringParameters",
        "pathParameters",
        "stageVariables",
        "body",
        "isBase64Encoded",
        "resource",
        "path",
        "httpMethod",
    ):
        assert event[key] == doc[key], key  # fmt: skip
    # the last of repeated values, as the example: multivalueName=you&multivalueName=me → "me"
    assert event["queryStringParameters"]["multivalueName"] == "me"
    assert event["headers"]["X-Forwarded-For"] == doc["headers"]["X-Forwarded-For"]
    assert event["headers"]["X-Forwarded-Port"] == "80"  # local: the listener's port, http
    assert event["headers"]["X-Forwarded-Proto"] == "http"
    assert (
        event["multiValueHeaders"]["X-Forwarded-For"] == doc["multiValueHeaders"]["X-Forwarded-For"]
    )
    assert event["requestContext"]["stage"] == "testStage"
    assert event["requestContext"]["resourcePath"] == "/{proxy+}"


def test_http_v1_event_is_shaped_like_powertools_sample() -> None:
    doc = load("powertools_apiGatewayProxyEvent.json")
    api = api_of(
        "http",
        [RouteSpec("GET", "/my/path", IntegrationSpec(type="lambda", function="Fn", payload_format="1.0"))],
        api_id="id",
    )  # fmt: skip
    ctx = ctx_for(
        api,
        "GET",
        "/my/path",
        query="parameter1=value1&parameter1=value2&parameter2=value",
        headers=[("Header1", "value1"), ("Header2", "value1"), ("Header2", "value2"),
                 ("Origin", "https://aws.amazon.com")],
    )  # fmt: skip
    ctx.authorizer = {"claims": None, "scopes": None}
    event = build_v1(ctx)
    assert event["version"] == "1.0" and next(iter(event)) == "version"
    assert set(event) == set(doc)
    assert_shape(
        event,
        doc,
        skip=frozenset(
            {
                "event.requestContext.identity.clientCert",  # mutual TLS: not emulated
                "event.body",  # the sample has a body, this GET none
                "event.headers",  # HTTP APIs lower-case names (compared below)
                "event.multiValueHeaders",
            }
        ),
    )
    # HTTP API 1.0: the first of repeated values, as the documented example
    assert event["queryStringParameters"] == doc["queryStringParameters"]
    assert event["multiValueQueryStringParameters"] == doc["multiValueQueryStringParameters"]
    assert event["headers"]["header2"] == doc["headers"]["Header2"]  # HTTP APIs lower-case
    assert event["headers"]["x-forwarded-for"] == "192.0.2.1"


def test_http_v2_event_is_shaped_like_powertools_sample() -> None:
    doc = load("powertools_apiGatewayProxyV2Event.json")
    api = api_of(
        "http",
        [RouteSpec("ANY", "$default", IntegrationSpec(type="lambda", function="Fn"))],
        stage_variables={"stageVariable1": "value1", "stageVariable2": "value2"},
    )
    ctx = ctx_for(
        api,
        "POST",
        "/my/path",
        query="parameter1=value1&parameter1=value2&parameter2=value",
        headers=[("Header1", "value1"), ("Header2", "value1"), ("Header2", "value2"),
                 ("Cookie", "cookie1; cookie2"), ("User-Agent", "agent")],
        body=b'{"message": "hello world", "username": "tom"}',
    )  # fmt: skip
    ctx.path_params = {"parameter1": "value1"}
    ctx.authorizer = doc["requestContext"]["authorizer"]
    event = build_v2(ctx)
    assert set(event) == set(doc)
    assert_shape(
        event,
        doc,
        skip=frozenset({"event.requestContext.authentication", "event.headers"}),
    )
    assert event["queryStringParameters"] == doc["queryStringParameters"]  # comma-joined
    assert event["cookies"] == doc["cookies"]
    assert event["headers"]["header2"] == doc["headers"]["Header2"]
    assert {"x-forwarded-for", "x-forwarded-port", "x-forwarded-proto"} <= set(event["headers"])


# -- event sources ------------------------------------------------------------------------------


def test_sqs_record_is_shaped_like_powertools_sample() -> None:
    doc = load("powertools_sqsEvent.json")["Records"][0]
    message = {
        "MessageId": "059f36b4-87a3-44ab-83d2-661975830a7d",
        "ReceiptHandle": "AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a...",
        "Body": "Test message.",
        "MD5OfBody": "e4e68fb7bd0e697a0ae8f1bb342846b3",
        "Attributes": {
            "ApproximateReceiveCount": "1",
            "SentTimestamp": "1545082649183",
            "SenderId": "AIDAIENQZJOLO23YVJ4VO",
            "ApproximateFirstReceiveTimestamp": "1545082649185",
        },
        "MessageAttributes": {"testAttr": {"StringValue": "100", "DataType": "Number"}},
    }
    record = sqs_record(message, "arn:aws:sqs:us-east-2:123456789012:my-queue", "us-east-2")
    assert_shape(
        record,
        doc,
        skip={"event.messageAttributes.testAttr.binaryValue"},  # a String attribute
    )
    for key in ("eventSource", "eventSourceARN", "awsRegion", "attributes", "body", "messageId"):
        assert record[key] == doc[key], key


def test_sns_record_is_shaped_like_powertools_sample() -> None:
    doc = load("powertools_snsEvent.json")["Records"][0]
    notification = {
        "Type": "Notification",
        "MessageId": "95df01b4-ee98-5cb9-9903-4c221d41eb5e",
        "TopicArn": "arn:aws:sns:us-east-2:123456789012:sns-lambda",
        "Subject": "TestInvoke",
        "Message": "Hello from SNS!",
        "Timestamp": "2019-01-02T12:45:07.000Z",
        "SignatureVersion": "1",
        "Signature": "EXAMPLE",
        "SigningCertURL": "https://sns.us-east-2.amazonaws.com/SimpleNotification",
        "UnsubscribeURL": "https://sns.us-east-2.amazonaws.com/?Action=Unsubscribe",
        "MessageAttributes": {
            "Test": {"Type": "String", "Value": "TestString"},
            "TestBinary": {"Type": "Binary", "Value": "TestBinary"},
        },
    }
    record = sns_record(notification, doc["EventSubscriptionArn"])
    assert set(record) == set(doc) and set(record["Sns"]) == set(doc["Sns"])
    assert_shape(record, doc)
    for key in ("TopicArn", "MessageAttributes", "SigningCertUrl", "UnsubscribeUrl", "Subject"):
        assert record["Sns"][key] == doc["Sns"][key], key


def test_dynamodb_record_is_shaped_like_powertools_sample_with_a_real_region_and_arn() -> None:
    doc = load("powertools_dynamoStreamEvent.json")["Records"][0]
    raw = {  # what DynamoDB Local's GetRecords answers
        "eventID": "1",
        "eventName": "INSERT",
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "ddblocal",
        "dynamodb": {
            "ApproximateCreationDateTime": datetime(2023, 9, 6, 10, 45, 55, tzinfo=UTC),
            "Keys": {"Id": {"N": "101"}},
            "NewImage": {"Message": {"S": "New item!"}, "Id": {"N": "101"}},
            "SequenceNumber": "111",
            "SizeBytes": 26,
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        },
    }
    local_arn = "arn:aws:dynamodb:ddblocal:000000000000:table/T/stream/2026-12-07T12:06:51.598"
    record = ddb_record(raw, local_arn, REGION)
    assert set(record) == set(doc)
    assert_shape(record, doc)
    assert record["dynamodb"] == {**doc["dynamodb"], "ApproximateCreationDateTime": 1693997155.0}
    assert record["awsRegion"] == REGION
    # AWS's documented form (the sample has a placeholder): arn:aws:dynamodb:REGION:ACCOUNT:...
    assert re.fullmatch(
        r"arn:aws:dynamodb:us-east-1:\d{12}:table/T/stream/[\dT:.-]+", record["eventSourceARN"]
    )


def test_scheduled_event_is_shaped_like_aws_example() -> None:
    doc = load("aws_scheduled_event.json")
    rule = "arn:aws:events:us-east-1:000000000000:rule/nightly"
    event = scheduled_event(rule, "000000000000", REGION, 1444323186.0)
    assert list(event) == list(doc)
    assert_shape(event, doc)
    assert event["time"] == doc["time"]
    assert {k: event[k] for k in ("version", "detail-type", "source", "detail", "region")} == {
        k: doc[k] for k in ("version", "detail-type", "source", "detail", "region")
    }
    assert re.fullmatch(r"[0-9a-f-]{36}", event["id"])


def test_scheduler_input_gets_its_context_attributes() -> None:
    arn = "arn:aws:scheduler:us-east-1:000000000000:schedule/default/nightly-report"
    text = (
        '{"schedule": "<aws.scheduler.schedule-arn>", "at": "<aws.scheduler.scheduled-time>",'
        ' "run": "<aws.scheduler.execution-id>", "attempt": "<aws.scheduler.attempt-number>"}'
    )
    event = json.loads(scheduler_input(text, arn, 1444323186.0))
    assert event["schedule"] == arn
    assert event["at"] == "2015-10-08T16:53:06Z"
    assert re.fullmatch(r"[0-9a-f-]{36}", event["run"]) and event["attempt"] == "1"
    assert scheduler_input('{"plain": 1}', arn, 0.0) == '{"plain": 1}'
