"""Overload that ends (issue 26): a synchronous call is throttled at once when no worker is free
(a bounded wait only when configured), a call whose caller has gone is never run, and at most
``max_concurrent_inits`` environments start at once."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from pathlib import Path
from typing import Any

import pytest

from harness.errors import ConfigError
from harness.model import FunctionSpec
from harness.runtime import channel as ch
from harness.runtime.caller import CallerGone, caller_gone, gone_future, mark_gone
from harness.runtime.config import RuntimeConfig
from harness.runtime.logs import FunctionLog
from harness.runtime.pool import FunctionPool, Throttled, WorkerPools
from harness.runtime.worker import Worker


def _spec(tmp_path: Path, name: str = "fn") -> FunctionSpec:
    return FunctionSpec(
        logical_id="Fn", name=name, arn=f"arn:aws:lambda:us-east-1:1:function:{name}",
        handler="h.h", runtime="python3.11", code_dir=str(tmp_path),
        interpreter="/usr/bin/python3",
    )  # fmt: skip


def _setup(tmp_path: Path, **config: Any) -> tuple[WorkerPools, FunctionPool, list[int]]:
    """Pools whose workers "start" in 0.2 s without a process (``Worker.start`` is replaced
    while the test runs: see :func:`_counting`); the list records how many environments were
    starting at once, at each start."""
    pools = WorkerPools(RuntimeConfig(fork=0, **config), tmp_path, functions=lambda: [pool])
    # exec: Worker.start is faked
    pool = FunctionPool(_spec(tmp_path), "stack", FunctionLog(tmp_path / "fn.log", "fn", 10))
    starting = [0]
    peaks: list[int] = []

    async def start(self: Worker, *args: Any) -> None:
        starting[0] += 1
        peaks.append(starting[0])
        try:
            await asyncio.sleep(0.2)
        finally:
            starting[0] -= 1

    _STARTS[id(pools)] = start
    return pools, pool, peaks


_STARTS: dict[int, Any] = {}


def _counting(pools: WorkerPools, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Worker, "start", _STARTS.pop(id(pools)))


@pytest.fixture
def fake_start(monkeypatch: pytest.MonkeyPatch) -> None:
    async def start(self: Worker, *args: Any) -> None:
        await asyncio.sleep(0.2)

    monkeypatch.setattr(Worker, "start", start)


def test_sync_call_is_throttled_at_once_by_default(tmp_path: Path, fake_start: None) -> None:
    async def scenario() -> None:
        pools, pool, _ = _setup(tmp_path, max_workers=1)
        assert pools.config.queue_timeout_s == 0
        worker, cold = await pools.acquire(pool, wait=False)
        assert cold
        started = time.monotonic()
        with pytest.raises(Throttled) as raised:
            await pools.acquire(pool, wait=False)
        assert time.monotonic() - started < 0.1  # not queued (the old default waited 10 s)
        assert "No execution environment free" in raised.value.message
        assert pool.inflight == 1 and not pool.waiting
        pools.release(pool, worker)
        await pools.close([pool])

    asyncio.run(scenario())


def test_a_bounded_wait_only_when_asked(tmp_path: Path, fake_start: None) -> None:
    async def scenario() -> None:
        pools, pool, _ = _setup(tmp_path, max_workers=1, queue_timeout_s=2)
        worker, _ = await pools.acquire(pool, wait=False)
        waiter = asyncio.create_task(pools.acquire(pool, wait=False))
        await asyncio.sleep(0.05)
        assert len(pool.waiting) == 1
        pools.release(pool, worker)
        got, cold = await waiter
        assert got is worker and not cold
        pools.release(pool, got)
        await pools.close([pool])

    asyncio.run(scenario())


def test_negative_settings_are_refused() -> None:
    with pytest.raises(ConfigError, match="QUEUE_TIMEOUT_S"):
        RuntimeConfig(queue_timeout_s=-1)
    with pytest.raises(ConfigError, match="MAX_CONCURRENT_INITS"):
        RuntimeConfig(max_concurrent_inits=-1)


def test_a_caller_that_leaves_while_waiting_is_never_run(tmp_path: Path, fake_start: None) -> None:
    async def scenario() -> None:
        pools, pool, _ = _setup(tmp_path, max_workers=1, queue_timeout_s=30)
        worker, _ = await pools.acquire(pool, wait=False)
        gone: list[asyncio.Future[None]] = []

        async def call() -> Any:
            gone.append(gone_future())
            return await pools.acquire(pool, wait=False)

        waiter = asyncio.create_task(call())
        await asyncio.sleep(0.05)
        assert len(pool.waiting) == 1
        started = time.monotonic()
        mark_gone(gone[0])
        with pytest.raises(CallerGone):
            await waiter
        assert time.monotonic() - started < 0.1  # not after the 30 s queue timeout
        assert pool.inflight == 1 and pools.total_inflight == 1 and not pool.waiting
        assert pools.abandoned == 1
        # the worker it never got goes to the next call, not to the caller that left
        pools.release(pool, worker)
        assert pool.idle == [worker]
        again, cold = await pools.acquire(pool, wait=False)
        assert again is worker and not cold
        pools.release(pool, again)
        await pools.close([pool])

    asyncio.run(scenario())


def test_the_gone_future_is_per_call() -> None:
    async def scenario() -> None:
        async def call() -> asyncio.Future[None] | None:
            gone_future()
            return caller_gone.get()

        a, b = await asyncio.gather(call(), call())
        assert a is not None and b is not None and a is not b
        assert caller_gone.get() is None  # nothing leaked into the caller's context

    asyncio.run(scenario())


def test_environments_start_at_most_n_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def scenario() -> None:
        pools, pool, peaks = _setup(tmp_path, max_workers=10, max_concurrent_inits=2)
        _counting(pools, monkeypatch)
        got = await asyncio.gather(*[pools.acquire(pool, wait=True) for _ in range(6)])
        assert all(cold for _, cold in got) and len({id(w) for w, _ in got}) == 6
        assert max(peaks) == 2  # unbounded, all six started together
        assert pools.inits_waiting == 0
        for worker, _ in got:
            pools.release(pool, worker)
        await pools.close([pool])

    asyncio.run(scenario())


def test_the_init_bound_fails_when_unbounded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The check above can fail: with a bound of 6 the six start together."""

    async def scenario() -> None:
        pools, pool, peaks = _setup(tmp_path, max_workers=10, max_concurrent_inits=6)
        _counting(pools, monkeypatch)
        got = await asyncio.gather(*[pools.acquire(pool, wait=True) for _ in range(6)])
        assert max(peaks) == 6
        for worker, _ in got:
            pools.release(pool, worker)
        await pools.close([pool])

    asyncio.run(scenario())


