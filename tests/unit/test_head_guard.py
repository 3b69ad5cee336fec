"""The request-head limits both gateway servers share (harness.daemon.limits.HeadGuard)."""

from __future__ import annotations

import asyncio

import pytest

from harness.daemon import limits
from harness.daemon.limits import MAX_HEAD_BYTES, HeadGuard


def test_a_head_over_the_limit_is_refused_and_the_body_does_not_count() -> None:
    async def scenario() -> None:
        guard = HeadGuard(lambda: None)
        guard.arm()
        assert not guard.too_large(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" + b"x" * MAX_HEAD_BYTES)
        guard.head_complete()
        assert not guard.too_large(b"y" * (2 * MAX_HEAD_BYTES))  # a body is not head
        guard.next_request()
        assert not guard.too_large(b"a" * MAX_HEAD_BYTES)
        assert guard.too_large(b"a")  # one byte over, across two reads
        guard.disarm()

    asyncio.run(scenario())


def test_a_head_that_does_not_arrive_in_time_times_out_and_a_complete_one_does_not(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def scenario() -> tuple[int, int]:
        fired = {"slow": 0, "done": 0}
        slow = HeadGuard(lambda: fired.__setitem__("slow", fired["slow"] + 1))
        done = HeadGuard(lambda: fired.__setitem__("done", fired["done"] + 1))
        slow.arm()
        done.arm()
        done.head_complete()
        await asyncio.sleep(0.15)
        return fired["slow"], fired["done"]

    monkeypatch.setattr(limits, "HEAD_TIMEOUT_S", 0.05)
    assert asyncio.run(scenario()) == (1, 0)
