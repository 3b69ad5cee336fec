"""Injected errors must parse in botocore exactly as the real services' errors do."""

from __future__ import annotations

import pytest
from botocore.parsers import create_parser

from harness.chaos.aws_errors import render_error


def _parse(raw: bytes, protocol: str) -> tuple[int, dict]:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    assert int(headers["content-length"]) == len(body)
    parser = create_parser(protocol)
    parsed = parser.parse({"status_code": status, "headers": headers, "body": body}, None)
    return status, parsed


@pytest.mark.parametrize(
    ("service", "protocol", "status", "code"),
    [
        ("dynamodb", "json", 400, "ProvisionedThroughputExceededException"),
        ("dynamodb", "json", 400, "ThrottlingException"),
        ("dynamodb", "json", 500, "InternalServerError"),
        ("secretsmanager", "json", 400, "ThrottlingException"),
        ("ssm", "json", 500, "InternalServerError"),
        ("events", "json", 400, "ThrottlingException"),
        ("s3", "rest-xml", 503, "SlowDown"),
        ("sns", "query", 400, "Throttling"),
        ("sts", "query", 503, "ServiceUnavailable"),
        ("lambda", "rest-json", 429, "TooManyRequestsException"),
    ],
)
def test_botocore_reads_the_code_and_request_id(
    service: str, protocol: str, status: int, code: str
) -> None:
    raw = render_error(
        service, status, code, request_id="req-1", request_content_type="application/x-amz-json-1.0"
    )
    got_status, parsed = _parse(raw, protocol)
    assert got_status == status
    assert parsed["Error"]["Code"] == code
    assert parsed["ResponseMetadata"]["RequestId"] == "req-1"


def test_sqs_json_protocol_carries_the_query_error_header() -> None:
    raw = render_error(
        "sqs", 400, "RequestThrottled", request_content_type="application/x-amz-json-1.0"
    )
    _, parsed = _parse(raw, "json")
    assert parsed["Error"]["Code"] == "RequestThrottled"
    assert parsed["Error"]["Type"] == "Sender"


def test_sqs_query_protocol_is_xml() -> None:
    raw = render_error(
        "sqs", 503, "ServiceUnavailable", request_content_type="application/x-www-form-urlencoded"
    )
    _, parsed = _parse(raw, "query")
    assert parsed["Error"]["Code"] == "ServiceUnavailable"


def test_dynamodb_availability_errors_use_the_coral_namespace() -> None:
    raw = render_error("dynamodb", 400, "ThrottlingException")
    assert b'"__type":"com.amazon.coral.availability#ThrottlingException"' in raw
    raw = render_error("dynamodb", 400, "ProvisionedThroughputExceededException")
    assert b"com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException" in raw


def test_botocore_retries_injected_throttles() -> None:
    from botocore.retries.standard import RetryContext, ThrottledRetryableChecker

    raw = render_error("dynamodb", 400, "ProvisionedThroughputExceededException")
    _, parsed = _parse(raw, "json")
    context = RetryContext(
        attempt_number=1, parsed_response=parsed, http_response=None, caught_exception=None
    )
    assert ThrottledRetryableChecker().is_retryable(context)