def test_a_caller_that_leaves_while_waiting_for_an_init_slot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def scenario() -> None:
        pools, pool, peaks = _setup(tmp_path, max_workers=10, max_concurrent_inits=1)
        _counting(pools, monkeypatch)
        first = asyncio.create_task(pools.acquire(pool, wait=False))
        await asyncio.sleep(0.01)
        gone: list[asyncio.Future[None]] = []

        async def call() -> Any:
            gone.append(gone_future())
            return await pools.acquire(pool, wait=False)

        second = asyncio.create_task(call())
        await asyncio.sleep(0.01)
        # waiting for the slot or the first environment, whichever comes first
        assert pools.deferred_starts == 1 and pools.total_workers == 1
        mark_gone(gone[0])
        with pytest.raises(CallerGone):
            await second
        assert pools.total_workers == 1 and pools.inits_waiting == 0 and pool.inflight == 1
        worker, _ = await first
        pools.release(pool, worker)
        # the slot was not leaked: another environment can start
        other = asyncio.create_task(pools.acquire(pool, wait=True))
        blocker, _ = await pools.acquire(pool, wait=False)
        assert blocker is worker
        extra, cold = await asyncio.wait_for(other, 2)
        assert cold and peaks == [1, 1]
        pools.release(pool, blocker)
        pools.release(pool, extra)
        await pools.close([pool])

    asyncio.run(scenario())


