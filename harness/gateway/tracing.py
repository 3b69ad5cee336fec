"""The gateway's spans: one per request (SERVER), one per step of the chain (route,
authorizer, throttle, integration), written when the response has been sent.

The chain (gateway.py) only notes ``(step, perf_counter)`` as each step begins; this module turns
the notes into spans afterwards (harness/obs/spans.py says why). The request continues the
client's trace when it sends W3C ``traceparent`` or ``X-Amzn-Trace-Id`` (the first valid one, in
that order), else starts one; the function is called with ``X-Amzn-Trace-Id`` naming the
integration span as its parent, as API Gateway does with X-Ray tracing on, and the response
carries ``X-Amzn-Trace-Id: Root=...`` so a client can find its trace.
"""

from __future__ import annotations

import time

from opentelemetry.trace import SpanKind

from harness.gateway.context import RequestContext
from harness.obs.spans import (
    SpanRecorder,
    new_span_id,
    new_trace_id,
    parse_traceparent,
    parse_xray,
    xray_header,
    xray_root,
)

__all__ = ["authorizer_trace_header", "begin", "emit", "lambda_trace_header", "response_header"]


def begin(ctx: RequestContext) -> None:
    """Give the request its trace (the client's, if it sent one) and its span id."""
    incoming = parse_traceparent(ctx.header("traceparent")) or parse_xray(
        ctx.header("x-amzn-trace-id")
    )
    if incoming is not None:
        ctx.trace_id, ctx.trace_parent = incoming.trace_id, incoming.parent
    else:
        ctx.trace_id = new_trace_id()
    ctx.span_id = new_span_id()


def lambda_trace_header(ctx: RequestContext) -> str:
    """``X-Amzn-Trace-Id`` for the function: this request's root, the integration span as parent."""
    ctx.integration_span = new_span_id()
    return xray_header(ctx.trace_id, ctx.integration_span)


def authorizer_trace_header(ctx: RequestContext) -> str:
    """``X-Amzn-Trace-Id`` for a Lambda authorizer: this request's root, the authorizer step's
    span as parent."""
    ctx.authorizer_span = new_span_id()
    return xray_header(ctx.trace_id, ctx.authorizer_span)


def response_header(ctx: RequestContext) -> tuple[bytes, bytes]:
    return (b"x-amzn-trace-id", f"Root={xray_root(ctx.trace_id)}".encode())


def emit(recorder: SpanRecorder, ctx: RequestContext, status: int) -> None:
    end = time.perf_counter()
    base_ns = int(ctx.start_epoch * 1e9) - int(ctx.start * 1e9)
    route = ctx.route
    api = ctx.api
    error = None
    if status >= 500:
        error = ctx.integration_error or ctx.error_type or f"HTTP {status}"
    recorder.record(
        route.route_key if route else f"{ctx.method} {ctx.path}",
        ctx.trace_id,
        ctx.span_id,
        ctx.trace_parent,
        int(ctx.start_epoch * 1e9),
        base_ns + int(end * 1e9),
        {
            "http.request.method": ctx.method,
            "url.path": ctx.path,
            "http.route": route.route_key if route else None,
            "http.response.status_code": status,
            "aws.request_id": ctx.request_id,
            "correlation_id": ctx.correlation_id,
            "tenant": ctx.tenant,
            "stack": api.stack.name if api else None,
            "api": api.spec.logical_id if api else None,
            "error.type": ctx.error_type or None,
            "authorizer.error": ctx.authorizer_error or None,
        },
        SpanKind.SERVER,
        error,
    )
    marks = ctx.marks
    for i, (step, started) in enumerate(marks):
        finished = marks[i + 1][1] if i + 1 < len(marks) else end
        step_error = None
        attrs: dict[str, object] = {}
        if step == "integration":
            span_id = ctx.integration_span or new_span_id()
            attrs["integration.status"] = ctx.integration_status
            attrs["integration.latency_ms"] = ctx.integration_latency_ms
            if ctx.integration_error:
                step_error = ctx.integration_error
            if ctx.target is not None:
                attrs["function"] = ctx.target.function_name
        elif step == "authorizer":
            span_id = ctx.authorizer_span or new_span_id()
            if ctx.authorizer_error:
                step_error = ctx.authorizer_error
        else:
            span_id = new_span_id()
        if i + 1 == len(marks) and status >= 400 and step_error is None and step != "integration":
            step_error = ctx.error_type or f"HTTP {status}"  # the step that answered
        recorder.record(
            step,
            ctx.trace_id,
            span_id,
            ctx.span_id,
            base_ns + int(started * 1e9),
            base_ns + int(finished * 1e9),
            attrs,
            SpanKind.INTERNAL,
            step_error,
        )
