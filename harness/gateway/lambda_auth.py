"""Lambda authorizers: REQUEST and TOKEN, payload 2.0 (HTTP APIs) and 1.0 (REST / HTTP 1.0).

The authorizer function is invoked through the runtime with the event API Gateway sends. HTTP
APIs with simple responses expect ``{"isAuthorized": bool, "context": {...}}``; otherwise an IAM
policy (``principalId``, ``policyDocument``, ``context``) is evaluated against the method ARN
(explicit Deny wins, then any Allow; ``*``/``?`` wildcards). Results are cached for
``result_ttl_s`` keyed by the identity-source values (the policy is cached and re-evaluated per
request, as AWS does). A missing identity source is 401 without calling the function; a deny is
403; an authorizer that fails or answers garbage is 500 — except an ``Unauthorized`` error
message, which is 401, as on AWS.
"""

from __future__ import annotations

import asyncio
import re
import time
from fnmatch import fnmatchcase
from typing import Any

from harness.gateway import errors
from harness.gateway.context import RequestContext
from harness.gateway.jsonutil import loads
from harness.gateway.payload import build_v1, query_pairs
from harness.gateway.tracing import authorizer_trace_header

__all__ = ["LambdaAuthorizer", "evaluate_policy", "identity_values", "method_arn"]

_CACHE_MAX = 10000


def identity_values(ctx: RequestContext, sources: list[str]) -> list[str | None]:
    """Values of identity-source expressions such as ``$request.header.Authorization``,
    ``method.request.header.Authorization`` (REST), ``$request.querystring.token``."""
    values: list[str | None] = []
    for source in sources:
        expr = source.strip()
        if expr.startswith("method.request."):
            expr = "$request." + expr[len("method.request.") :]
        expr = expr.replace("$request.querystring.", "$request.query.")
        if expr.startswith("$request.header."):
            values.append(ctx.header(expr[len("$request.header.") :].lower()))
        elif expr.startswith("$request.query."):
            name = expr[len("$request.query.") :]
            found = [v for k, v in query_pairs(ctx.raw_query) if k == name]
            values.append(",".join(found) if found else None)
        elif expr.startswith("$request.path."):
            values.append(ctx.path_params.get(expr[len("$request.path.") :]))
        elif expr.startswith("$stageVariables.") and ctx.api is not None:
            values.append(ctx.api.spec.stage_variables.get(expr[len("$stageVariables.") :]))
        elif expr.startswith("$context.") and expr[len("$context.") :] == "requestId":
            values.append(ctx.request_id)
        else:
            values.append(None)
    return values


def method_arn(ctx: RequestContext) -> str:
    api = ctx.api
    assert api is not None
    stage = api.spec.stage or "$default"
    path = ctx.api_path or "/"
    return (
        f"arn:aws:execute-api:{api.region}:{api.account_id}:{api.spec.api_id}/{stage}/"
        f"{ctx.method}{path}"
    )


def route_arn(ctx: RequestContext) -> str:
    api = ctx.api
    assert api is not None
    stage = api.spec.stage or "$default"
    route = ctx.route.route_key if ctx.route else "$default"
    method, _, path = route.partition(" ")
    tail = f"{method}{path}" if path else route
    return f"arn:aws:execute-api:{api.region}:{api.account_id}:{api.spec.api_id}/{stage}/{tail}"


def _arn_matches(pattern: str, arn: str) -> bool:
    return pattern == "*" or fnmatchcase(arn, pattern)


