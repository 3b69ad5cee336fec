"""The Redis token bucket (one Lua script, EVALSHA) against a real redis-server."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time

import pytest

from harness.gateway.ratelimit import QUOTA_EXCEEDED, RateLimiter
from tests.fixtures.gateway.env import free_port, wait_port

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server"),
]


@pytest.fixture(scope="module")
def redis_url():
    port = free_port()
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--save", "", "--bind", "127.0.0.1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_port(port)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def run(coro):
    return asyncio.run(coro)


def test_burst_then_refill_at_rate(redis_url: str) -> None:
    async def go() -> tuple[list[int], list[int]]:
        limiter = RateLimiter(redis_url)
        bucket = [("t:burst", 20.0, 5)]
        first = [await limiter.acquire(bucket) for _ in range(8)]
        await asyncio.sleep(0.26)  # ~5 tokens at 20/s
        second = [await limiter.acquire(bucket) for _ in range(8)]
        await limiter.close()
        return first, second

    first, second = run(go())
    assert first == [0] * 5 + [1] * 3
    assert 4 <= second.count(0) <= 6


def test_all_or_nothing_across_buckets(redis_url: str) -> None:
    async def go() -> list[int]:
        limiter = RateLimiter(redis_url)
        wide, narrow = ("t:wide", 0.001, 100), ("t:narrow", 0.001, 2)
        verdicts = [await limiter.acquire([wide, narrow]) for _ in range(4)]
        # the wide bucket was not charged for the refused calls: 98 tokens remain
        verdicts.append(sum([await limiter.acquire([wide]) == 0 for _ in range(100)]))
        await limiter.close()
        return verdicts

    assert run(go()) == [0, 0, 2, 2, 98]


def test_quota_is_counted_only_for_admitted_calls(redis_url: str) -> None:
    async def go() -> list[int]:
        limiter = RateLimiter(redis_url)
        quota = ("t:quota", 3, 60)
        out = [await limiter.acquire([("t:q-bucket", 1000.0, 1000)], quota) for _ in range(5)]
        await limiter.close()
        return out

    assert run(go()) == [0, 0, 0, QUOTA_EXCEEDED, QUOTA_EXCEEDED]


def test_buckets_are_shared_between_limiters(redis_url: str) -> None:
    async def go() -> list[int]:
        a, b = RateLimiter(redis_url), RateLimiter(redis_url)
        bucket = [("t:shared", 0.001, 4)]
        out = []
        for limiter in (a, b, a, b, a, b):
            out.append(await limiter.acquire(bucket))
        await a.close()
        await b.close()
        return out

    assert run(go()) == [0, 0, 0, 0, 1, 1]


def test_unreachable_redis_fails_open_quickly() -> None:
    async def go() -> tuple[list[int], float]:
        limiter = RateLimiter(f"redis://127.0.0.1:{free_port()}/0")
        started = time.perf_counter()
        out = [await limiter.acquire([("t:x", 1.0, 1)]) for _ in range(50)]
        elapsed = time.perf_counter() - started
        assert limiter.failed_open == 50
        await limiter.close()
        return out, elapsed

    verdicts, elapsed = run(go())
    assert verdicts == [0] * 50
    assert elapsed < 1.0  # one failed connect, then a back-off instead of 50 timeouts


def test_leases_cut_redis_calls_for_busy_callers_without_exceeding_limits(redis_url: str) -> None:
    async def go() -> tuple[int, int, float]:
        a, b = RateLimiter(redis_url), RateLimiter(redis_url)
        bucket = [("t:lease", 100.0, 1000)]  # leases of up to 5 tokens (5 % of the rate)
        allowed = 0
        started = time.monotonic()
        for i in range(1400):
            allowed += (await (a if i % 2 else b).acquire(bucket)) == 0
        elapsed = time.monotonic() - started
        calls = a.redis_calls + b.redis_calls
        await a.close()
        await b.close()
        return allowed, calls, elapsed

    allowed, calls, elapsed = run(go())
    # leased tokens come out of the shared bucket: never more than burst + refill
    assert allowed <= 1000 + 100 * elapsed + 1
    assert allowed >= 1000 - 2 * 5  # at most one lease per worker left unused
    refused = 1400 - allowed  # every refusal asks Redis (no lease for a refused caller)
    assert calls - refused < allowed / 3
