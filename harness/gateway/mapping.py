"""Evaluate API Gateway parameter-mapping expressions against a request.

Supported: ``$request.body`` and ``$request.body.a.b`` (JSON path into the body),
``$request.header.NAME``, ``$request.querystring.NAME``, ``$request.path.NAME``,
``$context.requestId`` / ``$context.<field>`` / ``$context.authorizer.<key>`` /
``$context.authorizer.claims.<claim>``, ``$stageVariables.NAME``; either as the whole value or
embedded as ``${request.header.NAME}``. Anything else is passed through literally.
"""

from __future__ import annotations

import re
from typing import Any

from harness.gateway.context import RequestContext
from harness.gateway.jsonutil import dumps, loads

__all__ = ["evaluate", "substitute"]

_EMBEDDED = re.compile(r"\$\{([^}]+)\}")
_MISSING = object()


def _body_json(ctx: RequestContext) -> Any:
    try:
        return loads(ctx.body) if ctx.body else None
    except ValueError:
        return _MISSING


def _lookup(ctx: RequestContext, expr: str) -> Any:
    if expr.startswith("$"):
        expr = expr[1:]
    parts = expr.split(".")
    head = parts[0]
    if head == "request" and len(parts) >= 2:
        kind = parts[1]
        if kind == "body":
            if len(parts) == 2:
                return ctx.body.decode("utf-8", errors="replace")
            value = _body_json(ctx)
            for key in parts[2:]:
                if isinstance(value, dict) and key in value:
                    value = value[key]
                else:
                    return _MISSING
            return value
        name = ".".join(parts[2:])
        if kind == "header":
            value = ctx.header(name.lower())
        elif kind == "querystring":
            from harness.gateway.payload import query_pairs

            value = next((v for k, v in reversed(query_pairs(ctx.raw_query)) if k == name), None)
        elif kind == "path":
            value = ctx.path_params.get(name)
        else:
            value = None
        return _MISSING if value is None else value
    if head == "context" and len(parts) >= 2:
        if parts[1] == "requestId":
            return ctx.request_id
        if parts[1] == "authorizer":
            source: Any = ctx.authorizer or {}
            rest = parts[2:]
            if ctx.claims is not None and rest[:1] == ["claims"]:
                source = ctx.claims
                rest = rest[1:]
            elif isinstance(source, dict) and "lambda" in source and rest and rest[0] not in source:
                source = source["lambda"]
            key = ".".join(rest)
            if isinstance(source, dict) and key in source:
                return source[key]
            return _MISSING
        simple = {
            "httpMethod": ctx.method,
            "path": ctx.path,
            "stage": ctx.api.spec.stage if ctx.api else "",
            "apiId": ctx.api.spec.api_id if ctx.api else "",
            "routeKey": ctx.route.route_key if ctx.route else "",
            "identity.sourceIp": ctx.source_ip,
            "correlationId": ctx.correlation_id,
        }
        return simple.get(".".join(parts[1:]), _MISSING)
    if head == "stageVariables" and len(parts) == 2 and ctx.api is not None:
        return ctx.api.spec.stage_variables.get(parts[1], _MISSING)
    return _MISSING


def _text(value: Any) -> str:
    if value is _MISSING or value is None:
        return ""
    if isinstance(value, str):
        return value
    return dumps(value).decode()


def evaluate(ctx: RequestContext, expression: Any) -> Any:
    """The value of one mapping expression (``None`` when it refers to nothing)."""
    if not isinstance(expression, str):
        return expression
    if expression.startswith("$") and not expression.startswith("${"):
        value = _lookup(ctx, expression)
        if value is _MISSING:
            return None
        return value if isinstance(value, str) else _text(value)
    return substitute(ctx, expression)


def substitute(ctx: RequestContext, template: str) -> str:
    return _EMBEDDED.sub(lambda m: _text(_lookup(ctx, m.group(1))), template)
