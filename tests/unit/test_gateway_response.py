"""Lambda proxy results → HTTP responses (API Gateway's integration response)."""

from __future__ import annotations

import base64
import json

import pytest

from harness.gateway.response import MalformedResponse, map_lambda_result


def raw(value: object) -> bytes:
    return json.dumps(value).encode()


def test_structured_v2_with_cookies_and_multi_value_headers() -> None:
    status, headers, body = map_lambda_result(
        raw(
            {
                "statusCode": 201,
                "headers": {"X-One": "1", "Content-Type": "text/plain", "X-Num": 5},
                "multiValueHeaders": {"x-multi": ["a", "b"]},
                "cookies": ["a=1; Path=/", "b=2"],
                "body": "made",
            }
        ),
        "2.0",
    )
    assert status == 201 and body == b"made"
    assert (b"x-one", b"1") in headers and (b"x-num", b"5") in headers
    assert [v for k, v in headers if k == b"x-multi"] == [b"a", b"b"]
    assert [v for k, v in headers if k == b"set-cookie"] == [b"a=1; Path=/", b"b=2"]
    assert [v for k, v in headers if k == b"content-type"] == [b"text/plain"]


def test_v2_without_status_code_is_a_200_json_body() -> None:
    status, headers, body = map_lambda_result(raw({"hello": "world"}), "2.0")
    assert status == 200 and json.loads(body) == {"hello": "world"}
    assert (b"content-type", b"application/json") in headers
    assert map_lambda_result(b'"just a string"', "2.0")[2] == b'"just a string"'


def test_v1_requires_status_code() -> None:
    with pytest.raises(MalformedResponse):
        map_lambda_result(raw({"hello": "world"}), "1.0")


def test_base64_body_is_decoded() -> None:
    data = b"\x89PNG\x00"
    result = {"statusCode": 200, "isBase64Encoded": True, "body": base64.b64encode(data).decode()}
    assert map_lambda_result(raw(result), "1.0")[2] == data


@pytest.mark.parametrize(
    "result",
    [
        b"not json",
        raw({"statusCode": 200, "body": {"an": "object"}}),
        raw({"statusCode": "abc"}),
        raw({"statusCode": 99}),
        raw({"statusCode": 200, "headers": {"x-evil": "a\r\nSet-Cookie: x=1"}}),
        raw({"statusCode": 200, "headers": {"bad name": "v"}}),
        raw({"statusCode": 200, "headers": ["not", "a", "dict"]}),
        raw({"statusCode": 200, "multiValueHeaders": {"x": "not-a-list"}}),
        raw({"statusCode": 200, "headers": {"x": {"nested": 1}}}),
    ],
)
def test_malformed_results_raise(result: bytes) -> None:
    with pytest.raises(MalformedResponse):
        map_lambda_result(result, "1.0")


def test_hop_by_hop_headers_from_the_function_are_dropped() -> None:
    _s, headers, _b = map_lambda_result(
        raw({"statusCode": 200, "headers": {"Content-Length": "999", "Connection": "close"}}), "1.0"
    )
    assert all(k not in (b"content-length", b"connection") for k, _ in headers)


def test_multi_value_headers_win_over_single_for_the_same_name() -> None:
    _s, headers, _b = map_lambda_result(
        raw({"statusCode": 200, "headers": {"x": "single"}, "multiValueHeaders": {"x": ["m1"]}}),
        "1.0",
    )
    assert [v for k, v in headers if k == b"x"] == [b"m1"]
