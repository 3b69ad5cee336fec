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
from typing import TYPE_CHECKING

from opentelemetry.trace import SpanKind

from harness.obs.spans import SpanRecorder, new_span_id, new_trace_id, parse_xray, xray_header

if TYPE_CHECKING:
    from harness.runtime.outcome import Outcome

__all__ = ["record_invocation", "trace_outcome"]


def trace_outcome(
    recorder: SpanRecorder,
    function: str,
    stack: str,
    request_id: str,
    correlation_id: str,
    trace: str | None,
    started_perf: float,
    init_ms: float | None,
    outcome: Outcome,
) -> None:
    """The span of one invocation that ended with ``outcome`` (``init_ms``: a cold start's;
    ``trace``: the invoker's header, continued when the environment sent none back)."""
    worker_trace, worker_trace_parent = outcome.trace, outcome.trace_parent
    if not worker_trace and trace:  # the environment sent none back (Node.js, a crash)
        context = parse_xray(trace)
        if context is not None:
            worker_trace = xray_header(context.trace_id, new_span_id())
            worker_trace_parent = f"{context.parent:016x}" if context.parent else ""
    record_invocation(
        recorder,
        function=function,
        stack=stack,
        request_id=request_id,
        correlation_id=correlation_id,
        trace=worker_trace,
        trace_parent=worker_trace_parent,
        started_perf=started_perf,
        duration_ms=outcome.duration_ms,
        cold=init_ms is not None,
        init_ms=init_ms or 0.0,
        status=outcome.status,
        error_type=outcome.span_error_type,
        trigger=None,
    )


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