def evaluate_policy(policy: Any, arn: str) -> bool:
    """Whether an IAM policy document allows ``execute-api:Invoke`` on ``arn``."""
    if not isinstance(policy, dict):
        return False
    statements = policy.get("Statement") or []
    if isinstance(statements, dict):
        statements = [statements]
    allowed = False
    for statement in statements:
        if not isinstance(statement, dict):
            continue
        actions = statement.get("Action") or []
        actions = [actions] if isinstance(actions, str) else actions
        if not any(fnmatchcase("execute-api:Invoke", a) or a == "*" for a in actions):
            continue
        resources = statement.get("Resource") or []
        resources = [resources] if isinstance(resources, str) else resources
        if not any(_arn_matches(r, arn) for r in resources):
            continue
        effect = str(statement.get("Effect", "")).lower()
        if effect == "deny":
            return False
        if effect == "allow":
            allowed = True
    return allowed


def _event_v2(ctx: RequestContext, identity: list[str | None], arn: str) -> dict[str, Any]:
    from harness.gateway.payload import build_v2

    event = build_v2(ctx)
    event.pop("body", None)
    event.pop("isBase64Encoded", None)
    event["requestContext"].pop("authorizer", None)
    return {
        "version": "2.0",
        "type": "REQUEST",
        "routeArn": arn,
        "identitySource": [v for v in identity if v is not None],
        **{k: v for k, v in event.items() if k != "version"},
    }


def _event_v1(
    ctx: RequestContext, auth: Any, identity: list[str | None], arn: str
) -> dict[str, Any]:
    if auth.type == "lambda_token":
        return {"type": "TOKEN", "authorizationToken": identity[0] or "", "methodArn": arn}
    event = build_v1(ctx)
    event.pop("body", None)
    event.pop("isBase64Encoded", None)
    event["requestContext"].pop("authorizer", None)
    out: dict[str, Any] = {"type": "REQUEST", "methodArn": arn}
    if not ctx.is_rest:
        out = {"version": "1.0", **out, "identitySource": ",".join(v for v in identity if v)}
        out["authorizationToken"] = out["identitySource"]
    out.update({k: v for k, v in event.items() if k != "version"})
    return out


_UNAUTHORIZED = re.compile(r'"errorMessage"\s*:\s*"Unauthorized"')


