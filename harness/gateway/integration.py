"""The integration step: call the route's target and map its answer (integration request,
integration, integration response in LocalStack's terms).

Lambda proxy outcomes map as API Gateway does: a result → the mapped response; a handler error
(``X-Amz-Function-Error``) or an unmappable result → 502; the function throttled (429 from the
runtime) → 429 ``Too Many Requests``; an unknown function → 500; the runtime unreachable → 503;
no answer within the integration timeout → 504 ``Endpoint request timed out``.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

from harness.gateway import errors
from harness.gateway.context import GatewayResponse, RequestContext
from harness.gateway.invoke import Invoker
from harness.gateway.jsonutil import dumps
from harness.gateway.payload import build_event
from harness.gateway.response import MalformedResponse, map_lambda_result
from harness.gateway.services import ServiceIntegrations
from harness.gateway.tracing import lambda_trace_header

__all__ = ["integrate"]

logger = logging.getLogger(__name__)


def _trace_id() -> str:
    return f"Root=1-{int(time.time()):08x}-{os.urandom(12).hex()}"


async def integrate(
    ctx: RequestContext, invoker: Invoker, services: ServiceIntegrations
) -> GatewayResponse:
    target = ctx.target
    assert target is not None
    kind = target.integration.type
    rest = ctx.is_rest
    if kind == "lambda":
        if not target.function_name:
            ctx.integration_error = "route has no function"
            raise errors.internal_error(rest)
        if ctx.trace_id:  # traced: this request's root, the integration span as parent
            ctx.headers = [(k, v) for k, v in ctx.headers if k.lower() != "x-amzn-trace-id"]
            ctx.headers.append(
                ("X-Amzn-Trace-Id" if rest else "x-amzn-trace-id", lambda_trace_header(ctx))
            )
            ctx._lower = None
        elif ctx.header("x-amzn-trace-id") is None:
            ctx.headers.append(("X-Amzn-Trace-Id" if rest else "x-amzn-trace-id", _trace_id()))
            ctx._lower = None
        event = build_event(ctx)
        outcome = await invoker.invoke(target.function_name, event, target.timeout_s)
        ctx.integration_latency_ms = outcome.latency_ms
        ctx.integration_status = outcome.status or None
        if outcome.kind == "ok":
            try:
                status, headers, body = map_lambda_result(outcome.body, target.payload_format)
            except MalformedResponse as exc:
                ctx.integration_error = f"malformed Lambda proxy response: {exc}"
                ctx.error_type = "malformed"
                raise errors.bad_gateway(rest) from None
            return GatewayResponse(status, headers, body)
        ctx.integration_error = outcome.detail or outcome.kind
        ctx.error_type = outcome.kind
        if outcome.kind == "function_error":
            raise errors.bad_gateway(rest)
        if outcome.kind == "timeout":
            raise errors.timed_out()
        if outcome.kind == "throttled":
            raise errors.throttled()
        if outcome.kind == "unreachable":
            raise errors.service_unavailable()
        raise errors.internal_error(rest)
    if kind in ("sqs", "eventbridge") or (target.integration.subtype or "").startswith(
        ("SQS-", "EventBridge-")
    ):
        status, headers, body = await services.call(ctx)
        return GatewayResponse(status, headers, body)
    if kind == "mock":
        return mock_response(target.integration.response or {})
    if kind == "http":
        return await http_proxy(ctx, target.integration.parameters.get("uri", ""), target.timeout_s)
    ctx.integration_error = f"integration type {kind!r} is not supported by the local gateway"
    raise errors.internal_error(rest)


def mock_response(spec: dict[str, Any]) -> GatewayResponse:
    """A MOCK integration's answer: ``{"statusCode", "body", "headers"}``, or the OpenAPI
    ``x-amazon-apigateway-integration.responses`` form (the ``default`` response: its
    ``statusCode``, ``application/json`` template as body, literal ``responseParameters``)."""
    if "statusCode" in spec or "body" in spec or not spec:
        status = int(spec.get("statusCode", 200))
        body = spec.get("body", "")
        headers = [(b"content-type", b"application/json")]
        for name, value in (spec.get("headers") or {}).items():
            headers.append((str(name).lower().encode("latin-1"), str(value).encode("latin-1")))
        data = body.encode() if isinstance(body, str) else dumps(body)
        return GatewayResponse(status, headers, data)
    chosen = spec.get("default") or next(iter(spec.values()))
    if not isinstance(chosen, dict):
        chosen = {}
    templates = chosen.get("responseTemplates") or {}
    body = templates.get("application/json", next(iter(templates.values()), "")) or ""
    headers = [(b"content-type", b"application/json")]
    for key, value in (chosen.get("responseParameters") or {}).items():
        prefix = "method.response.header."
        text = str(value)
        if key.startswith(prefix) and len(text) >= 2 and text[0] == text[-1] == "'":
            name = key[len(prefix) :].lower().encode("latin-1")
            headers.append((name, text[1:-1].encode("latin-1", "replace")))
    return GatewayResponse(int(chosen.get("statusCode", 200)), headers, str(body).encode())


_HOP = frozenset({"host", "connection", "content-length", "transfer-encoding", "keep-alive"})


async def http_proxy(ctx: RequestContext, uri: str, timeout_s: float) -> GatewayResponse:
    """HTTP_PROXY: forward the request to ``uri`` (``{proxy}``/``{name}`` filled from the path
    parameters, the query string appended) and relay the answer."""
    from urllib.parse import urlsplit

    from harness.gateway.client import HttpPool, Unreachable

    for name, value in ctx.path_params.items():
        uri = uri.replace("{" + name + "+}", value).replace("{" + name + "}", value)
    parts = urlsplit(uri)
    if parts.scheme != "http" or not parts.hostname:
        ctx.integration_error = f"only http:// proxy targets are supported locally ({uri!r})"
        raise errors.internal_error(ctx.is_rest)
    path = parts.path or "/"
    query = "&".join(q for q in (parts.query, ctx.raw_query) if q)
    pool = _PROXY_POOLS.get(f"{parts.scheme}://{parts.netloc}")
    if pool is None:
        pool = _PROXY_POOLS[f"{parts.scheme}://{parts.netloc}"] = HttpPool(
            f"{parts.scheme}://{parts.netloc}", max_idle=16
        )
    headers = [
        (k.encode("latin-1"), v.encode("latin-1")) for k, v in ctx.headers if k.lower() not in _HOP
    ]
    started = time.perf_counter()
    try:
        response = await pool.request(
            ctx.method, path + (f"?{query}" if query else ""), ctx.body, headers, timeout=timeout_s
        )
    except TimeoutError:
        ctx.integration_error = "integration timeout"
        raise errors.timed_out() from None
    except Unreachable as exc:
        ctx.integration_error = str(exc)
        raise errors.service_unavailable() from None
    finally:
        ctx.integration_latency_ms = (time.perf_counter() - started) * 1000
    ctx.integration_status = response.status
    out = [
        (k.encode("latin-1"), v.encode("latin-1"))
        for k, v in response.headers.items()
        if k not in _HOP and k not in ("date", "server")
    ]
    return GatewayResponse(response.status, out, response.body)


_PROXY_POOLS: dict[str, Any] = {}
