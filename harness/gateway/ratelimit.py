"""Token buckets and quotas in Redis, shared by every gateway worker process.

One Lua script (loaded once, then called with EVALSHA through ``resp.RespClient``) checks all
the buckets a request draws from — stage, route, usage plan of the tenant or API key — and the
plan's quota counter, atomically: it grants ``n`` tokens only if every bucket has them (each
gives ``n``) and the quota has room (its counter grows by ``n``); otherwise nothing is taken.
Time comes from Redis (``TIME``), so the workers agree on it. A bucket refills at ``rate``
tokens/s up to ``burst``.

**Leases.** A worker asks for more than one token when a caller is busy, and spends them
locally for at most ``LEASE_S`` (50 ms): the lease size starts at 1, doubles while leases run
out before they expire and halves when they expire unused, capped at 5 % of the smallest
bucket's rate and burst — so a 10 RPS plan is always checked token by token, while a 1,000 RPS
caller costs one Redis call per ~50 tokens. Leased tokens left over at expiry are dropped, never
returned: the limits are never exceeded, at worst slightly under-used.

If Redis is unreachable the limiter fails **open** (requests pass) and logs a warning at most
every 10 s; it retries Redis after a short back-off instead of paying a connect timeout per
request.
"""

from __future__ import annotations

import asyncio
import calendar
import contextlib
import datetime as dt
import logging
import time
from typing import Any

from harness.gateway.redis_client import RespClient

__all__ = ["LEASE_S", "LUA", "QUOTA_EXCEEDED", "RateLimiter", "quota_window"]

logger = logging.getLogger(__name__)

QUOTA_EXCEEDED = -1
LEASE_S = 0.05
LEASE_FRACTION = 0.05

# KEYS: bucket keys..., [quota key]
# ARGV: n, (rate, burst) * n, quota limit (0 = none), quota ttl, wanted tokens
# Returns {granted, refused_by}: refused_by is 0, the 1-based bucket index, or -1 (quota).
LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local n = tonumber(ARGV[1])
local want = tonumber(ARGV[2 * n + 4])
local level = {}
for i = 1, n do
  local rate = tonumber(ARGV[2 * i])
  local burst = tonumber(ARGV[2 * i + 1])
  local v = redis.call('HMGET', KEYS[i], 't', 'ts')
  local tokens = tonumber(v[1])
  local ts = tonumber(v[2])
  if tokens == nil or ts == nil then
    tokens = burst
    ts = now
  end
  local elapsed = now - ts
  if elapsed < 0 then elapsed = 0 end
  tokens = math.min(burst, tokens + elapsed * rate)
  if tokens < 1 then
    return {0, i}
  end
  level[i] = tokens
  if math.floor(tokens) < want then want = math.floor(tokens) end
end
local qlimit = tonumber(ARGV[2 * n + 2])
if qlimit > 0 then
  local qkey = KEYS[n + 1]
  local used = tonumber(redis.call('GET', qkey) or '0')
  if used >= qlimit then
    return {0, -1}
  end
  if qlimit - used < want then want = qlimit - used end
  if redis.call('INCRBY', qkey, want) == want then
    redis.call('EXPIRE', qkey, tonumber(ARGV[2 * n + 3]))
  end
end
for i = 1, n do
  local rate = tonumber(ARGV[2 * i])
  local burst = tonumber(ARGV[2 * i + 1])
  redis.call('HSET', KEYS[i], 't', tostring(level[i] - want), 'ts', tostring(now))
  redis.call('EXPIRE', KEYS[i], math.ceil(burst / rate) + 60)
