"""Execution environments per function, and the concurrency rules that hand them out.

* A function may run at most ``ReservedConcurrentExecutions`` invocations at once (0 = always
  throttled); all functions together at most ``account_concurrency`` (Lambda's default 1000).
  A synchronous call over either limit gets a 429 at once; async and event-source calls wait.
* Worker *processes* are bounded separately by ``max_workers`` (default 32 per core, one per
  256 MB at most: :func:`harness.runtime.config._default_max_workers`). When every worker is
  busy an idle worker of another function is recycled to make room; if there is none, a
  synchronous call is throttled
  at once (429, as Lambda does: it never queues synchronous calls) unless the user asked for a
  bounded wait (``queue_timeout_s`` > 0). Async and event-source calls wait.
* At most ``max_concurrent_inits`` environments start at once (default: one per core): a burst
  of cold starts would otherwise keep every core busy with imports long after the burst, the
  overload that never ends. A call waits for an init slot; a synchronous one only while its
  caller is there. While every slot is taken, a call of a function that has environments
  waits for the first of a slot or one of them coming back, and takes that warm one (on
  Lambda it would start its own, elsewhere: here the start would cost this machine's CPU).
* A synchronous call whose caller has gone (timed out, disconnected: :mod:`harness.runtime.caller`)
  stops waiting at once and is never run.
* Provisioned concurrency (``FunctionSpec.provisioned_concurrency``): that many environments are
  started ahead of demand (``AWS_LAMBDA_INITIALIZATION_TYPE=provisioned-concurrency``), kept
  out of idle recycling, and started again when lost (:meth:`WorkerPools.ensure_provisioned`).
* Faults (driven by :mod:`harness.chaos` through :mod:`harness.runtime.capacity`):
  ``throttle_hook`` (a throttle fault = reserved concurrency 0), ``capacity_factor`` (an "AZ
  failure" halves the worker processes), :meth:`WorkerPools.kill` (lose an environment now)
  and :meth:`WorkerPools.drain` (a cold-start storm).
* Warm reuse is LIFO (the most recently used worker first), so a burst that shrinks leaves the
  least recently used workers idle, and the reaper recycles those after ``idle_timeout_s``.
* Waiting: a call waiting for a worker of its function is woken alone (first come, first
  served) when one of that function's workers comes back; every other change (a worker
  retired, a limit freed, provisioned environments started) wakes every waiter to re-check.
  Waking all of them for every released worker cost the runtime ~100 µs of CPU per invocation
  with a few dozen calls queued (benchmarks/bench_gateway.py).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import os
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.model import FunctionSpec
from harness.runtime.caller import CallerGone, caller_gone
from harness.runtime.config import RuntimeConfig
from harness.runtime.debug import DebugSession
from harness.runtime.debug import environment as debug_environment
from harness.runtime.fork import Template, TemplateFailed, Templates, fork_refusal, preload_for
from harness.runtime.launch import function_environ, launch_of
from harness.runtime.logs import FunctionLog
from harness.runtime.metrics import FunctionMetrics
from harness.runtime.worker import Worker

__all__ = [
    "FunctionNotFound",
    "FunctionPool",
    "Throttled",
    "WorkerPools",
    "function_environ",
    "launch_of",
]

logger = logging.getLogger(__name__)

RESERVED_REASON = "ReservedFunctionConcurrentInvocationLimitExceeded"
ACCOUNT_REASON = "ConcurrentInvocationLimitExceeded"


class FunctionNotFound(Exception):
    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(name)


class Throttled(Exception):
    """Lambda's TooManyRequestsException (429)."""

    def __init__(self, reason: str, message: str = "Rate Exceeded.") -> None:
        self.reason = reason
        self.message = message
        super().__init__(f"{reason}: {message}")


class FunctionPool:
    """The execution environments of one function and its counters."""

    def __init__(self, spec: FunctionSpec, stack: str, log: FunctionLog) -> None:
        self.spec = spec
        self.stack = stack
        self.generation = 0
        self.idle: list[Worker] = []
        self.workers: set[Worker] = set()
        self.inflight = 0
        self.waiting: collections.deque[asyncio.Future[None]] = collections.deque()
        self.metrics = FunctionMetrics()
        self.log = log
        self.removed = False
        self.debug: DebugSession | None = None  # harness debug: concurrency pinned to 1

    @property
    def name(self) -> str:
        return self.spec.name


