"""Redis: cache-aside with negative lookups, and the distributed token bucket (Lua).

``REDIS_URL`` names the cache (the template's ``RedisUrl`` parameter; under the harness, the
fault-injecting proxy). Every call has a short timeout; any Redis error raises
:class:`CacheUnavailable`, which callers turn into *degraded mode*: reads go to DynamoDB, and
workers do not call third parties (the rate limiter cannot be consulted) but return the job to
the queue.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from typing import Any

from syncwell.common import env, env_float, log

__all__ = [
    "CONFIDENCE_TTL_S",
    "CONFIG_TTL_S",
    "NEGATIVE",
    "NEGATIVE_TTL_S",
    "TOKEN_BUCKET_LUA",
    "CacheUnavailable",
    "bucket_take",
    "cache_delete",
    "cache_delete_user",
    "cache_get",
    "cache_set",
    "confidence_get",
    "confidence_record",
    "jwks_get",
    "jwks_invalidate",
    "jwks_put",
    "redis_client",
    "take_token",
]

CONFIG_TTL_S = 15 * 60
NEGATIVE_TTL_S = 60
CONFIDENCE_TTL_S = 7 * 24 * 3600
BUCKET_TTL_MS = 60_000
NEGATIVE = "__none__"


class CacheUnavailable(Exception):
    """Redis could not be reached (down, hanging, reset) or is not configured."""


_clients: dict[str, Any] = {}


def redis_client() -> Any:
    url = env("REDIS_URL")
    if not url:
        raise CacheUnavailable("REDIS_URL is not set")
    client = _clients.get(url)
    if client is None:
        import redis

        timeout = env_float("REDIS_TIMEOUT_S", 0.25)
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


_breaker = {"open_until": 0.0}

# Cache latency as a CloudWatch custom metric (seed 001's "P2 - Cache Latency Nearing SLO"
# alarm: p99 > 10 ms), printed in Embedded Metric Format: up to 100 values per line, written
# once a second or every 50 calls, so a busy function prints few lines.
_latencies: list[float] = []
_last_flush = {"at": 0.0}


def _record_latency(ms: float) -> None:
    _latencies.append(round(ms, 3))
    now = time.time()
    if len(_latencies) >= 50 or now - _last_flush["at"] >= 1.0:
        values = _latencies[:100]
        del _latencies[:100]
        _last_flush["at"] = now
        line = {
            "_aws": {
                "Timestamp": int(now * 1000),
                "CloudWatchMetrics": [
                    {
                        "Namespace": "SyncWell",
                        "Dimensions": [["service"]],
                        "Metrics": [{"Name": "CacheLatency", "Unit": "Milliseconds"}],
                    }
                ],
            },
            "service": "syncwell",
            "CacheLatency": values,
        }
        print(json.dumps(line, separators=(",", ":")), flush=True)


def _call(fn: Any) -> Any:
    """Run ``fn(redis)``. After a failure the breaker stays open ``REDIS_BREAKER_S`` seconds:
    calls fail at once instead of each waiting for a timeout on a hanging cache."""
    import redis

    if time.monotonic() < _breaker["open_until"]:
        raise CacheUnavailable("circuit open after a recent Redis failure")
    started = time.perf_counter()
    try:
        result = fn(redis_client())
    except CacheUnavailable:
        raise
    except (redis.RedisError, OSError) as exc:
        _breaker["open_until"] = time.monotonic() + env_float("REDIS_BREAKER_S", 2.0)
        log(logging.WARNING, "redis unavailable: degraded mode", error=str(exc)[:200])
        raise CacheUnavailable(str(exc)) from None
    _record_latency((time.perf_counter() - started) * 1000)
    return result


def call(fn: Any) -> Any:
    """``fn(redis)`` behind the cache's circuit breaker (:class:`CacheUnavailable` if down)."""
    return _call(fn)


def reset_breaker() -> None:
    _breaker["open_until"] = 0.0


def cache_get(key: str) -> Any:
    """The cached JSON value, :data:`NEGATIVE` for a cached miss, None when not cached."""
    raw = _call(lambda r: r.get(key))
    if raw is None:
        return None
    if raw == NEGATIVE:
        return NEGATIVE
    try:
        return json.loads(raw)
    except ValueError:
        return None


def cache_set(key: str, value: Any, ttl_s: int) -> None:
    """Best effort: a failed cache write is logged, never raised (the next read misses)."""
    raw = NEGATIVE if value is NEGATIVE else json.dumps(value, default=str)
    with contextlib.suppress(CacheUnavailable):
        _call(lambda r: r.set(key, raw, ex=ttl_s))


def cache_delete(*keys: str) -> None:
    if keys:
        _call(lambda r: r.delete(*keys))


def cache_delete_user(user_id: str) -> None:
    """Every cache key holding this user's data (raises when Redis is unreachable)."""

    def run(r: Any) -> None:
        keys = [f"config##{user_id}", f"nosub##{user_id}", f"profile##{user_id}"]
        keys += list(r.scan_iter(match=f"sync:confidence:{user_id}:*", count=500))
        r.delete(*keys)

    _call(run)


def _confidence_key(user_id: str, dest_provider: str) -> str:
    return f"sync:confidence:{user_id}:{dest_provider}"


