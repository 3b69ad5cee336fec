"""The Lambda proxy events, compared field by field with the events AWS documents."""

from __future__ import annotations

import base64
import json
from pathlib import Path

from harness.gateway.payload import build_v1, build_v2, format_time
from harness.model import IntegrationSpec, RouteSpec
from tests.fixtures.gateway.helpers import api_of, ctx_for

AWS = Path(__file__).parents[1] / "fixtures" / "gateway" / "aws"
ADDED_HEADERS = {"x-forwarded-for", "x-forwarded-port", "x-forwarded-proto"}


def lam(payload: str = "2.0") -> IntegrationSpec:
    return IntegrationSpec(type="lambda", function="Fn", payload_format=payload)


def test_v2_matches_the_documented_event_field_by_field() -> None:
    expected = json.loads((AWS / "http_v2_event.json").read_text())
    api = api_of(
        "http",
        [RouteSpec("ANY", "$default", lam())],
        stage_variables={"stageVariable1": "value1", "stageVariable2": "value2"},
    )
    api.account_id = "123456789012"
    ctx = ctx_for(
        api,
        "POST",
        "/my/path",
        query="parameter1=value1&parameter1=value2&parameter2=value",
        headers=[
            ("Header1", "value1"),
            ("header2", "value1"),
            ("header2", "value2"),
            ("cookie", "cookie1; cookie2"),
            ("user-agent", "agent"),
            ("host", "id.execute-api.us-east-1.amazonaws.com"),
        ],
        body=b"Hello from Lambda",
    )
    ctx.path_params = {"parameter1": "value1"}
    ctx.authorizer = expected["requestContext"]["authorizer"]
    event = build_v2(ctx)
    assert list(event) == list(expected)  # same fields, same order
    headers = {k: v for k, v in event["headers"].items() if k not in ADDED_HEADERS}
    assert headers.pop("user-agent") == "agent"
    assert headers.pop("host") == "id.execute-api.us-east-1.amazonaws.com"
    assert headers == expected["headers"]
    assert event["headers"]["x-forwarded-for"] == "192.0.2.1"
    assert event["headers"]["x-forwarded-port"] == "80"  # the Host header names no port
    assert event["headers"]["x-forwarded-proto"] == "http"
    for key in expected:
        if key not in ("headers", "requestContext"):
            assert event[key] == expected[key], key
    context = dict(expected["requestContext"])
    context.pop("authentication")  # mutual TLS: not emulated
    # The documented example's "time" (12 Mar) disagrees with its own timeEpoch (4 Mar 2020).
    assert context["time"] == "12/Mar/2020:19:03:58 +0000"
    context["time"] = format_time(context["timeEpoch"] / 1000)
    assert event["requestContext"] == context


def test_v2_omits_empty_optional_fields_and_base64_encodes_binary() -> None:
    api = api_of("http", [RouteSpec("POST", "/up", lam())])
    ctx = ctx_for(
        api, "POST", "/up", headers=[("content-type", "application/octet-stream")], body=b"\x00\xff"
    )
    event = build_v2(ctx)
    for absent in ("cookies", "queryStringParameters", "pathParameters", "stageVariables"):
        assert absent not in event
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == b"\x00\xff"
    assert event["routeKey"] == "POST /up"
    ctx = ctx_for(api, "POST", "/up", headers=[("content-type", "application/json")], body=b"{}")
    assert build_v2(ctx)["isBase64Encoded"] is False


def test_v2_named_stage_is_in_raw_path() -> None:
    api = api_of("http", [RouteSpec("GET", "/x", lam())], stage="live")
    api.stage_segment = "/live"
    event = build_v2(ctx_for(api, "GET", "/x"))
    assert event["rawPath"] == "/live/x"
    assert event["requestContext"]["stage"] == "live"