def test_a_call_waiting_for_an_init_slot_takes_a_warm_environment_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While every init slot is taken, a call of a function with environments takes the first
    one that comes back instead of queueing a start of its own (the cold-start storm after a
    short stall). On the old pool the third call below started a third environment."""

    async def scenario() -> None:
        pools, pool, peaks = _setup(tmp_path, max_workers=10, max_concurrent_inits=1)
        _counting(pools, monkeypatch)
        busy, cold = await pools.acquire(pool, wait=False)
        assert cold
        starting = asyncio.create_task(pools.acquire(pool, wait=False))  # holds the one slot
        await asyncio.sleep(0.01)
        third = asyncio.create_task(pools.acquire(pool, wait=False))
        await asyncio.sleep(0.01)
        assert not third.done() and pools.deferred_starts == 1
        pools.release(pool, busy)  # the warm environment comes back before the slot frees
        got, third_cold = await asyncio.wait_for(third, 1)
        assert got is busy and not third_cold
        second, second_cold = await starting
        assert second_cold and len(peaks) == 2  # two environments started, not three
        pools.release(pool, got)
        pools.release(pool, second)
        await pools.close([pool])

    asyncio.run(scenario())


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_channel_timeout_and_closed_connection_tell_the_runtime() -> None:
    port = _free_port()
    seen: list[asyncio.Future[None]] = []

    async def dispatch(
        name: str, payload: bytes, tail: bool
    ) -> tuple[int, bytes, list[tuple[str, str]]]:
        gone = caller_gone.get()
        assert gone is not None
        seen.append(gone)
        try:
            async with asyncio.timeout(5):
                await asyncio.shield(gone)
        except TimeoutError:
            return 200, b'{"gone": false}', []
        return 429, json.dumps({"gone": True}).encode(), []

    async def scenario() -> None:
        server = await ch.serve_channel(dispatch, port)
        assert server is not None
        client = ch.ChannelClient(ch.address_for_port(port))
        try:
            with pytest.raises(TimeoutError):
                await client.invoke("f", b"{}", 0.1)
            await asyncio.sleep(0.1)
            assert len(seen) == 1 and seen[0].done()  # the cancel frame arrived
            # a call whose connection closes is given up too
            in_flight = asyncio.ensure_future(client.invoke("f", b"{}", 10))
            await asyncio.sleep(0.1)
            assert len(seen) == 2 and not seen[1].done()
            client.close()
            with pytest.raises(ch.ChannelLost):
                await in_flight
            await asyncio.sleep(0.1)
            assert seen[1].done()
        finally:
            client.close()
            server.close()

    asyncio.run(scenario())


def test_an_async_call_ignores_the_caller_of_the_request_that_queued_it(
    tmp_path: Path, fake_start: None
) -> None:
    """An async task inherits the context of the Invoke request that queued it; that caller
    leaving (it got its 202) must not drop the invocation."""

    async def scenario() -> None:
        pools, pool, _ = _setup(tmp_path, max_workers=1, max_concurrent_inits=1)
        worker, _ = await pools.acquire(pool, wait=False)
        mark_gone(gone_future())  # the request's caller has gone
        waiter = asyncio.create_task(pools.acquire(pool, wait=True))
        await asyncio.sleep(0.05)
        assert not waiter.done()
        pools.release(pool, worker)
        got, _ = await asyncio.wait_for(waiter, 2)
        assert got is worker and pools.abandoned == 0
        pools.release(pool, got)
        await pools.close([pool])

    asyncio.run(scenario())
