"""The typed context one request carries through the gateway's chain of handlers."""

from __future__ import annotations

import base64
import os
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from harness.gateway.registry import CompiledApi, RouteTarget
    from harness.gateway.router import CompiledRoute

__all__ = ["GatewayResponse", "RequestContext", "new_request_id"]


def new_request_id(rest: bool) -> str:
    """REST APIs use UUIDs; HTTP APIs a short base64 id such as ``JKJaXmPLvHcESHA=``."""
    if rest:
        return str(uuid.uuid4())
    return base64.b64encode(os.urandom(10)).decode()


@dataclass(slots=True)
class GatewayResponse:
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes


@dataclass(slots=True)
class RequestContext:
    # -- the request as received (parse) --
    method: str
    path: str  # decoded request path
    raw_path: str  # path as sent (percent-encoding kept)
    raw_query: str
    headers: list[tuple[str, str]]  # names as sent, values decoded latin-1
    source_ip: str
    protocol: str  # "HTTP/1.1"
    body: bytes = b""
    start: float = field(default_factory=time.perf_counter)
    start_epoch: float = field(default_factory=time.time)
    request_id: str = ""
    correlation_id: str = ""
    # -- lookups filled lazily from headers --
    _lower: dict[str, str] | None = None
    # -- routing --
    api: CompiledApi | None = None
    route: CompiledRoute | None = None
    target: RouteTarget | None = None
    api_path: str = "/"  # path after the API prefix (and REST stage)
    path_params: dict[str, str] = field(default_factory=dict)
    # -- authorization / tenancy --
    authorizer: dict[str, Any] | None = None  # requestContext.authorizer content
    claims: dict[str, Any] | None = None  # raw verified JWT claims
    principal_id: str | None = None
    tenant: str | None = None
    tier: str | None = None
    api_key: str | None = None
    api_key_id: str | None = None
    authorizer_latency_ms: float = 0.0
    authorizer_error: str = ""
    # -- integration --
    integration_status: int | None = None
    integration_latency_ms: float | None = None
    integration_error: str = ""
    error_type: str = ""
    # -- response --
    extra_headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    # -- tracing (harness/obs/spans.py): 0 = not traced --
    trace_id: int = 0
    trace_parent: int = 0  # the client's span (traceparent / X-Amzn-Trace-Id Parent)
    span_id: int = 0
    # (step, perf_counter at its start) in chain order; a step ends where the next begins
    marks: list[tuple[str, float]] = field(default_factory=list)
    integration_span: int = 0
    authorizer_span: int = 0  # the authorizer step's span, when a Lambda authorizer was invoked

    def header(self, name: str) -> str | None:
        """A request header by lower-case name; repeated headers joined with commas."""
        lower = self._lower
        if lower is None:
            lower = {}
            for key, value in self.headers:
                k = key.lower()
                lower[k] = f"{lower[k]},{value}" if k in lower else value
            self._lower = lower
        return lower.get(name)

    @property
    def lower_headers(self) -> dict[str, str]:
        self.header("")
        assert self._lower is not None
        return self._lower

    @property
    def is_rest(self) -> bool:
        return self.api is not None and self.api.spec.kind == "rest"