def test_http_v1_matches_the_documented_event_field_by_field() -> None:
    expected = json.loads((AWS / "http_v1_event.json").read_text())
    api = api_of("http", [RouteSpec("GET", "/my/path", lam("1.0"))], api_id="id")
    api.account_id = "123456789012"
    ctx = ctx_for(
        api,
        "GET",
        "/my/path",
        query="parameter1=value1&parameter1=value2&parameter2=value",
        headers=[("header1", "value1"), ("header2", "value1"), ("header2", "value2"),
                 ("user-agent", "user-agent"), ("host", "id.execute-api.us-east-1.amazonaws.com")],
        body=b"Hello from Lambda!",
        request_id="id=",
        epoch=1583349317.135,
    )  # fmt: skip
    ctx.authorizer = {"claims": None, "scopes": None}
    event = build_v1(ctx)
    assert list(event) == list(expected)
    for key in ("host", "user-agent", *ADDED_HEADERS):
        event["headers"].pop(key)
        event["multiValueHeaders"].pop(key)
    assert event["headers"] == {"header1": "value1", "header2": "value2"}
    assert event["multiValueHeaders"] == expected["multiValueHeaders"]
    for key in expected:
        if key not in ("headers", "multiValueHeaders", "requestContext"):
            assert event[key] == expected[key], key
    # HTTP API 1.0 keeps the first of repeated query values, as the documented example shows
    assert event["queryStringParameters"] == {"parameter1": "value1", "parameter2": "value"}
    got, want = event["requestContext"], dict(expected["requestContext"])
    want_identity = dict(want.pop("identity"))
    want_identity.pop("clientCert")
    got_identity = dict(got.pop("identity"))
    assert set(got_identity) - set(want_identity) == {"apiKey", "apiKeyId", "clientCert"}
    assert {k: got_identity[k] for k in want_identity} == want_identity
    want["extendedRequestId"] = "id="  # ours equals the request id
    assert got == want


def test_rest_v1_matches_the_documented_event_field_by_field() -> None:
    expected = json.loads((AWS / "rest_v1_event.json").read_text())
    api = api_of("rest", [RouteSpec("GET", "/my/path", lam("1.0"))], api_id="id", stage="prod")
    api.account_id = "123456789012"
    ctx = ctx_for(
        api,
        "GET",
        "/my/path",
        query="parameter1=value1&parameter1=value2&parameter2=value",
        headers=[("Header1", "value1"), ("Header2", "value1"), ("Header2", "value2"),
                 ("User-Agent", "user-agent"), ("Host", "id.execute-api.us-east-1.amazonaws.com")],
        body=b"Hello from Lambda!",
        request_id="id=",
        epoch=1583349317.135,
    )  # fmt: skip
    event = build_v1(ctx)
    assert list(event) == list(expected)  # no "version" in REST events
    for key in ("Host", "User-Agent", "X-Forwarded-For", "X-Forwarded-Port", "X-Forwarded-Proto"):
        event["headers"].pop(key)
        event["multiValueHeaders"].pop(key)
    assert event["headers"] == {"Header1": "value1", "Header2": "value2"}
    for key in expected:
        if key not in ("headers", "requestContext"):
            assert event[key] == expected[key], key
    got, want = event["requestContext"], dict(expected["requestContext"])
    got_identity, want_identity = got.pop("identity"), want.pop("identity")
    assert {k: got_identity[k] for k in want_identity} == want_identity
    want["extendedRequestId"] = "id="
    assert got == want
    assert got["path"] == "/prod/my/path"


def test_rest_binary_only_for_binary_media_types() -> None:
    api = api_of("rest", [RouteSpec("POST", "/up", lam("1.0"))], binary_media_types=["image/*"])
    png = ctx_for(api, "POST", "/up", headers=[("Content-Type", "image/png")], body=b"\x89PNG")
    assert build_v1(png)["isBase64Encoded"] is True
    other = ctx_for(api, "POST", "/up", headers=[("Content-Type", "application/zip")], body=b"PK")
    event = build_v1(other)
    assert event["isBase64Encoded"] is False and event["body"] == "PK"


def test_path_parameters_and_stage_variables_v1() -> None:
    api = api_of("rest", [RouteSpec("GET", "/pets/{id}", lam("1.0"))], stage_variables={"a": "b"})
    event = build_v1(ctx_for(api, "GET", "/pets/7"))
    assert event["pathParameters"] == {"id": "7"}
    assert event["stageVariables"] == {"a": "b"}
    assert event["resource"] == "/pets/{id}"
    assert event["queryStringParameters"] is None
    assert event["multiValueQueryStringParameters"] is None


def test_time_format() -> None:
    assert format_time(1583348638.390) == "04/Mar/2020:19:03:58 +0000"
