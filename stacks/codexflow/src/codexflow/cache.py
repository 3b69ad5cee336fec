"""Redis: the seed's key patterns, cache-aside, sessions and the per-user rate limit.

======================  ==========================  ======
key                     value                       TTL
======================  ==========================  ======
``user:<userId>``       the user's profile          1 h
``project:<projectId>`` the project (with members)  15 min
``tasks:user:<userId>`` the user's task list        5 min
``session:<sessionId>`` the sign-in session         24 h
``rate_limit:<userId>`` requests this minute        1 min
======================  ==========================  ======

``REDIS_URL`` (the template's ``RedisUrl``; under the harness, the fault-injecting proxy). Every
call has a short timeout; after a failure a breaker skips Redis for ``REDIS_BREAKER_S`` seconds.
When Redis is unreachable the read path goes to DynamoDB (``cache: "bypass"`` in ``meta``), the
rate limit fails open, and writes still succeed (their invalidation is lost: see the README).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any

from codexflow.common import ApiError, Caller, env, log, now_iso

__all__ = [
    "PROJECT_TTL_S",
    "RATE_LIMIT_TTL_S",
    "SESSION_TTL_S",
    "TASKS_TTL_S",
    "USER_TTL_S",
    "CacheUnavailable",
    "invalidate",
    "project_key",
    "read_through",
    "tasks_key",
    "touch_session_and_limit",
    "user_key",
]

USER_TTL_S = 3600
PROJECT_TTL_S = 15 * 60
TASKS_TTL_S = 5 * 60
SESSION_TTL_S = 24 * 3600
RATE_LIMIT_TTL_S = 60


def user_key(user_id: str) -> str:
    return f"user:{user_id}"


def project_key(project_id: str) -> str:
    return f"project:{project_id}"


def tasks_key(user_id: str) -> str:
    return f"tasks:user:{user_id}"


class CacheUnavailable(Exception):
    """Redis is down, hanging, resetting, or not configured."""


_clients: dict[str, Any] = {}
_breaker = {"open_until": 0.0}


def _client() -> Any:
    url = env("REDIS_URL")
    if not url:
        raise CacheUnavailable("REDIS_URL is not set")
    client = _clients.get(url)
    if client is None:
        import redis

        timeout = float(env("REDIS_TIMEOUT_S", "0.25"))
        client = redis.Redis.from_url(
            url,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry_on_timeout=False,
            health_check_interval=0,
            decode_responses=True,
        )
        _clients[url] = client
    return client


def _call(fn: Callable[[Any], Any]) -> Any:
    import redis

    if time.monotonic() < _breaker["open_until"]:
        raise CacheUnavailable("circuit open after a recent Redis failure")
    try:
        return fn(_client())
    except CacheUnavailable:
        raise
    except (redis.RedisError, OSError) as exc:
        _breaker["open_until"] = time.monotonic() + float(env("REDIS_BREAKER_S", "2"))
        log(logging.WARNING, "redis unavailable: degraded mode", error=str(exc)[:200])
        raise CacheUnavailable(str(exc)) from None


def read_through(key: str, ttl_s: int, load: Callable[[], Any]) -> tuple[Any, str]:
    """Cache-aside: the cached value (``"hit"``), else ``load()`` stored for ``ttl_s``
    (``"miss"``), else ``load()`` alone when Redis is unreachable (``"bypass"``). A ``None``
    from ``load`` (not found) is not cached."""
    try:
        raw = _call(lambda r: r.get(key))
    except CacheUnavailable:
        return load(), "bypass"
    if raw is not None:
        try:
            return json.loads(raw), "hit"
        except ValueError:
            pass
    value = load()
    if value is not None:
        text = json.dumps(value, default=str)
        try:
            _call(lambda r: r.set(key, text, ex=ttl_s))
        except CacheUnavailable:
            return value, "bypass"
    return value, "miss"


def invalidate(*keys: str) -> bool:
    """Delete cached entries after a write; False when Redis could not be reached."""
    if not keys:
        return True
    try:
        _call(lambda r: r.delete(*keys))
        return True
    except CacheUnavailable:
        log(logging.WARNING, "cache invalidation skipped: redis unavailable", keys=list(keys))
        return False


def touch_session_and_limit(caller: Caller) -> None:
    """One round trip: refresh the caller's 24 h session and count this request against the
    per-user limit (``RATE_LIMIT_PER_MINUTE``; 429 over it). Fails open without Redis."""
    limit = int(env("RATE_LIMIT_PER_MINUTE", "600"))
    session = {"userId": caller.user_id, "tenantId": caller.tenant_id, "lastSeen": now_iso()}

    def run(r: Any) -> Any:
        pipe = r.pipeline(transaction=False)
        pipe.set(f"session:{caller.session_id}", json.dumps(session), ex=SESSION_TTL_S)
        # the window starts with the minute's first request (SET NX EX), then counts
        pipe.set(f"rate_limit:{caller.user_id}", 0, ex=RATE_LIMIT_TTL_S, nx=True)
        pipe.incr(f"rate_limit:{caller.user_id}")
        return pipe.execute()

    try:
        results = _call(run)
    except CacheUnavailable:
        return
    count = int(results[2])
    if limit > 0 and count > limit:
        raise ApiError(
            429,
            "RATE_LIMITED",
            f"more than {limit} requests in a minute",
            {"limit": limit, "windowSeconds": RATE_LIMIT_TTL_S},
        )