def confidence_get(user_id: str, dest_provider: str) -> int:
    """Consecutive empty destination reads of this user's syncs into ``dest_provider``; 0 when
    unknown or when Redis cannot be reached (no confidence: read as usual)."""
    try:
        raw = _call(lambda r: r.get(_confidence_key(user_id, dest_provider)))
    except CacheUnavailable:
        return 0
    try:
        return int(raw) if raw is not None else 0
    except ValueError:
        return 0


def confidence_record(user_id: str, dest_provider: str, empty: bool) -> None:
    """One more empty result (counter + 1, TTL 7 days) or a non-empty one (reset). Best effort."""
    key = _confidence_key(user_id, dest_provider)

    def run(r: Any) -> None:
        if empty:
            pipe = r.pipeline(transaction=False)
            pipe.incr(key)
            pipe.expire(key, CONFIDENCE_TTL_S)
            pipe.execute()
        else:
            r.delete(key)

    with contextlib.suppress(CacheUnavailable):
        _call(run)


JWKS_TTL_S = 3600


def jwks_get(url: str, kid: str) -> tuple[dict[str, Any] | None, bool]:
    """The shared JWKS of ``url`` (``jwks##{url}``; None when not cached or invalidated) and
    whether ``kid`` was revoked. Raises :class:`CacheUnavailable`."""

    def run(r: Any) -> tuple[Any, Any]:
        pipe = r.pipeline(transaction=False)
        pipe.get(f"jwks##{url}")
        pipe.sismember(f"jwks##revoked##{url}", kid)
        raw, revoked = pipe.execute()
        return raw, revoked

    raw, revoked = _call(run)
    keys = None
    if raw:
        with contextlib.suppress(ValueError):
            keys = json.loads(raw)
    return (keys if isinstance(keys, dict) else None), bool(revoked)


def jwks_put(url: str, keys: dict[str, Any]) -> None:
    """Best effort: share a fetched JWKS for :data:`JWKS_TTL_S`."""
    with contextlib.suppress(CacheUnavailable):
        _call(lambda r: r.set(f"jwks##{url}", json.dumps(keys), ex=JWKS_TTL_S))


def jwks_invalidate(url: str, kid: str | None = None) -> None:
    """Drop the shared JWKS of ``url`` (every authorizer refetches it) and, with ``kid``, refuse
    that key from now on even if the issuer still publishes it. Raises CacheUnavailable."""

    def run(r: Any) -> None:
        pipe = r.pipeline(transaction=False)
        pipe.delete(f"jwks##{url}")
        if kid:
            pipe.sadd(f"jwks##revoked##{url}", kid)
        pipe.execute()

    _call(run)


# KEYS[1] bucket; ARGV: capacity, refill tokens/s, now ms, requested, reserve (tokens that must
# remain after taking: lower priorities keep a reserve for higher ones), ttl ms.
# Returns {allowed (0/1), wait ms until enough tokens, tokens left * 1000}.
TOKEN_BUCKET_LUA = """
local capacity = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local requested = tonumber(ARGV[4])
local reserve = tonumber(ARGV[5])
local ttl = tonumber(ARGV[6])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1])
local ts = tonumber(state[2])
if tokens == nil or ts == nil then
  tokens = capacity
  ts = now
end
if now > ts then
  tokens = math.min(capacity, tokens + (now - ts) * rate / 1000.0)
  ts = now
end
local allowed = 0
local wait = 0
if tokens - requested >= reserve then
  tokens = tokens - requested
  allowed = 1
else
  wait = math.ceil((requested + reserve - tokens) * 1000.0 / rate)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(ts))
redis.call('PEXPIRE', KEYS[1], ttl)
return {allowed, wait, math.floor(tokens * 1000)}
"""

PRIORITY_RESERVE = {"high": 0.0, "medium": 0.1, "low": 0.3}


def bucket_take(
    tokens: float | None,
    ts: float | None,
    now_ms: float,
    capacity: float,
    rate: float,
    requested: float = 1.0,
    reserve: float = 0.0,
) -> tuple[bool, int, float, float]:
    """The Lua script's arithmetic in Python: (allowed, wait ms, tokens left, new timestamp)."""
    if tokens is None or ts is None:
        tokens, ts = capacity, now_ms
    if now_ms > ts:
        tokens = min(capacity, tokens + (now_ms - ts) * rate / 1000.0)
        ts = now_ms
    if tokens - requested >= reserve:
        return True, 0, tokens - requested, ts
    import math

    return False, math.ceil((requested + reserve - tokens) * 1000.0 / rate), tokens, ts


_scripts: dict[int, Any] = {}


def take_token(provider: str, priority: str = "medium") -> tuple[bool, int]:
    """Take one token from the provider's bucket: (allowed, wait ms). Raises CacheUnavailable."""
    from syncwell import settings

    capacity, rate = settings.rate_limit()
    reserve = PRIORITY_RESERVE.get(priority, 0.1) * capacity

    def run(r: Any) -> tuple[bool, int]:
        script = _scripts.get(id(r))
        if script is None:
            script = _scripts[id(r)] = r.register_script(TOKEN_BUCKET_LUA)
        allowed, wait, _left = script(
            keys=[f"ratelimit##{provider}"],
            args=[capacity, rate, int(time.time() * 1000), 1, reserve, BUCKET_TTL_MS],
        )
        return bool(int(allowed)), int(wait)

    return _call(run)  # type: ignore[no-any-return]