class WorkerPools:
    """Hands out warm workers under the concurrency limits; owns every worker process."""

    def __init__(
        self,
        config: RuntimeConfig,
        log_dir: Path,
        pid_dir: Path | None = None,
        *,
        functions: Callable[[], list[FunctionPool]] | None = None,
    ) -> None:
        self.config = config
        # every function's pool (the runtime's): where an idle worker may be recycled from
        self.functions: Callable[[], list[FunctionPool]] = functions or (lambda: [])
        self.log_dir = log_dir
        # one file per live execution environment, named by its pid, holding its function: a
        # forked environment's /proc environ is its template's, so this is how the control
        # plane's guard names the function behind a refused call (harness.env.secret)
        self.pid_dir = pid_dir
        self.aws_env: dict[str, str] = {}
        self.total_inflight = 0
        self.total_workers = 0
        self._waiting: set[asyncio.Future[None]] = set()  # every waiter (woken by wake_all)
        self._limit_waiters = 0  # waiters for a concurrency limit (not for a worker)
        self._reaping: set[asyncio.Task[None]] = set()
        self.capacity_factor = 1.0
        self.throttle_hook: Callable[[FunctionPool], bool] = lambda pool: False
        inits = config.resolved_max_concurrent_inits
        self._inits: asyncio.Semaphore | None = asyncio.Semaphore(inits) if inits else None
        self.inits_waiting = 0  # calls waiting for an init slot now
        # calls that waited for a warm environment or an init slot instead of queueing a start
        self.deferred_starts = 0
        self.abandoned = 0  # calls whose caller left while they waited (never run)
        self.templates = Templates(log_dir, bool(config.fork))
        self.cold_latency = config.cold_latency()  # None: off (harness.runtime.coldstart)
        self._no_latency_entry: set[str] = set()  # functions warned about once

    @property
    def max_workers(self) -> int:
        """Worker processes allowed now (fewer while an "AZ failure" lasts)."""
        return max(1, int(self.config.resolved_max_workers * self.capacity_factor))

    # -- waiting ---------------------------------------------------------------------------

    def wake_all(self) -> None:
        """Wake every waiter: something changed that any of them may be waiting for."""
        if self._waiting:
            for future in self._waiting:
                if not future.done():
                    future.set_result(None)
            self._waiting.clear()

    def _wake_one(self, pool: FunctionPool) -> bool:
        """Wake the longest-waiting call for a worker of ``pool``; False if there is none."""
        waiting = pool.waiting
        while waiting:
            future = waiting.popleft()
            self._waiting.discard(future)
            if not future.done():
                future.set_result(None)
                return True
        return False

    async def _wait_change(
        self,
        until: float | None,
        pool: FunctionPool | None = None,
        gone: asyncio.Future[None] | None = None,
    ) -> None:
        """Wait for a change (``pool``: for a worker of that function, or any change);
        :class:`CallerGone` as soon as ``gone`` is resolved."""
        timeout = None if until is None else until - time.monotonic()
        if timeout is not None and timeout <= 0:
            raise TimeoutError
        if gone is not None and gone.done():
            raise CallerGone
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def leave(_: asyncio.Future[None]) -> None:
            if not future.done():
                future.set_exception(CallerGone())

        if gone is not None:
            gone.add_done_callback(leave)
        self._waiting.add(future)
        if pool is None:
            self._limit_waiters += 1
        else:
            pool.waiting.append(future)
        try:
            async with asyncio.timeout(timeout):
                await future
        except BaseException:
            # Woken but leaving anyway (timed out, cancelled): pass the wake-up on, so that
            # the worker it announced does not stay idle while another call waits.
            if (
                pool is not None
                and future.done()
                and not future.cancelled()
                and future.exception() is None
            ):
                self._wake_one(pool)
            raise
        finally:
            if gone is not None:
                gone.remove_done_callback(leave)
            self._waiting.discard(future)
            if pool is None:
                self._limit_waiters -= 1
            elif future in pool.waiting:  # not taken by _wake_one (woken by wake_all, or leaving)
                pool.waiting.remove(future)

    # -- acquire / release -------------------------------------------------------------------

    async def acquire(self, pool: FunctionPool, *, wait: bool) -> tuple[Worker, bool]:
        """A worker for one invocation of ``pool`` and whether it was a cold start.

        ``wait=False`` (synchronous calls) throttles at once over a concurrency limit and, without
        a free worker process, at once or after ``queue_timeout_s`` when one is configured;
        ``wait=True`` (async, event sources) waits. :class:`CallerGone` when the caller of a
        synchronous call left while it waited.
        """
        reserved = pool.spec.reserved_concurrency
        if pool.debug is not None and reserved != 0:
            reserved = 1  # debugged: every invocation goes to the one debugged environment
        if reserved == 0 or self.throttle_hook(pool):
            raise Throttled(RESERVED_REASON)
        queue_until = None if wait else time.monotonic() + self.config.queue_timeout_s
        # only a synchronous call has a caller to leave (an async task inherits the context of
        # the request that queued it, whose caller is gone by design)
        gone = None if wait else caller_gone.get()
        while True:
            if reserved is not None and pool.inflight >= reserved:
                if not wait:
                    raise Throttled(RESERVED_REASON)
            elif self.total_inflight >= self.config.account_concurrency:
                if not wait:
                    raise Throttled(ACCOUNT_REASON)
            else:
                break
            await self._wait_change(None)
        pool.inflight += 1
        self.total_inflight += 1
        if pool.inflight > pool.metrics.concurrency_max:
            pool.metrics.concurrency_max = pool.inflight
        try:
            return await self._worker(pool, queue_until, gone)
        except BaseException as exc:
            pool.inflight -= 1
            self.total_inflight -= 1
            if isinstance(exc, CallerGone):
                self.abandoned += 1
            self.wake_all()
            raise

    async def _worker(
        self, pool: FunctionPool, until: float | None, gone: asyncio.Future[None] | None
    ) -> tuple[Worker, bool]:
        deferred = False
        while True:
            while pool.idle:
                worker = pool.idle.pop()
                if not worker.dead and worker.generation == pool.generation:
                    return worker, False
                self.retire(pool, worker)
            if self.total_workers < self.max_workers:
                if self._inits is not None and self._inits.locked() and pool.workers:
                    # Every init slot is taken and this function has environments that will
                    # come back: wait for whichever is first, one of them or a slot, instead
                    # of queueing a cold start a warm environment serves a moment later. A
                    # short stall at a steady rate otherwise became dozens of queued inits
                    # that kept both cores importing long after it (the storm of issue 26).
                    if not deferred:  # a call, however often it is woken and waits again
                        deferred = True
                        self.deferred_starts += 1
                    await self._wait_change(None, pool, gone)
                    continue
                worker = await self._spawn(pool, gone=gone)
                if self.cold_latency is not None and worker.init_error is None:
                    try:
                        await self._platform_delay(pool)
                    except BaseException:  # cancelled meanwhile: the environment stays warm
                        worker.last_used = time.monotonic()
                        pool.idle.append(worker)
                        raise
                return worker, True
            if not self._evict_idle(exclude=pool):
                try:
                    await self._wait_change(until, pool, gone)
                except TimeoutError:
                    within = self.config.queue_timeout_s
                    raise Throttled(
                        ACCOUNT_REASON,
                        (
                            f"No execution environment became free within {within:g} s "
                            if within > 0
                            else "No execution environment free "
                        )
                        + f"({self.max_workers} worker processes busy).",
                    ) from None

    async def _platform_delay(self, pool: FunctionPool) -> None:
        """The configured cold-start latency of a new environment: a sleep, no CPU."""
        assert self.cold_latency is not None
        spec = pool.spec
        runtime = launch_of(spec)[1]
        delay = self.cold_latency.delay(runtime, spec.memory_mb)
        if delay is None:
            if spec.name not in self._no_latency_entry:
                self._no_latency_entry.add(spec.name)
                logger.warning(
                    "cold-start latency: no entry of HARNESS_RUNTIME_COLD_START_LATENCY matches "
                    "%s (runtime %s, %d MB); its cold starts get no added latency",
                    spec.name, runtime, spec.memory_mb,
                )  # fmt: skip
            return
        pool.metrics.cold_start_delays.append(delay * 1000)
        await asyncio.sleep(delay)

    def _evict_idle(self, exclude: FunctionPool) -> bool:
        """Recycle the least recently used idle worker of another function."""
        best: tuple[FunctionPool, Worker] | None = None
        for pool in self.functions():
            if pool is exclude or not pool.idle:
                continue
            candidate = pool.idle[0]
            if best is None or candidate.last_used < best[1].last_used:
                best = (pool, candidate)
        if best is None:
            return False
        best[0].idle.remove(best[1])
        self.retire(best[0], best[1])
        return True

    async def _spawn(
        self,
        pool: FunctionPool,
        *,
        provisioned: bool = False,
        gone: asyncio.Future[None] | None = None,
    ) -> Worker:
        spec = pool.spec
        worker = Worker(spec.name, pool.generation)
        worker.provisioned = provisioned
        stream = time.strftime("%Y/%m/%d") + f"/[{spec.version}]{secrets.token_hex(16)}"
        env = function_environ(spec, self.aws_env, stream)
        if provisioned:
            env["AWS_LAMBDA_INITIALIZATION_TYPE"] = "provisioned-concurrency"
        debug = pool.debug
        if debug is not None:  # waits for a debugger as long as the session lasts
            env.update(debug_environment(debug.port, debug.path))
            worker.debug_port = debug.port
        self.total_workers += 1
        pool.workers.add(worker)
        slot = False
        interpreter = launch_of(spec)[0]
        cwd = spec.task_root or spec.code_dir
        log_path = self.log_dir / f"{spec.name}.worker.log"
        init_timeout: float | None = max(self.config.init_timeout_s, 1.0)
        if debug is not None:
            init_timeout = None
        try:
            if debug is None:  # the debugged one waits for a client: it holds no init slot
                await self._init_slot(gone)
                slot = True
            if debug is None:
                template, reason = self._template(interpreter, env, cwd)
            else:  # exec: the runtime's own child, never a fork of a template
                template, reason = None, None
            if template is not None:
                try:
                    await worker.start(interpreter, env, cwd, log_path, init_timeout, template)
                except TemplateFailed as exc:
                    reason = f"the template could not fork it ({exc})"
            if not worker.forked:
                await worker.start(interpreter, env, cwd, log_path, init_timeout)
                if reason is not None and not os.path.basename(interpreter).startswith("node"):
                    # the function log says why this environment is not a fork
                    worker.init_logs.insert(
                        0, ["runtime", "WARNING", f"[WARNING] started by exec: {reason}"]
                    )
        except BaseException:
            self.retire(pool, worker)
            raise
        finally:
            if slot and self._inits is not None:
                self._inits.release()
                self.wake_all()  # calls waiting for a slot or a warm environment re-check
        self._note_pid(worker, spec.name)
        return worker

    def _note_pid(self, worker: Worker, function: str | None) -> None:
        pid = worker.pid
        if self.pid_dir is None or pid is None:
            return
        try:
            if function is None:
                (self.pid_dir / str(pid)).unlink(missing_ok=True)
            else:
                self.pid_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
                (self.pid_dir / str(pid)).write_text(function)
        except OSError as exc:
            logger.debug("pid file of %s: %s", function, exc)

    def _template(
        self, interpreter: str, env: dict[str, str], cwd: str
    ) -> tuple[Template | None, str | None]:
        """The warm template to fork this environment from, or why there is none."""
        if not self.templates.enabled:
            return None, None  # HARNESS_RUNTIME_FORK=0: exec, as asked (nothing to report)
        reason = fork_refusal(interpreter, env, cwd)
        if reason is not None:
            return None, reason
        template = self.templates.get(
            interpreter, env.get("HARNESS_RUNTIME_PATH", ""), preload_for(env)
        )
        if template.failure is not None:
            return None, template.failure
        return template, None

    async def _init_slot(self, gone: asyncio.Future[None] | None) -> None:
        """Wait for one of the ``max_concurrent_inits`` init slots (:class:`CallerGone` when
        ``gone``, the caller of a synchronous call, leaves meanwhile)."""
        inits = self._inits
        if inits is None:
            return
        if gone is not None and gone.done():
            raise CallerGone
        if not inits.locked() or gone is None:
            self.inits_waiting += 1
            try:
                await inits.acquire()
            finally:
                self.inits_waiting -= 1
            return
        self.inits_waiting += 1
        take: asyncio.Future[Any] = asyncio.ensure_future(inits.acquire())
        either: set[asyncio.Future[Any]] = {take, gone}
        try:
            await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self.inits_waiting -= 1
            if not take.done():
                take.cancel()
        if take.cancelled() or not take.done():
            raise CallerGone
        if gone.done():  # both at once: give the slot back
            inits.release()
            raise CallerGone

    def release(self, pool: FunctionPool, worker: Worker) -> None:
        pool.inflight -= 1
        self.total_inflight -= 1
        if worker.dead or worker.generation != pool.generation or pool.removed:
            self.retire(pool, worker)
        else:
            worker.last_used = time.monotonic()
            pool.idle.append(worker)
            # The common case under load: hand the worker to the next call of the same
            # function only. Calls waiting for a concurrency limit (this release freed one)
            # still re-check, as does everyone when nobody of this function waits.
            if self._wake_one(pool):
                if self._limit_waiters:
                    self.wake_all()
                return
        self.wake_all()

    def retire(self, pool: FunctionPool, worker: Worker) -> None:
        if worker in pool.workers:
            pool.workers.discard(worker)
            self.total_workers -= 1
        self._note_pid(worker, None)
        worker.kill()
        task = asyncio.get_running_loop().create_task(worker.reap())
        self._reaping.add(task)
        task.add_done_callback(self._reaping.discard)
        self.wake_all()

    def drain(self, pool: FunctionPool) -> None:
        """Stop the idle workers now; busy ones stop when their invocation ends."""
        pool.generation += 1
        for worker in pool.idle:
            self.retire(pool, worker)
        pool.idle.clear()

    def reap_idle(self, pools: list[FunctionPool]) -> int:
        cutoff = time.monotonic() - self.config.idle_timeout_s
        count = 0
        for pool in pools:
            keep = []
            for worker in pool.idle:
                if worker.dead or (worker.last_used < cutoff and not worker.provisioned):
                    self.retire(pool, worker)
                    count += 1
                else:
                    keep.append(worker)
            pool.idle[:] = keep
        return count

    # -- provisioned concurrency and capacity faults ------------------------------------------

    @staticmethod
    def provisioned_ready(pool: FunctionPool) -> int:
        return sum(
            1
            for w in pool.workers
            if w.provisioned and not w.dead and w.generation == pool.generation
        )

    async def ensure_provisioned(self, pool: FunctionPool) -> int:
        """Start environments until ``provisioned_concurrency`` are warm; returns how many
        were started. Stops early (and retries at the next housekeeping) at ``max_workers``."""
        wanted = pool.spec.provisioned_concurrency
        started = 0
        if pool.debug is not None:  # debugged: one environment only, started by its invocation
            return 0
        while (
            not pool.removed
            and self.provisioned_ready(pool) < wanted
            and self.total_workers < self.max_workers
        ):
            worker = await self._spawn(pool, provisioned=True)
            if worker.init_error is not None:
                logger.warning("provisioned environment of %s failed to init", pool.name)
                self.retire(pool, worker)
                break
            worker.last_used = time.monotonic()
            pool.idle.insert(0, worker)  # LIFO reuse takes on-demand workers first
            started += 1
            self.wake_all()
        return started

    def kill(self, pool: FunctionPool, worker: Worker) -> bool:
        """Lose one execution environment now; True if it was busy (its invocation then ends
        with ``Runtime.ExitError`` and :meth:`release` retires it)."""
        if worker in pool.idle:
            pool.idle.remove(worker)
            self.retire(pool, worker)
            return False
        worker.kill()
        return True

    async def close(self, pools: list[FunctionPool]) -> None:
        for pool in pools:
            pool.removed = True
            for worker in list(pool.workers):
                self.retire(pool, worker)
            pool.idle.clear()
        if self._reaping:
            await asyncio.gather(*list(self._reaping), return_exceptions=True)
        await self.templates.close()

    def snapshot(self) -> dict[str, Any]:
        return {
            "in_flight": self.total_inflight,
            "workers": self.total_workers,
            "max_workers": self.max_workers,
            "configured_max_workers": self.config.resolved_max_workers,
            "capacity_factor": self.capacity_factor,
            "account_concurrency": self.config.account_concurrency,
            "max_concurrent_inits": self.config.resolved_max_concurrent_inits,
            "templates": self.templates.snapshot(),
            "inits_waiting": self.inits_waiting,
            "deferred_starts": self.deferred_starts,
            "abandoned": self.abandoned,
        }
