"""Build the Lambda proxy event for a request: payload format 2.0 (HTTP APIs) and 1.0 (REST
APIs, and HTTP APIs configured for 1.0), field by field as API Gateway documents them."""

from __future__ import annotations

import base64
import time
from fnmatch import fnmatchcase
from typing import Any
from urllib.parse import parse_qsl

from harness.gateway.context import RequestContext

__all__ = [
    "body_is_binary",
    "build_event",
    "build_v1",
    "build_v2",
    "format_time",
    "forwarded_headers",
    "query_pairs",
]

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_TEXT_TYPES = (
    "text/",
    "application/json",
    "application/xml",
    "application/javascript",
    "application/x-www-form-urlencoded",
    "application/graphql",
    "application/ld+json",
    "application/problem+json",
    "application/vnd.api+json",
    "application/hal+json",
)


_last_time: tuple[int, str] = (-1, "")


def format_time(epoch: float) -> str:
    """``12/Mar/2020:19:03:58 +0000`` (API Gateway's requestTime format), memoised per second."""
    global _last_time
    second = int(epoch)
    if _last_time[0] == second:
        return _last_time[1]
    t = time.gmtime(second)
    text = (
        f"{t.tm_mday:02d}/{_MONTHS[t.tm_mon - 1]}/{t.tm_year}:"
        f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} +0000"
    )
    _last_time = (second, text)
    return text


def query_pairs(raw_query: str) -> list[tuple[str, str]]:
    if not raw_query:
        return []
    return parse_qsl(raw_query, keep_blank_values=True)


def body_is_binary(ctx: RequestContext) -> bool:
    """Whether the body goes to the function base64-encoded.

    REST APIs: when the Content-Type matches one of the API's binary media types. HTTP APIs:
    also whenever the content is not text (API Gateway base64-encodes non-text bodies).
    """
    if not ctx.body:
        return False
    content_type = (ctx.header("content-type") or "").split(";", 1)[0].strip().lower()
    api = ctx.api
    if api is not None:
        for pattern in api.spec.binary_media_types:
            if fnmatchcase(content_type, pattern.lower().replace("~1", "/")):
                return True
        if api.spec.kind == "rest":
            return False
    if not content_type:
        try:
            ctx.body.decode("utf-8")
        except UnicodeDecodeError:
            return True
        return False
    return not (content_type.startswith(_TEXT_TYPES) or content_type.endswith(("+json", "+xml")))


def _body(ctx: RequestContext) -> tuple[str | None, bool]:
    if not ctx.body:
        return None, False
    if body_is_binary(ctx):
        return base64.b64encode(ctx.body).decode(), True
    return ctx.body.decode("utf-8", errors="replace"), False


def _domain(ctx: RequestContext) -> tuple[str, str]:
    host = ctx.header("host") or "localhost"
    return host, host.split(".", 1)[0].split(":", 1)[0]


def build_v2(ctx: RequestContext) -> dict[str, Any]:
    api = ctx.api
    route = ctx.route
    assert api is not None and route is not None
    headers: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in ctx.headers:
        lower = name.lower()
        if lower == "cookie":
            cookies.extend(c.strip() for c in value.split(";") if c.strip())
            continue
        headers[lower] = f"{headers[lower]},{value}" if lower in headers else value
    for name, value in forwarded_headers(ctx):
        headers[name.lower()] = value
    host, prefix = _domain(ctx)
    raw_path = api.stage_segment + (ctx.api_path or "/")
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route.route_key,
        "rawPath": raw_path,
        "rawQueryString": ctx.raw_query,
    }
    if cookies:
        event["cookies"] = cookies
    event["headers"] = headers
    if ctx.raw_query:
        params: dict[str, str] = {}
        for key, value in query_pairs(ctx.raw_query):
            params[key] = f"{params[key]},{value}" if key in params else value
        if params:
            event["queryStringParameters"] = params
    request_context: dict[str, Any] = {
        "accountId": _account(ctx),
        "apiId": api.spec.api_id,
    }
    if ctx.authorizer is not None:
        request_context["authorizer"] = ctx.authorizer
    request_context.update(
        {
            "domainName": host,
            "domainPrefix": prefix,
            "http": {
                "method": ctx.method,
                "path": raw_path,
                "protocol": ctx.protocol,
                "sourceIp": ctx.source_ip,
                "userAgent": ctx.header("user-agent") or "",
            },
            "requestId": ctx.request_id,
            "routeKey": route.route_key,
            "stage": api.spec.stage or "$default",
            "time": format_time(ctx.start_epoch),
            "timeEpoch": int(ctx.start_epoch * 1000),
        }
    )
    event["requestContext"] = request_context
    body, is_b64 = _body(ctx)
    if body is not None:
        event["body"] = body
    if ctx.path_params:
        event["pathParameters"] = dict(ctx.path_params)
    event["isBase64Encoded"] = is_b64
    if api.spec.stage_variables:
        event["stageVariables"] = dict(api.spec.stage_variables)
    return event


def _account(ctx: RequestContext) -> str:
    return ctx.api.account_id if ctx.api is not None else "000000000000"


