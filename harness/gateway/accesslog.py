"""Access logs as JSON lines, one per request, in API Gateway's ``$context`` variable names.

Written to ``<state_dir>/logs/access.log`` by every worker: lines are buffered and flushed in
one ``write`` on an ``O_APPEND`` descriptor (every 256 lines or 0.5 s), so lines of different
workers never interleave and the per-request cost is a dict and a list append.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from pathlib import Path
from typing import Any

from harness.gateway.context import RequestContext
from harness.gateway.jsonutil import dumps
from harness.gateway.payload import format_time
from harness.obs import trace_root

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
        "traceId": trace_root(ctx.header("x-amzn-trace-id")),
        "userAgent": ctx.header("user-agent"),
    }


class AccessLog:
    def __init__(self, path: Path, flush_lines: int = 256, flush_interval: float = 0.5) -> None:
        self.path = Path(path)
        self.flush_lines = flush_lines
        self.flush_interval = flush_interval
        self._buffer: list[bytes] = []
        self._fd: int | None = None
        self._scheduled = False

    def write(self, record: dict[str, Any]) -> None:
        self._buffer.append(dumps(record) + b"\n")
        if len(self._buffer) >= self.flush_lines:
            self.flush()
        elif not self._scheduled:
            self._scheduled = True
            try:
                asyncio.get_running_loop().call_later(self.flush_interval, self.flush)
            except RuntimeError:
                self.flush()

    def flush(self) -> None:
        self._scheduled = False
        if not self._buffer:
            return
        data = b"".join(self._buffer)
        self._buffer.clear()
        try:
            if self._fd is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            os.write(self._fd, data)
        except OSError as exc:
            logger.warning("gateway: cannot write the access log %s: %s", self.path, exc)

    def close(self) -> None:
        self.flush()
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
