"""CORS preflights and response headers from CorsSpec."""

from __future__ import annotations

from harness.gateway.cors import cors_headers, is_preflight, preflight
from harness.model import CorsSpec
from tests.fixtures.gateway.helpers import api_of, ctx_for

CORS = CorsSpec(
    allow_origins=["https://app.example.com"],
    allow_methods=["GET", "POST"],
    allow_headers=["authorization"],
    expose_headers=["x-request-id"],
    allow_credentials=True,
    max_age=300,
)


def _ctx(headers: list[tuple[str, str]], method: str = "OPTIONS"):
    return ctx_for(api_of("http", cors=CORS), method, "/x", headers=headers)


def test_preflight_for_an_allowed_origin() -> None:
    ctx = _ctx([("origin", "https://app.example.com"), ("access-control-request-method", "POST")])
    assert is_preflight(ctx)
    response = preflight(ctx, CORS)
    headers = dict(response.headers)
    assert response.status == 204 and response.body == b""
    assert headers[b"access-control-allow-origin"] == b"https://app.example.com"
    assert headers[b"access-control-allow-methods"] == b"GET,POST"
    assert headers[b"access-control-allow-headers"] == b"authorization"
    assert headers[b"access-control-allow-credentials"] == b"true"
    assert headers[b"access-control-max-age"] == b"300"


def test_preflight_for_another_origin_or_method_has_no_cors_headers() -> None:
    other = _ctx([("origin", "https://evil.example"), ("access-control-request-method", "GET")])
    assert preflight(other, CORS).headers == []
    wrong = _ctx([("origin", "https://app.example.com"), ("access-control-request-method", "PUT")])
    assert preflight(wrong, CORS).headers == []


def test_plain_options_is_not_a_preflight() -> None:
    assert not is_preflight(_ctx([("origin", "https://app.example.com")]))


def test_wildcard_origin_and_headers() -> None:
    cors = CorsSpec(allow_origins=["*"], allow_methods=["*"], allow_headers=["*"])
    ctx = _ctx(
        [
            ("origin", "https://x.example"),
            ("access-control-request-method", "DELETE"),
            ("access-control-request-headers", "x-a,x-b"),
        ]
    )
    headers = dict(preflight(ctx, cors).headers)
    assert headers[b"access-control-allow-origin"] == b"*"
    assert headers[b"access-control-allow-headers"] == b"x-a,x-b"


def test_actual_response_headers() -> None:
    ctx = _ctx([("origin", "https://app.example.com")], method="GET")
    headers = dict(cors_headers(ctx, CORS))
    assert headers[b"access-control-allow-origin"] == b"https://app.example.com"
    assert headers[b"access-control-expose-headers"] == b"x-request-id"
    assert cors_headers(_ctx([], method="GET"), CORS) == []
