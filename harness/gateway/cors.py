"""CORS from ``ApiSpec.cors``: answer preflights, and add the headers to every response.

As HTTP APIs do, a preflight (``OPTIONS`` with ``Origin`` and ``Access-Control-Request-Method``)
is answered by the gateway itself — 204, no integration call, no authorizer — when the API has
a CORS configuration. An origin that is not allowed gets the 204 without CORS headers, which the
browser treats as a refusal.
"""

from __future__ import annotations

from harness.gateway.context import GatewayResponse, RequestContext
from harness.model import CorsSpec

__all__ = ["allowed_origin", "cors_headers", "is_preflight", "preflight"]


def is_preflight(ctx: RequestContext) -> bool:
    return (
        ctx.method == "OPTIONS"
        and ctx.header("origin") is not None
        and ctx.header("access-control-request-method") is not None
    )


def allowed_origin(cors: CorsSpec, origin: str | None) -> str | None:
    if origin is None:
        return None
    if "*" in cors.allow_origins:
        return origin if cors.allow_credentials else "*"
    if origin in cors.allow_origins:
        return origin
    return None


def preflight(ctx: RequestContext, cors: CorsSpec) -> GatewayResponse:
    headers: list[tuple[bytes, bytes]] = []
    origin = allowed_origin(cors, ctx.header("origin"))
    requested = ctx.header("access-control-request-method") or ""
    methods = [m.upper() for m in cors.allow_methods]
    method_ok = "*" in methods or requested.upper() in methods
    if origin is not None and method_ok:
        headers.append((b"access-control-allow-origin", origin.encode("latin-1")))
        headers.append((b"access-control-allow-methods", ",".join(methods).encode("latin-1")))
        if cors.allow_headers:
            if "*" in cors.allow_headers:
                wanted = ctx.header("access-control-request-headers") or "*"
            else:
                wanted = ",".join(cors.allow_headers)
            headers.append((b"access-control-allow-headers", wanted.encode("latin-1")))
        if cors.allow_credentials:
            headers.append((b"access-control-allow-credentials", b"true"))
        if cors.max_age is not None:
            headers.append((b"access-control-max-age", str(cors.max_age).encode()))
        if cors.expose_headers:
            headers.append(
                (b"access-control-expose-headers", ",".join(cors.expose_headers).encode("latin-1"))
            )
        if origin != "*":
            headers.append((b"vary", b"Origin"))
    return GatewayResponse(204, headers, b"")


def cors_headers(ctx: RequestContext, cors: CorsSpec) -> list[tuple[bytes, bytes]]:
    origin = allowed_origin(cors, ctx.header("origin"))
    if origin is None:
        return []
    headers = [(b"access-control-allow-origin", origin.encode("latin-1"))]
    if cors.allow_credentials:
        headers.append((b"access-control-allow-credentials", b"true"))
    if cors.expose_headers:
        headers.append(
            (b"access-control-expose-headers", ",".join(cors.expose_headers).encode("latin-1"))
        )
    if origin != "*":
        headers.append((b"vary", b"Origin"))
    return headers
