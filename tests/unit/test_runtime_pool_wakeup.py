"""WorkerPools hands a released worker to one waiting call (FIFO), not to every waiter."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from harness.model import FunctionSpec
from harness.runtime.config import RuntimeConfig
from harness.runtime.logs import FunctionLog
from harness.runtime.pool import FunctionPool, WorkerPools
from harness.runtime.worker import Worker


def _setup(tmp_path: Path, max_workers: int = 1, **spec: Any) -> tuple[WorkerPools, FunctionPool]:
    pools = WorkerPools(
        RuntimeConfig(max_workers=max_workers, queue_timeout_s=5),
        tmp_path,
        functions=lambda: [pool],
    )
    fn = FunctionSpec(
        logical_id="Fn", name="fn", arn="arn:aws:lambda:us-east-1:1:function:fn",
        handler="h.h", runtime="python3.11", code_dir=str(tmp_path), **spec,
    )  # fmt: skip
    pool = FunctionPool(fn, "stack", FunctionLog(tmp_path / "fn.log", "fn", 10))

    async def spawn(pool: FunctionPool, *, provisioned: bool = False, gone: Any = None) -> Worker:
        worker = Worker(pool.spec.name, pool.generation)
        pools.total_workers += 1
        pool.workers.add(worker)
        return worker

    pools._spawn = spawn  # type: ignore[method-assign]
    return pools, pool


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def test_a_released_worker_wakes_only_the_first_waiter(tmp_path: Path) -> None:
    async def scenario() -> None:
        pools, pool = _setup(tmp_path)
        worker, cold = await pools.acquire(pool, wait=False)
        assert cold
        served: list[int] = []

        async def call(n: int) -> None:
            got, _cold = await pools.acquire(pool, wait=False)
            assert got is worker
            served.append(n)

        tasks = [asyncio.create_task(call(n)) for n in range(3)]
        await _settle()
        assert len(pool.waiting) == 3 and not served
        pools.release(pool, worker)
        await _settle()
        assert served == [0]  # first come, first served
        assert len(pool.waiting) == 2  # the others were not woken (and are still queued)
        for expected in ([0, 1], [0, 1, 2]):
            pools.release(pool, worker)
            await _settle()
            assert served == expected
        await asyncio.gather(*tasks)
        assert not pool.waiting and not pools._waiting

    asyncio.run(scenario())


def test_a_woken_call_that_leaves_passes_the_worker_on(tmp_path: Path) -> None:
    async def scenario() -> None:
        pools, pool = _setup(tmp_path)
        worker, _ = await pools.acquire(pool, wait=False)
        first = asyncio.create_task(pools.acquire(pool, wait=False))
        second = asyncio.create_task(pools.acquire(pool, wait=False))
        await _settle()
        pools.release(pool, worker)  # wakes `first` ...
        first.cancel()  # ... which is cancelled before it runs
        await _settle()
        assert first.cancelled()
        got, _ = await asyncio.wait_for(second, 1)
        assert got is worker
        assert pool.inflight == 1 and pools.total_inflight == 1

    asyncio.run(scenario())


def test_calls_waiting_for_a_concurrency_limit_still_wake_on_release(tmp_path: Path) -> None:
    async def scenario() -> None:
        pools, pool = _setup(tmp_path, max_workers=1, reserved_concurrency=2)
        worker, _ = await pools.acquire(pool, wait=False)
        queued = asyncio.create_task(pools.acquire(pool, wait=False))  # waits for the worker
        await _settle()
        limited = asyncio.create_task(pools.acquire(pool, wait=True))  # waits for the limit
        await _settle()
        assert pool.inflight == 2 and len(pool.waiting) == 1 and pools._limit_waiters == 1
        pools.release(pool, worker)
        got, _ = await asyncio.wait_for(queued, 1)
        assert got is worker
        await _settle()
        # the release freed a concurrency slot: the limited call re-checked it and now waits
        # for the (busy) worker instead
        assert pools._limit_waiters == 0 and len(pool.waiting) == 1 and pool.inflight == 2
        pools.release(pool, got)
        assert (await asyncio.wait_for(limited, 1))[0] is worker

    asyncio.run(scenario())


def test_a_retired_worker_wakes_every_waiter(tmp_path: Path) -> None:
    async def scenario() -> None:
        pools, pool = _setup(tmp_path)
        worker, _ = await pools.acquire(pool, wait=False)
        tasks = [asyncio.create_task(pools.acquire(pool, wait=False)) for _ in range(2)]
        await _settle()
        worker.dead = True
        pools.release(pool, worker)  # retired: room for a new worker; everyone re-checks
        done, pending = await asyncio.wait(tasks, timeout=1, return_when=asyncio.FIRST_COMPLETED)
        assert len(done) == 1 and len(pending) == 1
        assert pools.total_workers == 1
        (fresh, cold) = done.pop().result()
        assert cold and fresh is not worker
        pools.release(pool, fresh)
        assert (await asyncio.wait_for(pending.pop(), 1))[0] is fresh

    asyncio.run(scenario())