def identity_v1(ctx: RequestContext) -> dict[str, Any]:
    return {
        "accessKey": None,
        "accountId": None,
        "apiKey": ctx.api_key,
        "apiKeyId": ctx.api_key_id,
        "caller": None,
        "clientCert": None,
        "cognitoAuthenticationProvider": None,
        "cognitoAuthenticationType": None,
        "cognitoIdentityId": None,
        "cognitoIdentityPoolId": None,
        "principalOrgId": None,
        "sourceIp": ctx.source_ip,
        "user": None,
        "userAgent": ctx.header("user-agent") or "",
        "userArn": None,
    }


_FORWARDED = ("x-forwarded-for", "x-forwarded-port", "x-forwarded-proto")


def forwarded_headers(ctx: RequestContext) -> list[tuple[str, str]]:
    """``X-Forwarded-For`` (the client's chain plus the address that reached the gateway),
    ``X-Forwarded-Port`` and ``X-Forwarded-Proto`` as API Gateway adds them to every proxy event
    (the REST example of "Lambda proxy integrations in API Gateway" shows all three), telling
    the truth about the local listener: its port, and ``http``."""
    chain = ctx.header("x-forwarded-for")
    host = ctx.header("host") or ""
    _, colon, port = host.rpartition(":")
    if not (colon and port.isdigit()):
        port = "80"
    return [
        ("X-Forwarded-For", f"{chain}, {ctx.source_ip}" if chain else ctx.source_ip),
        ("X-Forwarded-Port", port),
        ("X-Forwarded-Proto", "http"),
    ]


def headers_v1(ctx: RequestContext) -> tuple[dict[str, str], dict[str, list[str]]]:
    """``headers`` (the last of repeated values) and ``multiValueHeaders``, with the forwarding
    headers API Gateway adds."""
    lower = not ctx.is_rest  # HTTP APIs lower-case header names in both formats
    single: dict[str, str] = {}
    multi: dict[str, list[str]] = {}
    for name, value in ctx.headers:
        if name.lower() in _FORWARDED:
            continue
        key = name.lower() if lower else name
        single[key] = value
        multi.setdefault(key, []).append(value)
    for name, value in forwarded_headers(ctx):
        key = name.lower() if lower else name
        single[key] = value
        multi[key] = [value]
    return single, multi


def query_v1(ctx: RequestContext) -> tuple[dict[str, str] | None, dict[str, list[str]] | None]:
    """``queryStringParameters`` and ``multiValueQueryStringParameters`` of payload 1.0.

    A repeated parameter keeps its *last* value in a REST API's event (the documented REST
    example: ``multivalueName=you&multivalueName=me`` gives ``"multivalueName": "me"``) and its
    *first* in an HTTP API's 1.0 event (the documented HTTP API example, which powertools' sample
    ``apiGatewayProxyEvent.json`` copies: ``parameter1`` ``["value1", "value2"]`` gives
    ``"value1"``)."""
    pairs = query_pairs(ctx.raw_query)
    if not pairs:
        return None, None
    last = ctx.is_rest
    single: dict[str, str] = {}
    multi: dict[str, list[str]] = {}
    for key, value in pairs:
        if last or key not in single:
            single[key] = value
        multi.setdefault(key, []).append(value)
    return single, multi


def build_v1(ctx: RequestContext) -> dict[str, Any]:
    api = ctx.api
    route = ctx.route
    assert api is not None and route is not None
    rest = api.spec.kind == "rest"
    headers, multi_headers = headers_v1(ctx)
    query, multi_query = query_v1(ctx)
    host, prefix = _domain(ctx)
    stage = api.spec.stage or "$default"
    resource = route.path if route.path != "$default" else "$default"
    path = ctx.api_path or "/"
    if not rest:
        path = api.stage_segment + path
    request_context: dict[str, Any] = {
        "accountId": _account(ctx),
        "apiId": api.spec.api_id,
    }
    if ctx.authorizer is not None:
        request_context["authorizer"] = ctx.authorizer
    request_context.update(
        {
            "domainName": host,
            "domainPrefix": prefix,
            "extendedRequestId": ctx.request_id,
            "httpMethod": ctx.method,
            "identity": identity_v1(ctx),
            "path": (f"/{stage}{path}" if rest and stage != "$default" else path),
            "protocol": ctx.protocol,
            "requestId": ctx.request_id,
            "requestTime": format_time(ctx.start_epoch),
            "requestTimeEpoch": int(ctx.start_epoch * 1000),
            "resourceId": route.extra.get("resource_id"),
            "resourcePath": resource,
            "stage": stage,
        }
    )
    body, is_b64 = _body(ctx)
    event: dict[str, Any] = {}
    if not rest:
        event["version"] = "1.0"
    event.update(
        {
            "resource": resource,
            "path": path,
            "httpMethod": ctx.method,
            "headers": headers,
            "multiValueHeaders": multi_headers,
            "queryStringParameters": query,
            "multiValueQueryStringParameters": multi_query,
            "requestContext": request_context,
            "pathParameters": dict(ctx.path_params) if ctx.path_params else None,
            "stageVariables": dict(api.spec.stage_variables) if api.spec.stage_variables else None,
            "body": body,
            "isBase64Encoded": is_b64,
        }
    )
    return event


def build_event(ctx: RequestContext) -> dict[str, Any]:
    assert ctx.target is not None
    return build_v2(ctx) if ctx.target.payload_format == "2.0" else build_v1(ctx)
