"""The runtime's span: one per invocation (SERVER kind, service ``lambda``), written when it ends.

Its trace, id and parent come back from the execution environment with the result
(bootstrap.py ``trace_header``): the trace is the caller's (API Gateway's header, the invoker's
``X-Amzn-Trace-Id``, an SQS message's ``AWSTraceHeader``) or a new one; its id is the ``Parent``
of the environment's ``_X_AMZN_TRACE_ID``, so the AWS calls the handler makes through the edge
are its children (bootstrap.js does the same for Node.js). An environment that sends no trace
(a crash) gets a new one, or continues its invoker's.
Attributes: function, request id, cold start and init duration, duration, status and error
type, as Lambda's REPORT line and X-Ray's ``Initialization``/``Invocation`` subsegments say.
"""

from __future__ import annotations

import time

from opentelemetry.trace import SpanKind

from harness.obs.spans import SpanRecorder, new_span_id, new_trace_id, parse_xray

__all__ = ["record_invocation"]


def record_invocation(
    recorder: SpanRecorder,
    *,
    function: str,
    stack: str,
    request_id: str,
    correlation_id: str,
    trace: str,
    trace_parent: str,
    started_perf: float,
    duration_ms: float,
    cold: bool,
    init_ms: float,
    status: str,
    error_type: str | None,
    trigger: str | None,
) -> None:
    context = parse_xray(trace)
    if context is not None and context.parent:
        trace_id, span_id = context.trace_id, context.parent
    else:
        trace_id, span_id = new_trace_id(), new_span_id()
    try:
        parent = int(trace_parent, 16) if trace_parent else 0
    except ValueError:
        parent = 0
    now = time.perf_counter()
    end_ns = time.time_ns()
    start_ns = end_ns - int((now - started_perf) * 1e9)
    if cold:  # the environment's init came first (X-Ray's Initialization subsegment)
        start_ns -= int(init_ms * 1e6)
    recorder.record(
        f"{function} invoke",
        trace_id,
        span_id,
        parent,
        start_ns,
        end_ns,
        {
            "faas.name": function,
            "faas.invocation_id": request_id,
            "faas.coldstart": cold,
            "faas.init_ms": round(init_ms, 3) if cold else None,
            "faas.duration_ms": round(duration_ms, 3),
            "faas.trigger": trigger,
            "stack": stack,
            "correlation_id": correlation_id,
            "status": status,
            "error.type": error_type,
        },
        SpanKind.SERVER,
        None if status == "success" else (error_type or status),
    )