class LambdaAuthorizer:
    def __init__(self, invoker: Any) -> None:
        self.invoker = invoker
        self.cache: dict[tuple[str, str, tuple[str | None, ...]], tuple[float, Any]] = {}
        # identity -> the invocation already under way for it (caching authorizers only)
        self.inflight: dict[tuple[str, str, tuple[str | None, ...]], asyncio.Future[Any]] = {}

    async def authorize(self, ctx: RequestContext, auth: Any) -> None:
        api = ctx.api
        assert api is not None and ctx.target is not None
        v2 = not ctx.is_rest and auth.payload_format == "2.0"
        default_source = "$request.header.Authorization"
        sources = list(auth.identity_sources) or (
            [default_source] if auth.type == "lambda_token" else []
        )
        identity = identity_values(ctx, sources)
        if sources and any(v is None or v == "" for v in identity):
            ctx.authorizer_error = "identity source missing"
            raise errors.unauthorized()
        arn = route_arn(ctx) if v2 else method_arn(ctx)
        ttl = auth.result_ttl_s if sources else 0
        key = (api.name, auth.name, tuple(identity))
        cached = self.cache.get(key) if ttl > 0 else None
        if cached is not None and cached[0] > time.monotonic():
            result = cached[1]
        elif ttl <= 0:
            result = await self._invoke(ctx, auth, identity, arn, v2)
        elif key in self.inflight:
            # single flight: requests that arrive while the same identity is being authorized
            # wait for that answer instead of starting an invocation (and, on a cold function,
            # an execution environment) each — a burst of a new token's requests costs one
            try:
                result = await asyncio.shield(self.inflight[key])
            except errors.GatewayError as exc:
                ctx.authorizer_error = "the same identity's authorization under way failed"
                raise errors.GatewayError(exc.status, exc.message, exc.error_type) from None
        else:
            pending: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            self.inflight[key] = pending
            try:
                result = await self._invoke(ctx, auth, identity, arn, v2)
            except BaseException as exc:
                pending.set_exception(exc)
                pending.exception()  # retrieved: no "never retrieved" warning without waiters
                raise
            else:
                pending.set_result(result)
                if len(self.cache) >= _CACHE_MAX:
                    self.cache.clear()
                self.cache[key] = (time.monotonic() + ttl, result)
            finally:
                self.inflight.pop(key, None)
        self._apply(ctx, auth, api, result, arn, v2)

    async def _invoke(
        self, ctx: RequestContext, auth: Any, identity: list[str | None], arn: str, v2: bool
    ) -> dict[str, Any]:
        """The authorizer function's answer (an object), or the gateway error it amounts to."""
        api = ctx.api
        assert api is not None
        function = api.authorizer_functions.get(auth.name)
        if not function:
            ctx.authorizer_error = f"authorizer {auth.name} has no function"
            raise errors.internal_error(ctx.is_rest)
        event = _event_v2(ctx, identity, arn) if v2 else _event_v1(ctx, auth, identity, arn)
        extra: list[tuple[bytes, bytes]] | None = None
        if ctx.trace_id:  # the authorizer's invocation is a child of the authorizer step's span
            trace = authorizer_trace_header(ctx)
            headers = event.get("headers")
            if isinstance(headers, dict):  # REQUEST: in its headers, as API Gateway passes it
                headers["x-amzn-trace-id" if v2 else "X-Amzn-Trace-Id"] = trace
            else:  # TOKEN: no headers; the Invoke API's X-Amzn-Trace-Id
                extra = [(b"x-amzn-trace-id", trace.encode())]
        started = time.perf_counter()
        outcome = await self.invoker.invoke(function, event, timeout_s=10.0, extra_headers=extra)
        ctx.authorizer_latency_ms = (time.perf_counter() - started) * 1000
        if outcome.kind == "function_error" and _UNAUTHORIZED.search(
            outcome.body.decode("utf-8", "replace")
        ):
            ctx.authorizer_error = "authorizer raised Unauthorized"
            raise errors.unauthorized()
        if outcome.kind != "ok":
            ctx.authorizer_error = f"authorizer invoke failed: {outcome.kind} {outcome.detail}"
            if outcome.kind == "unreachable":
                raise errors.service_unavailable()
            raise errors.internal_error(ctx.is_rest)
        try:
            result = loads(outcome.body)
        except ValueError:
            result = None
        if not isinstance(result, dict):
            ctx.authorizer_error = "authorizer answered a non-object"
            raise errors.internal_error(ctx.is_rest)
        return result

    def _apply(
        self, ctx: RequestContext, auth: Any, api: Any, result: dict[str, Any], arn: str, v2: bool
    ) -> None:
        """Allow or deny the request on the authorizer's answer; its context goes on."""
        found = result.get("context")
        context: dict[str, Any] = found if isinstance(found, dict) else {}
        if v2 and auth.simple_responses:
            if result.get("isAuthorized") is not True:
                ctx.authorizer_error = "isAuthorized is not true"
                raise errors.forbidden()
            ctx.authorizer = {"lambda": context}
            return
        if not evaluate_policy(result.get("policyDocument"), arn):
            ctx.authorizer_error = "policy does not allow the method"
            raise errors.forbidden() if v2 else errors.access_denied()
        ctx.principal_id = str(result.get("principalId", "")) or None
        if v2:
            ctx.authorizer = {"lambda": context}
        else:
            ctx.authorizer = {
                **{k: v if isinstance(v, str) else _scalar(v) for k, v in context.items()},
                "principalId": ctx.principal_id,
                "integrationLatency": int(ctx.authorizer_latency_ms),
            }
        usage_key = result.get("usageIdentifierKey")
        if usage_key and api.spec.api_key_source == "AUTHORIZER":
            ctx.api_key = str(usage_key)


def _scalar(value: Any) -> Any:
    if isinstance(value, (bool, int, float)) or value is None:
        return value
    return str(value)
