"""What every CodexFlow handler shares: the response envelope, errors, the caller, JSON.

Every answer has the seed's envelope::

    {"success": true, "data": ..., "meta": {"timestamp": "...", "requestId": "..."}}
    {"success": false, "error": {"code": "...", "message": "...", "details": ...}, "meta": {...}}

with CORS headers (``Access-Control-Allow-Origin: *``), as the seed's handler returns them.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

__all__ = [
    "ApiError",
    "Caller",
    "Request",
    "caller_of",
    "env",
    "log",
    "now_iso",
    "plain",
    "respond",
    "run_api",
]

CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Headers": "authorization,content-type,x-correlation-id",
    "Access-Control-Allow-Methods": "GET,POST,PATCH,OPTIONS",
}


def env(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


_logger = logging.getLogger("codexflow")


def log(level: int, message: str, **fields: Any) -> None:
    """One JSON line per event (the runtime keeps them per invocation)."""
    record = {"level": logging.getLevelName(level), "message": message, **fields}
    print(json.dumps(record, default=str), file=sys.stdout, flush=True)


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details


def plain(value: Any) -> Any:
    """DynamoDB values (Decimal, sets) as JSON values."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, set):
        return sorted(plain(v) for v in value)
    return value


@dataclass(frozen=True)
class Caller:
    """The signed-in user, from the Cognito authorizer's claims (never from the request)."""

    user_id: str
    tenant_id: str
    email: str
    name: str
    session_id: str


def caller_of(event: dict[str, Any]) -> Caller:
    claims = ((event.get("requestContext") or {}).get("authorizer") or {}).get("claims") or {}
    user_id = str(claims.get("sub") or "")
    tenant = str(claims.get(env("TENANT_CLAIM", "custom:tenant_id")) or "")
    if not user_id or not tenant:
        raise ApiError(403, "FORBIDDEN", "the token carries no user or workspace")
    name = str(claims.get("cognito:username") or claims.get("username") or user_id)
    email = str(claims.get("email") or f"{name}@users.codexflow.local").lower()
    # the sign-in session: Cognito puts one origin_jti in every token of a sign-in
    session = str(claims.get("origin_jti") or claims.get("jti") or claims.get("event_id") or "")
    return Caller(user_id, tenant, email, name, session or f"{user_id}:{claims.get('iat', '')}")


@dataclass
class Request:
    event: dict[str, Any]
    caller: Caller
    path: dict[str, str]
    query: dict[str, str]
    request_id: str

    def body(self) -> Any:
        raw = self.event.get("body")
        if raw in (None, ""):
            return {}
        if self.event.get("isBase64Encoded"):
            import base64

            raw = base64.b64decode(raw).decode()
        try:
            return json.loads(raw)
        except (ValueError, RecursionError):  # RecursionError: nesting too deep to parse
            raise ApiError(400, "VALIDATION_ERROR", "the body is not JSON") from None


def _meta(request_id: str, extra: dict[str, Any] | None) -> dict[str, Any]:
    return {"timestamp": now_iso(), "requestId": request_id, **(extra or {})}


def respond(
    status: int,
    data: Any,
    request_id: str,
    meta: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    body = {"success": True, "data": plain(data), "meta": _meta(request_id, meta)}
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json", **CORS_HEADERS, **(headers or {})},
        "body": json.dumps(body, default=str),
    }


def error(status: int, code: str, message: str, request_id: str, details: Any = None) -> dict:
    err: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        err["details"] = details
    body = {"success": False, "error": err, "meta": _meta(request_id, None)}
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json", **CORS_HEADERS},
        "body": json.dumps(body, default=str),
    }


Route = Callable[[Request], dict[str, Any]]


def run_api(event: dict[str, Any], routes: dict[tuple[str, str], Route]) -> dict[str, Any]:
    """Dispatch a REST (payload 1.0) event on (method, resource); errors become envelopes."""
    from pydantic import ValidationError

    from codexflow import cache

    context = event.get("requestContext") or {}
    request_id = str(context.get("requestId") or "")
    method = str(event.get("httpMethod") or "GET").upper()
    resource = str(event.get("resource") or event.get("path") or "")
    started = time.perf_counter()
    status = 500
    try:
        if method == "OPTIONS":
            status = 204
            return {"statusCode": 204, "headers": dict(CORS_HEADERS), "body": ""}
        route = routes.get((method, resource))
        if route is None:
            raise ApiError(404, "NOT_FOUND", f"no route {method} {resource}")
        caller = caller_of(event)
        cache.touch_session_and_limit(caller)
        request = Request(
            event,
            caller,
            {k: str(v) for k, v in (event.get("pathParameters") or {}).items()},
            {k: str(v) for k, v in (event.get("queryStringParameters") or {}).items()},
            request_id,
        )
        answer = route(request)
        status = int(answer["statusCode"])
        return answer
    except ApiError as exc:
        status = exc.status
        if exc.status in (403, 404) and exc.code in ("FORBIDDEN", "NOT_FOUND"):
            log(
                logging.WARNING,
                "access denied",
                status=exc.status,
                resource=resource,
                method=method,
                reason=exc.message,
            )
        return error(exc.status, exc.code, exc.message, request_id, exc.details)
    except ValidationError as exc:
        status = 400
        details = [
            {"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]} for e in exc.errors()
        ]
        return error(400, "VALIDATION_ERROR", "the request is not valid", request_id, details)
    except Exception as exc:  # the envelope, never a stack trace
        log(logging.ERROR, "unhandled error", error=repr(exc)[:500], resource=resource)
        return error(500, "INTERNAL_ERROR", "internal error", request_id)
    finally:
        log(
            logging.INFO,
            "request",
            method=method,
            resource=resource,
            status=status,
            ms=round((time.perf_counter() - started) * 1000, 1),
            requestId=request_id,
        )
