"""The runtime: functions loaded from the stack files, invocations, async retries, pollers.

Everything here runs on the server's event loop except the pollers (one thread each, see
:mod:`harness.runtime.pollers.poller`) and boto3 calls (a thread pool).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import logging
import random
import time
from pathlib import Path
from typing import Any

from harness.aws import aws_environ
from harness.chaos.lambda_faults import LambdaFault, LambdaFaultEngine
from harness.metrics.publishers import emf_lines, lambda_invocation, lambda_throttle
from harness.model import DeployedStack, FunctionSpec, load_stacks
from harness.obs.carry import CarriedTraces
from harness.obs.spans import TraceConfig, recorder_for
from harness.runtime.asyncinvoke import AsyncInvoker
from harness.runtime.caller import CallerGone, is_gone
from harness.runtime.capacity import AzFailure, CapacityFactory
from harness.runtime.config import RuntimeConfig
from harness.runtime.debug import Deadline, end_session, sessions, start_session
from harness.runtime.destinations import AwsClients
from harness.runtime.events import new_request_id
from harness.runtime.logs import FunctionLog, tail_text
from harness.runtime.names import pick_version, select_pools, split_qualifier
from harness.runtime.outcome import InvokeResult, settle
from harness.runtime.pollers import Poller
from harness.runtime.pollers.schedule_poller import AmbiguousSchedule, schedule_names
from harness.runtime.pool import FunctionNotFound, FunctionPool, Throttled, WorkerPools
from harness.runtime.sources import SOURCE_SETUP_WAIT_S, sync_pollers, wait_ready, wanted_sources
from harness.runtime.tracing import trace_outcome
from harness.runtime.worker import Worker, WorkerResult

__all__ = [
    "FunctionNotFound",
    "InvokeResult",
    "Runtime",
    "Throttled",
    "pick_version",
    "split_qualifier",
]

logger = logging.getLogger(__name__)


class Runtime:
    def __init__(
        self,
        state_dir: Path,
        config: RuntimeConfig | None = None,
        *,
        capacity: CapacityFactory,
    ) -> None:
        """``capacity`` builds the capacity faults (:mod:`harness.runtime.capacity`; the
        runtime's server passes :class:`harness.chaos.capacity.CapacityChaos`)."""
        self.state_dir = Path(state_dir)
        self.config = config or RuntimeConfig.load()
        trace_config = TraceConfig.from_env()
        self.tracer = recorder_for("lambda", self.state_dir, trace_config)  # None: tracing off
        # SNS / EventBridge deliveries' producer traces (noted by the edge)
        self.carried = (
            CarriedTraces(self.state_dir, trace_config) if self.tracer is not None else None
        )
        self.functions: dict[str, FunctionPool] = {}
        self._alias_random = random.Random()  # an alias's weighted pick between two versions
        self._logical: dict[tuple[str, str], str] = {}  # (stack, logical id) → name
        self.pools = WorkerPools(
            self.config,
            self.state_dir / "logs" / "functions",
            self.state_dir / "runtime-pids",
            functions=lambda: list(self.functions.values()),
        )
        self.pollers: dict[str, Poller] = {}
        self.endpoints: dict[str, Any] = {}
        self.aws: AwsClients | None = None
        self.io = concurrent.futures.ThreadPoolExecutor(32, thread_name_prefix="runtime-io")
        self.loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._background: list[asyncio.Task[Any]] = []
        self.async_invoker = AsyncInvoker(self)
        self._fingerprint: tuple[Any, ...] = ()
        self._reload_lock: asyncio.Lock | None = None
        self.started_at = time.time()
        self.reloads = 0
        self.load_errors: list[str] = []
        self.faults = LambdaFaultEngine()
        self.pools.throttle_hook = self._throttled
        self.capacity = capacity(self.pools, self.state_dir, self.faults.record)

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.async_invoker.slots = asyncio.Semaphore(self.config.async_max_workers)
        self._reload_lock = asyncio.Lock()
        await self.reload()
        self._background = [
            self.loop.create_task(self._watch()),
            self.loop.create_task(self._housekeeping()),
        ]

    async def stop(self) -> None:
        """Stop pollers, drop queued async events, kill every worker. Called after the HTTP
        server stopped taking requests, so every other task on the loop is ours to cancel
        (including invocations that poller threads are waiting on)."""
        self.capacity.end_az_failure()
        for poller in self.pollers.values():
            poller.stop()
        current = asyncio.current_task()
        others = [t for t in asyncio.all_tasks() if t is not current]
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)
        await self.pools.close(list(self.functions.values()))
        if self.tracer is not None:
            self.tracer.shutdown()
        for pool in self.functions.values():
            pool.log.close()
        for poller in self.pollers.values():
            await asyncio.get_running_loop().run_in_executor(None, poller.join, 2.0)
        self.io.shutdown(wait=False, cancel_futures=True)

    def _spawn_task(self, coro: Any) -> asyncio.Task[Any]:
        assert self.loop is not None
        task = self.loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # -- loading ----------------------------------------------------------------------------

    def _stack_fingerprint(self) -> tuple[Any, ...]:
        items: list[Any] = []
        for path in [
            self.state_dir / "state.json",
            *sorted((self.state_dir / "stacks").glob("*.json")),
        ]:
            with contextlib.suppress(OSError):
                st = path.stat()
                items.append((path.name, st.st_mtime_ns, st.st_size))
        return tuple(items)

    def _read(self) -> tuple[dict[str, Any], dict[str, DeployedStack]]:
        endpoints: dict[str, Any] = {}
        with contextlib.suppress(OSError, ValueError):
            endpoints = json.loads((self.state_dir / "state.json").read_text()).get("endpoints", {})
        return endpoints, load_stacks(self.state_dir)

    async def reload(self) -> dict[str, Any]:
        """Re-read the state and stack files; restart what changed."""
        assert self._reload_lock is not None and self.loop is not None
        async with self._reload_lock:
            fingerprint = self._stack_fingerprint()
            try:
                endpoints, stacks = await self.loop.run_in_executor(None, self._read)
                self.load_errors = []
            except Exception as exc:  # a half-written or invalid stack file: keep what runs
                logger.exception("cannot load the stack files")
                self.load_errors = [f"{type(exc).__name__}: {exc}"]
                self._fingerprint = fingerprint
                return self.describe()
            self._fingerprint = fingerprint
            self.reloads += 1
            self._apply(endpoints, stacks)
        # as on AWS, a deploy is over once its subscriptions and mappings exist: a message
        # published right after `harness deploy` returns must not miss a poller still setting up
        pollers = list(self.pollers.values())
        await self.loop.run_in_executor(None, wait_ready, pollers, SOURCE_SETUP_WAIT_S)
        await self.ensure_provisioned()
        return self.describe()

    def _apply(self, endpoints: dict[str, Any], stacks: dict[str, DeployedStack]) -> None:
        endpoints_changed = endpoints != self.endpoints
        if endpoints_changed:
            self.endpoints = endpoints
            self.aws = AwsClients(endpoints) if endpoints.get("aws_endpoint") else None
            if self.aws is not None:
                self.aws.invoke_function = self.async_invoker.submit_from_thread
            self.pools.aws_env = aws_environ(endpoints) if endpoints.get("aws_endpoint") else {}
        wanted: dict[str, tuple[str, FunctionSpec]] = {}
        self._logical = {}
        for stack in stacks.values():
            for logical_id, spec in stack.functions.items():
                wanted[spec.name] = (stack.name, spec)
                self._logical[(stack.name, logical_id)] = spec.name
        for name in list(self.functions):
            if name not in wanted:
                gone = self.functions.pop(name)
                gone.removed = True
                self.pools.drain(gone)
                gone.log.close()
        log_dir = self.state_dir / "logs" / "functions"
        for name, (stack_name, spec) in wanted.items():
            pool = self.functions.get(name)
            if pool is None:
                # one log per function, as one log group holds every version's streams on AWS
                # (`name:1` writes to `name.log`; harness logs and the tests read that file)
                base = name.split(":", 1)[0]
                log = next(
                    (p.log for p in self.functions.values() if p.log.function == base), None
                ) or FunctionLog(log_dir / f"{base}.log", base, self.config.log_buffer_lines)
                self.functions[name] = FunctionPool(spec, stack_name, log)
            elif pool.spec != spec or endpoints_changed:
                pool.spec = spec
                pool.stack = stack_name
                self.pools.drain(pool)
        self._apply_sources(stacks, restart_all=endpoints_changed)

    def _apply_sources(self, stacks: dict[str, DeployedStack], restart_all: bool) -> None:
        wanted = wanted_sources(stacks, self._logical)
        sync_pollers(self.pollers, wanted, self, restart_all=restart_all, start=bool(self.aws))

    def describe(self) -> dict[str, Any]:
        return {
            "functions": sorted(self.functions),
            "event_sources": [
                {"name": p.name, "kind": p.kind, "function": p.function}
                for p in self.pollers.values()
            ],
            "errors": self.load_errors,
            "reloads": self.reloads,
        }

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self.config.watch_interval_s)
            try:
                fingerprint = await self.loop.run_in_executor(None, self._stack_fingerprint)  # type: ignore[union-attr]
                if fingerprint != self._fingerprint:
                    logger.info("stack files changed; reloading")
                    await self.reload()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("watching the stack files failed")

    async def _housekeeping(self) -> None:
        while True:
            await asyncio.sleep(min(1.0, self.config.idle_timeout_s / 2))
            try:
                self.pools.reap_idle(list(self.functions.values()))
                for pool in self.functions.values():
                    pool.log.flush()
                await self.ensure_provisioned()
            except Exception:
                logger.exception("housekeeping failed")

    # -- lookup -------------------------------------------------------------------------------

    def resolve(self, name_or_arn: str) -> FunctionPool:
        """The pool that runs ``name_or_arn``: a name or ARN, qualified by a version (its own
        pool, ``name:3``), an alias (a version picked by its routing weights, per call) or
        ``$LATEST``; an unknown qualifier is not found, as on Lambda."""
        pool = self.functions.get(name_or_arn)
        if pool is not None:
            return pool
        base, qualifier = split_qualifier(name_or_arn)
        pool = self.functions.get(base)
        if pool is None:
            raise FunctionNotFound(name_or_arn)
        if qualifier is None or qualifier == "$LATEST":
            return pool
        alias = pool.spec.aliases.get(qualifier)
        version = pick_version(alias, self._alias_random) if alias is not None else qualifier
        if version == "$LATEST":
            return pool
        found = self.functions.get(f"{base}:{version}")
        if found is None:
            raise FunctionNotFound(name_or_arn)
        return found

    def function_arn(self, pool: FunctionPool) -> str:
        if pool.spec.arn:
            return pool.spec.arn
        region = self.endpoints.get("region", "us-east-1")
        account = self.endpoints.get("account_id", "000000000000")
        return f"arn:aws:lambda:{region}:{account}:function:{pool.name}"

    # -- invoke ------------------------------------------------------------------------------

    async def invoke(
        self,
        pool: FunctionPool,
        payload: bytes,
        *,
        request_id: str | None = None,
        wait: bool = False,
        tail: bool = False,
        invoked_arn: str | None = None,
        trace: str | None = None,
    ) -> InvokeResult:
        """Run one invocation to completion (raises :class:`Throttled` when over a limit).

        ``trace`` is the invoker's X-Ray header (the Invoke API's ``X-Amzn-Trace-Id``, an SNS or
        EventBridge delivery's producer): the invocation continues that trace. How it ended is
        :mod:`harness.runtime.outcome`'s to say."""
        request_id = request_id or new_request_id()
        worker, cold = await self._acquire(pool, wait)
        metrics = pool.metrics
        metrics.invocations += 1
        concurrent = pool.inflight
        if cold:
            metrics.cold_starts += 1
            metrics.init_durations.append(worker.init_ms)
        started = time.perf_counter()

        async def call() -> WorkerResult:
            return await self._call_worker(pool, worker, request_id, payload, invoked_arn, trace)

        try:
            outcome = await settle(worker, request_id, pool.name, started, call)
        finally:
            self.pools.release(pool, worker)
        lines = [*(worker.init_logs if cold else []), *outcome.logs]
        failed = outcome.function_error is not None
        metrics.timeouts += int(outcome.timed_out)
        metrics.errors += int(failed)
        metrics.durations.append(outcome.duration_ms)
        metrics.duration_total_ms += outcome.duration_ms
        lambda_invocation(pool.name, outcome.duration_ms, failed, concurrent)
        if lines:
            emf_lines(lines)
        report = outcome.report(pool.spec.memory_mb, worker.init_ms if cold else None)
        lines += [["runtime", "ERROR", text] for text in outcome.runtime_lines]
        correlation = outcome.correlation_id or request_id
        pool.log.write(request_id, correlation, lines, report)
        if self.tracer is not None:
            trace_outcome(
                self.tracer,
                pool.name,
                pool.stack,
                request_id,
                correlation,
                trace,
                started,
                worker.init_ms if cold else None,
                outcome,
            )
        log_result = (
            tail_text(request_id, lines, report, version=pool.spec.version) if tail else None
        )
        return InvokeResult(
            request_id=request_id,
            payload=outcome.body,
            function_error=outcome.function_error,
            log_result=log_result,
            duration_ms=outcome.duration_ms,
            timed_out=outcome.timed_out,
            cold=cold,
        )

    async def _acquire(self, pool: FunctionPool, wait: bool) -> tuple[Worker, bool]:
        """A worker for one invocation of ``pool`` (and whether it started cold), or
        :class:`Throttled`: over a limit, or the caller left (``CallerGone``)."""
        try:
            worker, cold = await self.pools.acquire(pool, wait=wait)
        except Throttled:
            pool.metrics.throttles += 1
            lambda_throttle(pool.name)
            raise
        except CallerGone:
            pool.metrics.abandoned += 1
            raise Throttled("CallerGone", "The caller left before the invocation ran.") from None
        if not wait and is_gone():  # left while its environment started: keep it, skip the call
            self.pools.release(pool, worker)
            self.pools.abandoned += 1
            pool.metrics.abandoned += 1
            raise Throttled("CallerGone", "The caller left before the invocation ran.")
        return worker, cold

    async def _call_worker(
        self,
        pool: FunctionPool,
        worker: Worker,
        request_id: str,
        payload: bytes,
        invoked_arn: str | None,
        trace: str | None,
    ) -> WorkerResult:
        """The invocation in ``worker`` under the function's timeout (the worker is killed at
        the deadline: :class:`WorkerDied` with ``worker.expired``) and its Lambda faults."""
        spec = pool.spec
        deadline_ms = time.time() * 1000 + spec.timeout * 1000
        assert self.loop is not None
        timer = Deadline(self.loop, spec.timeout, worker.expire, worker.debug_port)
        try:
            fault = (
                self.faults.decide(pool.name, spec.logical_id, pool.stack, request_id)
                if self.faults.slots
                else None
            )
            arn = invoked_arn or self.function_arn(pool)
            return await worker.invoke(request_id, payload, deadline_ms, arn, fault, trace)
        finally:
            timer.cancel()

    # -- harness debug / harness deploy --watch ------------------------------------------------

    def debug_start(self, function: str, port: int, stack: str | None = None) -> dict[str, Any]:
        """Debug ``function`` (a name, or a logical id of ``stack``): its next execution
        environment waits for a debugpy client on 127.0.0.1:``port`` (see
        :mod:`harness.runtime.debug`). :class:`DebugRefused` says why it cannot."""
        pool = self._debug_pool(function, stack)
        folder = self.state_dir / "runtime-debug" / "path"
        start_session(pool, port, list(self.functions.values()), self.pools, folder)
        return self.debug_state()

    def debug_stop(self, function: str | None = None, stack: str | None = None) -> dict[str, Any]:
        """End the debug session of ``function`` (every session when None): its debugged
        environment is killed (a paused invocation ends with ``Runtime.ExitError``)."""
        pools = (
            [self._debug_pool(function, stack)]
            if function
            else [p for p in self.functions.values() if p.debug is not None]
        )
        stopped = [p.name for p in pools if p.debug is not None]
        for pool in pools:
            end_session(pool, self.pools)
        return {"stopped": stopped, **self.debug_state()}

    def _debug_pool(self, function: str, stack: str | None) -> FunctionPool:
        name = self._logical.get((stack, function), function) if stack else function
        pool = self.functions.get(name)
        if pool is None or (stack and pool.stack != stack):
            where = f" in stack {stack!r}" if stack else ""
            known = sorted(lid for (s, lid) in self._logical if not stack or s == stack) or sorted(
                self.functions
            )
            raise FunctionNotFound(
                f"no function {function!r}{where}; functions: {', '.join(known) or 'none'}"
            )
        return pool

    def debug_state(self) -> dict[str, Any]:
        return {"sessions": sessions(list(self.functions.values()))}

    def swap_code(self, functions: list[str], stack: str | None = None) -> dict[str, Any]:
        """``harness deploy --watch``: drain the warm environments of ``functions`` (names, or
        logical ids of ``stack``) so that the next invocation of each starts on the code now on
        disk. Busy environments finish their invocation on the old code, then retire."""
        swapped = []
        for function in functions:
            pool = self._debug_pool(function, stack)
            self.pools.drain(pool)
            swapped.append(pool.name)
        return {"swapped": swapped}

    # -- asynchronous invocation ----------------------------------------------------------------

    def submit_async(
        self,
        pool: FunctionPool,
        payload: bytes,
        request_id: str | None = None,
        trace: str | None = None,
    ) -> str:
        """Queue an ``Event`` invocation (see :mod:`harness.runtime.asyncinvoke`)."""
        return self.async_invoker.submit(pool, payload, request_id, trace)

    # -- for pollers (other threads) -----------------------------------------------------------

    def invoke_from_thread(
        self,
        function: str,
        payload: bytes,
        *,
        asynchronous: bool = False,
        timeout: float | None = None,
        trace: str | None = None,
    ) -> InvokeResult | str:
        """Invoke from a poller thread: waits for capacity instead of throttling."""
        assert self.loop is not None

        async def run() -> InvokeResult | str:
            pool = self.resolve(function)
            if asynchronous:
                return self.submit_async(pool, payload, trace=trace)
            return await self.invoke(pool, payload, wait=True, trace=trace)

        future = asyncio.run_coroutine_threadsafe(run(), self.loop)
        return future.result(timeout)

    # -- provisioned concurrency and faults --------------------------------------------------------

    async def ensure_provisioned(self) -> None:
        for pool in list(self.functions.values()):
            if pool.spec.provisioned_concurrency > 0:
                try:
                    await self.pools.ensure_provisioned(pool)
                except Exception:
                    logger.exception("starting provisioned environments of %s failed", pool.name)

    def _throttled(self, pool: FunctionPool) -> bool:
        return bool(self.faults.slots) and self.faults.throttled(
            pool.name, pool.spec.logical_id, pool.stack
        )

    def _select(self, functions: list[str], stack: str | None) -> list[FunctionPool]:
        return select_pools(list(self.functions.values()), functions, stack)

    def add_faults(self, rules: list[LambdaFault]) -> list[dict[str, Any]]:
        for rule in rules:
            self._select(rule.functions, rule.stack)
        self.faults.add(rules)
        return self.faults.status()

    def recycle(
        self, functions: list[str], stack: str | None, description: str | None = None
    ) -> dict[str, Any]:
        """A cold-start storm on ``functions`` (names or logical ids; all of ``stack``'s, or
        every function, when empty): see :mod:`harness.runtime.capacity`."""
        return self.capacity.recycle(self._select(functions, stack), description)

    def begin_az_failure(
        self,
        duration_s: float,
        seed: int,
        share: float = 0.5,
        description: str | None = None,
        spare_pids: list[int] | None = None,
    ) -> dict[str, Any]:
        """Lose ``share`` of the execution environments and of the gateway's worker processes
        at once; capacity returns after ``duration_s``."""
        failure = AzFailure(duration_s, seed, share, description, tuple(spare_pids or ()))
        return self.capacity.begin_az_failure(list(self.functions.values()), failure)

    def end_az_failure(self) -> dict[str, Any] | None:
        return self.capacity.end_az_failure()

    def fault_state(self) -> dict[str, Any]:
        return {
            "rules": self.faults.status(),
            "az_failure": self.capacity.outage,
            "capacity": self.pools.snapshot(),
        }

    # -- metrics ----------------------------------------------------------------------------------

    async def metrics(self) -> dict[str, Any]:
        """Per function and per event source counters (queue depths are fetched live)."""
        assert self.loop is not None
        functions = {
            name: {
                **pool.metrics.to_json(pool.inflight, len(pool.workers), len(pool.idle)),
                "provisioned": {
                    "configured": pool.spec.provisioned_concurrency,
                    "ready": self.pools.provisioned_ready(pool),
                },
            }
            for name, pool in sorted(self.functions.items())
        }
        pollers = list(self.pollers.values())
        sources = await self.loop.run_in_executor(
            self.io, lambda: [p.metrics_json() for p in pollers]
        )
        return {
            "functions": functions,
            "event_sources": sources,
            "runtime": {
                **self.pools.snapshot(),
                "async_pending": len(self._tasks),
                "uptime_s": round(time.time() - self.started_at, 3),
                "reloads": self.reloads,
            },
        }

    async def fire_schedule(self, name: str, stack: str | None = None) -> str:
        """Send one scheduled event of the schedule ``name`` now: its ``Name`` (the rule's or
        the schedule's, as in its ARN), its logical id, its event source name or its function.

        ``stack`` picks the stack when several deployed stacks have a schedule of that name;
        without it such a name raises :class:`AmbiguousSchedule` (nothing fires). Unknown:
        ``KeyError``."""
        found = [
            p
            for p in self.pollers.values()
            if p.kind == "schedule"
            and (stack is None or p.stack == stack)
            and name in schedule_names(p.name, p.function, p.source.source_arn)
        ]
        stacks = sorted({p.stack for p in found})
        if len(stacks) > 1:
            raise AmbiguousSchedule(name, stacks)
        if not found:
            raise KeyError(name)
        assert self.loop is not None
        request_id: str = await self.loop.run_in_executor(self.io, found[0].fire)  # type: ignore[attr-defined]
        return request_id