end
return {want, 0}
"""


_WINDOWS: dict[tuple[str | None, int], tuple[str, int, float]] = {}


def quota_window(period: str | None, now: float | None = None) -> tuple[str, int]:
    """(suffix naming the current DAY/WEEK/MONTH period, seconds until it ends + margin)."""
    current = time.time() if now is None else now
    key = (period, int(current // 60))
    cached = _WINDOWS.get(key)
    if cached is not None:
        return cached[0], max(60, int(cached[1] - (current - cached[2])))
    suffix, ttl = _quota_window(period, current)
    if len(_WINDOWS) > 64:
        _WINDOWS.clear()
    _WINDOWS[key] = (suffix, ttl, current)
    return suffix, ttl


def _quota_window(period: str | None, now: float) -> tuple[str, int]:
    stamp = dt.datetime.fromtimestamp(now, tz=dt.UTC)
    if period == "DAY":
        end = dt.datetime(stamp.year, stamp.month, stamp.day, tzinfo=dt.UTC) + dt.timedelta(days=1)
        suffix = stamp.strftime("%Y%m%d")
    elif period == "WEEK":
        monday = dt.datetime(stamp.year, stamp.month, stamp.day, tzinfo=dt.UTC) - dt.timedelta(
            days=stamp.weekday()
        )
        end = monday + dt.timedelta(days=7)
        suffix = monday.strftime("w%Y%m%d")
    else:
        days = calendar.monthrange(stamp.year, stamp.month)[1]
        end = dt.datetime(stamp.year, stamp.month, 1, tzinfo=dt.UTC) + dt.timedelta(days=days)
        suffix = stamp.strftime("%Y%m")
    return suffix, int((end - stamp).total_seconds()) + 3600


class _Lease:
    __slots__ = ("expires", "pending", "remaining", "size")

    def __init__(self) -> None:
        self.remaining = 0
        self.expires = 0.0
        self.size = 1
        self.pending: asyncio.Future[int] | None = None  # a refill in flight (single flight)


class RateLimiter:
    def __init__(self, redis_url: str | None, retry_after_s: float = 1.0) -> None:
        self.redis_url = redis_url
        self.retry_after_s = retry_after_s
        self._client: RespClient | None = None
        self._down_until = 0.0
        self._last_warning = 0.0
        self._leases: dict[tuple[str, ...], _Lease] = {}
        self.failed_open = 0
        self.redis_calls = 0

    def _ensure(self) -> RespClient:
        if self._client is None:
            assert self.redis_url is not None
            self._client = RespClient(self.redis_url, timeout=0.5)
        return self._client

    async def acquire(
        self,
        buckets: list[tuple[str, float, int]],
        quota: tuple[str, int, int] | None = None,
    ) -> int:
        """0 if allowed; ``i`` (1-based) if bucket ``i`` is empty; ``QUOTA_EXCEEDED``."""
        if not buckets and quota is None:
            return 0
        if not self.redis_url:
            return 0
        lease_key = tuple(key for key, _r, _b in buckets) + ((quota[0],) if quota else ())
        lease = self._leases.get(lease_key)
        if lease is None:
            if len(self._leases) > 100_000:
                self._leases.clear()
            lease = self._leases[lease_key] = _Lease()
        for _attempt in range(3):
            now = time.monotonic()
            if lease.remaining > 0:
                if now < lease.expires:
                    lease.remaining -= 1
                    return 0
                lease.size = max(1, lease.size // 2)  # expired unused: ask for less
                lease.remaining = 0
            if lease.pending is None:
                break
            verdict = await asyncio.shield(lease.pending)  # another request is refilling
            if verdict:
                return verdict
        if time.monotonic() < self._down_until:
            self.failed_open += 1
            return 0
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        lease.pending = future
        try:
            verdict = await self._refill(lease, buckets, quota, lease_key)
        except BaseException:  # cancelled: release the waiters (they pass, as when failing open)
            if not future.done():
                future.set_result(0)
            raise
        finally:
            lease.pending = None
        future.set_result(verdict)
        return verdict

    async def _refill(
        self,
        lease: _Lease,
        buckets: list[tuple[str, float, int]],
        quota: tuple[str, int, int] | None,
        keys: tuple[str, ...],
    ) -> int:
        now = time.monotonic()
        cap = 1
        if buckets:
            cap = max(1, int(min(min(r, b) for _k, r, b in buckets) * LEASE_FRACTION))
        if lease.expires and now < lease.expires + LEASE_S:
            lease.size = min(cap, lease.size * 2)  # ran out quickly: ask for more
        want = min(cap, lease.size)
        args: list[Any] = [len(buckets)]
        for _key, rate, burst in buckets:
            args += [repr(float(rate)), int(burst)]
        args += [quota[1], quota[2]] if quota is not None else [0, 0]
        args.append(want)
        try:
            self.redis_calls += 1
            granted, refused_by = await self._ensure().evalsha(LUA, list(keys), args)
        except Exception as exc:
            self._down_until = now + self.retry_after_s
            self.failed_open += 1
            if now - self._last_warning > 10.0:
                self._last_warning = now
                logger.warning(
                    "gateway: Redis at %s unreachable (%s); throttling fails OPEN until it is back",
                    self.redis_url, exc,
                )  # fmt: skip
            return 0
        if refused_by:
            lease.size = 1
            return int(refused_by)
        lease.remaining += int(granted) - 1
        lease.expires = time.monotonic() + LEASE_S
        return 0

    async def close(self) -> None:
        if self._client is not None:
            with contextlib.suppress(Exception):  # closing at shutdown
                await self._client.close()
