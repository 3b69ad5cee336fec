"""What every API handler shares: the envelope, errors, the caller and its role, the rate limit.

Answers::

    {"success": true, "data": ..., "meta": {"timestamp": "...", "requestId": "..."}}
    {"success": false, "error": {"code": "...", "message": "...", "details": ...}, "meta": {...}}

The caller comes only from the Cognito authorizer's verified claims: ``sub`` (the user),
``custom:tenant_id`` (the organisation) and ``cognito:groups`` (the roles, ``admin``/``member``).
Each user may make ``RATE_LIMIT_PER_MINUTE`` requests a minute (the seed's 1,000): a counter per
user and minute in Redis (``ratelimit:<org>:<user>:<minute>``, 60 s TTL); over it, 429. The limit
fails open when Redis is unreachable.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from collections.abc import Callable, Mapping
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
    "rate_limit",
    "respond",
    "run_api",
]

CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Headers": "authorization,content-type,x-correlation-id",
    "Access-Control-Allow-Methods": "GET,POST,PATCH,OPTIONS",
}
ROLES = ("admin", "member")


def env(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


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
    """DynamoDB and PostgreSQL values (Decimal, datetime, sets) as JSON values."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, set):
        return sorted(plain(v) for v in value)
    return value


@dataclass(frozen=True)
class Caller:
    """The signed-in user, from the authorizer's claims (never from the request)."""

    user_id: str
    org_id: str
    username: str
    email: str
    role: str

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    def require_admin(self) -> None:
        if not self.is_admin:
            raise ApiError(403, "FORBIDDEN", "this action needs the admin role")


def _groups(claims: dict[str, Any]) -> list[str]:
    raw = claims.get("cognito:groups")
    if isinstance(raw, list):
        return [str(g) for g in raw]
    text = str(raw or "").strip()
    if text.startswith("[") and text.endswith("]"):  # REST events carry arrays as "[a b]"
        text = text[1:-1]
    return [g for g in text.replace(",", " ").split() if g]


def caller_of(event: dict[str, Any]) -> Caller:
    claims = ((event.get("requestContext") or {}).get("authorizer") or {}).get("claims") or {}
    user_id = str(claims.get("sub") or "")
    org = str(claims.get(env("TENANT_CLAIM", "custom:tenant_id")) or "")
    if not user_id or not org:
        raise ApiError(403, "FORBIDDEN", "the token carries no user or organisation")
    groups = _groups(claims)
    role = "admin" if "admin" in groups else "member"
    username = str(claims.get("cognito:username") or claims.get("username") or user_id)
    email = str(claims.get("email") or f"{username}@example.com").lower()
    return Caller(user_id, org, username, email, role)


def rate_limit(caller: Caller) -> None:
    """429 past ``RATE_LIMIT_PER_MINUTE`` requests of this user in the current minute."""
    url = env("REDIS_URL")
    if not url:
        return
    import redis

    limit = int(env("RATE_LIMIT_PER_MINUTE", "1000"))
    try:
        client = _redis(url)
        key = f"ratelimit:{caller.org_id}:{caller.user_id}:{int(time.time() // 60)}"
        pipe = client.pipeline()
        pipe.incr(key)
        pipe.expire(key, 60)
        used = int(pipe.execute()[0])
    except (redis.RedisError, OSError) as exc:
        log(logging.WARNING, "rate limit skipped: redis unavailable", error=repr(exc)[:200])
        return
    if used > limit:
        raise ApiError(429, "RATE_LIMITED", f"more than {limit} requests this minute")


_redis_clients: dict[str, Any] = {}


def _redis(url: str) -> Any:
    client = _redis_clients.get(url)
    if client is None:
        import redis

        client = redis.Redis.from_url(url, socket_timeout=0.25, socket_connect_timeout=0.25)
        _redis_clients[url] = client
    return client


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
    status: int, data: Any, request_id: str, meta: dict[str, Any] | None = None
) -> dict[str, Any]:
    body = {"success": True, "data": plain(data), "meta": _meta(request_id, meta)}
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json", **CORS_HEADERS},
        "body": json.dumps(body, default=str),
    }


def error(
    status: int, code: str, message: str, request_id: str, details: Any = None
) -> dict[str, Any]:
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


def run_api(event: dict[str, Any], routes: Mapping[tuple[str, str], Route]) -> dict[str, Any]:
    """Dispatch a REST (payload 1.0) event on (method, resource); errors become envelopes."""
    from pydantic import ValidationError

    from cloudsaas.db import DatabaseUnavailable

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
        rate_limit(caller)
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
        if exc.status in (403, 404):
            log(logging.WARNING, "access denied", status=exc.status, resource=resource,
                method=method, reason=exc.message)  # fmt: skip
        return error(exc.status, exc.code, exc.message, request_id, exc.details)
    except ValidationError as exc:
        status = 400
        details = [
            {"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]} for e in exc.errors()
        ]
        return error(400, "VALIDATION_ERROR", "the request is not valid", request_id, details)
    except DatabaseUnavailable as exc:
        status = 503
        log(logging.ERROR, "database unavailable", error=str(exc)[:300], resource=resource)
        return error(503, "DATABASE_UNAVAILABLE", "the database is unavailable", request_id)
    except Exception as exc:  # the envelope, never a stack trace
        log(logging.ERROR, "unhandled error", error=repr(exc)[:500], resource=resource)
        return error(500, "INTERNAL_ERROR", "internal error", request_id)
    finally:
        log(logging.INFO, "request", method=method, resource=resource, status=status,
            ms=round((time.perf_counter() - started) * 1000, 1), requestId=request_id)  # fmt: skip
