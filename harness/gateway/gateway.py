"""The gateway: an ASGI callable that runs each request through a short chain of steps.

    parse (context.py)         read the request, request id, correlation id, 413
    route (registry/router)    API by path prefix, then the most specific route → 404 / 403
    web ACL (waf.py)           the profile's WAF rules: IP sets, rate-based, SQLi/XSS → 403
    cors (cors.py)             answer preflights
    authorize                  JWT / Cognito (jwt_auth.py) or Lambda (lambda_auth.py) → 401/403
    api key + tenant + throttle (throttle.py) → 403 / 429
    integrate (integration.py, services.py) → the response, or 502/503/504
    respond                    headers (request id, correlation id, CORS), access log, metrics,
                               spans (tracing.py: the request and each step above)

Every failure becomes one of API Gateway's own answers (errors.py); an unexpected exception is
logged and answered 500 — never a stack trace to the client, never a dead worker.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

from harness.auth.jwks import KeyStore
from harness.gateway import errors
from harness.gateway.accesslog import AccessLog, entry
from harness.gateway.context import GatewayResponse, RequestContext, new_request_id
from harness.gateway.cors import cors_headers, is_preflight, preflight
from harness.gateway.integration import integrate
from harness.gateway.invoke import Invoker
from harness.gateway.jsonutil import dumps
from harness.gateway.jwks_fetch import PooledJwksFetch
from harness.gateway.jwt_auth import authorize_jwt
from harness.gateway.lambda_auth import LambdaAuthorizer
from harness.gateway.metrics import Metrics
from harness.gateway.ratelimit import RateLimiter
from harness.gateway.registry import Registry
from harness.gateway.services import ServiceIntegrations
from harness.gateway.throttle import check_api_key, resolve_tenant, throttle
from harness.gateway.tracing import begin, emit, response_header
from harness.metrics import configure as configure_metrics
from harness.metrics.publishers import api_request
from harness.obs.spans import recorder_for

__all__ = ["MAX_PAYLOAD", "Gateway"]

logger = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

MAX_PAYLOAD = 10 * 1024 * 1024  # 10 MB, HTTP and REST APIs alike
MAX_HEADER_BYTES = 10 * 1024  # API Gateway: the request line and headers together
_CORRELATION = re.compile(r"^[\x21-\x7e]{1,200}$")
_TITLE_CACHE: dict[str, str] = {}


def _title(name: str) -> str:
    """``content-type`` → ``Content-Type`` (REST events carry header names as clients send
    them; ASGI servers lower-case them, so the canonical form is the best approximation)."""
    cached = _TITLE_CACHE.get(name)
    if cached is None:
        cached = "-".join(part[:1].upper() + part[1:] for part in name.split("-"))
        if len(_TITLE_CACHE) < 4096:
            _TITLE_CACHE[name] = cached
    return cached


class Gateway:
    def __init__(self, state_dir: Path) -> None:
        self.state_dir = Path(state_dir)
        self.registry = Registry(self.state_dir)
        self.jwks_fetch = PooledJwksFetch()
        self.keystore = KeyStore(self.state_dir, fetch=self.jwks_fetch)
        self.metrics = Metrics()
        configure_metrics(self.state_dir, "gateway")  # AWS/ApiGateway, <state_dir>/metrics
        self.access_log = AccessLog(self.state_dir / "logs" / "access.log")
        self.tracer = recorder_for("gateway", self.state_dir)  # None: HARNESS_TRACING=0
        self.invoker = Invoker(None)
        self.services = ServiceIntegrations(None)
        self.limiter = RateLimiter(None)
        self.lambda_auth = LambdaAuthorizer(self.invoker)
        self._endpoints_seen: dict[str, Any] | None = None
        self.reload()

    # -- configuration -------------------------------------------------------------------

    def reload(self) -> None:
        self.registry.reload()
        self._apply_endpoints()

    def maybe_reload(self) -> None:
        if self.registry.maybe_reload():
            self._apply_endpoints()

    def _apply_endpoints(self) -> None:
        endpoints = self.registry.endpoints
        if endpoints == self._endpoints_seen:
            return
        old = self._endpoints_seen or {}
        self._endpoints_seen = dict(endpoints)
        if endpoints.get("runtime_url") != old.get("runtime_url") or self.invoker.pool is None:
            self.invoker.close()
            self.invoker = Invoker(
                endpoints.get("runtime_url"),
                channel=os.environ.get("HARNESS_GATEWAY_INVOKE_CHANNEL", "1") != "0",
            )
            self.lambda_auth.invoker = self.invoker
        if endpoints.get("aws_endpoint") != old.get("aws_endpoint") or self.services.pool is None:
            self.services.close()
            self.services = ServiceIntegrations(
                endpoints.get("aws_endpoint"), endpoints.get("region", "us-east-1")
            )
        if endpoints.get("redis_url") != old.get("redis_url"):
            self.limiter = RateLimiter(endpoints.get("redis_url"))
        self.keystore.aws_endpoint = endpoints.get("aws_endpoint")
        gateway_url = endpoints.get("gateway_url")
        if gateway_url:
            self.keystore.local_issuer().gateway_url = gateway_url

    async def close(self) -> None:
        self.access_log.close()
        if self.tracer is not None:
            self.tracer.shutdown()
        self.invoker.close()
        self.services.close()
        self.jwks_fetch.close()
        await self.limiter.close()

    # -- the chain -----------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            self.maybe_reload()
        except Exception:  # keep serving what was loaded before
            logger.exception("gateway: reload failed")
        client = scope.get("client")
        raw_path = scope.get("raw_path")
        ctx = RequestContext(
            method=scope["method"],
            path=scope["path"],
            raw_path=raw_path.decode("latin-1") if raw_path else scope["path"],
            raw_query=scope.get("query_string", b"").decode("latin-1"),
            headers=[(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]],
            source_ip=client[0] if client else "127.0.0.1",
            protocol=f"HTTP/{scope.get('http_version', '1.1')}",
        )
        response: GatewayResponse
        try:
            response = await self._run(ctx, receive)
        except errors.GatewayError as exc:
            response = self._error(ctx, exc)
        except Exception:
            logger.exception("gateway: unexpected error on %s %s", ctx.method, ctx.path)
            ctx.error_type = ctx.error_type or "internal"
            response = self._error(ctx, errors.internal_error(ctx.is_rest))
        await self._send(ctx, response, send)

    async def _run(self, ctx: RequestContext, receive: Receive) -> GatewayResponse:
        head = len(ctx.method) + len(ctx.raw_path) + len(ctx.raw_query) + 12
        head += sum(len(name) + len(value) + 4 for name, value in ctx.headers)
        if head > MAX_HEADER_BYTES:
            raise errors.headers_too_large()
        traced = self.tracer is not None
        if traced:
            begin(ctx)
            ctx.marks.append(("route", ctx.start))
        api, rest_path = self.registry.find(ctx.path)
        ctx.api = api
        ctx.request_id = new_request_id(api is not None and api.spec.kind == "rest")
        incoming = ctx.header("x-correlation-id")
        if incoming is not None and _CORRELATION.match(incoming):
            ctx.correlation_id = incoming
        else:
            ctx.correlation_id = os.urandom(16).hex()
            ctx.headers = [(k, v) for k, v in ctx.headers if k.lower() != "x-correlation-id"]
            ctx.headers.append(("x-correlation-id", ctx.correlation_id))
            ctx._lower = None
        await self._read_body(ctx, receive)
        if api is None:
            raise errors.not_found()
        if api.waf is not None:
            await api.waf.check(ctx, self.limiter)
        if api.spec.kind == "rest":
            ctx.headers = [(_title(k), v) for k, v in ctx.headers]
        ctx.api_path = rest_path
        if api.spec.cors is not None and is_preflight(ctx):
            return preflight(ctx, api.spec.cors)
        route, params = api.router.match(ctx.method, rest_path)
        if route is None:
            raise errors.missing_auth_token() if api.spec.kind == "rest" else errors.not_found()
        ctx.route = route
        ctx.target = target = route.payload
        ctx.path_params = params
        auth = target.authorizer
        if auth is not None:
            started = time.perf_counter()
            if traced:
                ctx.marks.append(("authorizer", started))
            if auth.result_ttl_s == -1 and auth.type == "none":
                ctx.authorizer_error = f"unknown authorizer {auth.name}"
                raise errors.internal_error(ctx.is_rest)
            if auth.type in ("jwt", "cognito"):
                await authorize_jwt(ctx, auth, self.keystore)
            elif auth.type in ("lambda_request", "lambda_token"):
                await self.lambda_auth.authorize(ctx, auth)
            if not ctx.authorizer_latency_ms:
                ctx.authorizer_latency_ms = (time.perf_counter() - started) * 1000
        if traced:
            ctx.marks.append(("throttle", time.perf_counter()))
        check_api_key(ctx)
        resolve_tenant(ctx)
        await throttle(ctx, self.limiter)
        if traced:
            ctx.marks.append(("integration", time.perf_counter()))
        return await integrate(ctx, self.invoker, self.services)

    async def _read_body(self, ctx: RequestContext, receive: Receive) -> None:
        length = ctx.header("content-length")
        if length is not None and length.isdigit() and int(length) > MAX_PAYLOAD:
            raise errors.payload_too_large()
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            if chunk:
                size += len(chunk)
                if size > MAX_PAYLOAD:
                    raise errors.payload_too_large()
                chunks.append(chunk)
            if not message.get("more_body", False):
                break
        ctx.body = chunks[0] if len(chunks) == 1 else b"".join(chunks)

    def _error(self, ctx: RequestContext, exc: errors.GatewayError) -> GatewayResponse:
        if not ctx.error_type:
            ctx.error_type = exc.error_type
        body = dumps({"message": exc.message})
        headers = [
            (b"content-type", b"application/json"),
            (b"x-amzn-errortype", exc.error_type.encode()),
            *exc.headers,
        ]
        return GatewayResponse(exc.status, headers, body)

    async def _send(self, ctx: RequestContext, response: GatewayResponse, send: Send) -> None:
        if not ctx.request_id:
            ctx.request_id = new_request_id(False)
        headers = response.headers
        rid = ctx.request_id.encode()
        headers.append((b"x-amzn-requestid", rid))
        headers.append((b"apigw-requestid", rid))
        if ctx.correlation_id:
            headers.append((b"x-correlation-id", ctx.correlation_id.encode("latin-1")))
        if ctx.trace_id:
            headers.append(response_header(ctx))
        api = ctx.api
        if api is not None and api.spec.cors is not None and response.status != 204:
            cors = cors_headers(ctx, api.spec.cors)
            if cors:
                names = {name for name, _ in cors}
                headers = [h for h in headers if h[0] not in names] + cors
        if response.status not in (204, 304):
            headers.append((b"content-length", str(len(response.body)).encode()))
        try:
            await send(
                {"type": "http.response.start", "status": response.status, "headers": headers}
            )
            await send({"type": "http.response.body", "body": response.body})
        except Exception as exc:  # the client went away
            logger.debug("gateway: could not send the response: %s", exc)
        latency = (time.perf_counter() - ctx.start) * 1000
        route_key = ctx.route.route_key if ctx.route else "-"
        self.metrics.record(
            api.stack.name if api else "-",
            api.spec.logical_id if api else "-",
            route_key,
            ctx.tenant,
            response.status,
            latency,
        )
        if api is not None and ctx.route is not None:
            api_request(
                api.spec.kind,
                api.metric_api,
                api.spec.stage,
                route_key,
                response.status,
                latency,
                ctx.integration_latency_ms,
            )
        try:
            self.access_log.write(entry(ctx, response.status, len(response.body)))
        except Exception:  # logging must never fail a request
            logger.exception("gateway: access log entry failed")
        if ctx.trace_id and self.tracer is not None:
            emit(self.tracer, ctx, response.status)

    # -- control-API views ---------------------------------------------------------------

    def info(self) -> dict[str, Any]:
        stacks: dict[str, Any] = {}
        gateway_url = str(self.registry.endpoints.get("gateway_url", "")).rstrip("/")
        for api in self.registry.apis.values():
            entry_ = stacks.setdefault(api.stack.name, {"name": api.stack.name, "apis": []})
            entry_["apis"].append(
                {
                    "logical_id": api.spec.logical_id,
                    "kind": api.spec.kind,
                    "api_id": api.spec.api_id,
                    "stage": api.spec.stage,
                    "base_url": api.spec.base_url or (gateway_url + api.prefix),
                    "routes": [r.route_key for r in api.router.routes],
                }
            )
        for name in self.registry.stacks:
            stacks.setdefault(name, {"name": name, "apis": []})
        return {
            "stacks": [stacks[k] for k in sorted(stacks)],
            "generation": self.registry.generation,
            "loaded_at": self.registry.loaded_at,
            "errors": self.registry.errors,
        }
