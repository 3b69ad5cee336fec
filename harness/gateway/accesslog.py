"""Access logs as JSON lines, one per request, in API Gateway's ``$context`` variable names.

Written to ``<state_dir>/logs/access.log`` by every worker: lines are buffered and flushed in
one ``write`` on an ``O_APPEND`` descriptor (every 256 lines or 0.5 s), so lines of different
workers never interleave and the per-request cost is a dict and a list append.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from harness.gateway.context import RequestContext
from harness.gateway.payload import format_time
from harness.obs import JsonLinesLog, trace_root
from harness.obs.spans import xray_root

__all__ = ["AccessLog", "entry"]

logger = logging.getLogger(__name__)


def entry(ctx: RequestContext, status: int, length: int) -> dict[str, Any]:
    api, route = ctx.api, ctx.route
    return {
        "requestId": ctx.request_id,
        "extendedRequestId": ctx.request_id,
        "ip": ctx.source_ip,
        "requestTime": format_time(ctx.start_epoch),
        "requestTimeEpoch": int(ctx.start_epoch * 1000),
        "httpMethod": ctx.method,
        "path": ctx.path,
        "routeKey": route.route_key if route else "-",
        "resourcePath": route.path if route else "-",
        "status": status,
        "protocol": ctx.protocol,
        "responseLength": length,
        "responseLatency": round((time.perf_counter() - ctx.start) * 1000, 3),
        "integrationLatency": (
            round(ctx.integration_latency_ms, 3) if ctx.integration_latency_ms is not None else None
        ),
        "integrationStatus": ctx.integration_status,
        "integrationErrorMessage": ctx.integration_error or None,
        "authorizerError": ctx.authorizer_error or None,
        "errorType": ctx.error_type or None,
        "apiId": api.spec.api_id if api else None,
        "stage": api.spec.stage if api else None,
        "stack": api.stack.name if api else None,
        "api": api.spec.logical_id if api else None,
        "tenantId": ctx.tenant,
        "tier": ctx.tier,
        "principalId": ctx.principal_id,
        "apiKeyId": ctx.api_key_id,
        "correlationId": ctx.correlation_id,
        "traceId": (
            xray_root(ctx.trace_id) if ctx.trace_id else trace_root(ctx.header("x-amzn-trace-id"))
        ),
        "userAgent": ctx.header("user-agent"),
    }


class AccessLog(JsonLinesLog):
    """The gateway's access log: one JSON line a request, buffered, owner-only like every file of
    the environment's state folder."""
