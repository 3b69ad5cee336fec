"""Asynchronous invocations (``Event``): queued, retried, then sent to a destination.

Each event runs as a task on the server's loop: it waits for capacity (async calls are never
throttled at the door), is retried after ``async_retry_delays`` up to the function's
``MaximumRetryAttempts``, and then goes to the OnFailure destination (SQS, SNS, EventBridge or
another function) as Lambda's destination record, or else to the DeadLetterConfig target with
the original payload; successes go to the OnSuccess destination when there is one. A throttled
event (reserved concurrency 0) goes back on the queue with exponential backoff until its
maximum age, without using up a retry attempt, as on Lambda.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from harness.runtime.events import destination_record, new_request_id
from harness.runtime.pool import FunctionNotFound, FunctionPool, Throttled
from harness.runtime.retry import next_async_retry, next_throttle_retry

if TYPE_CHECKING:
    from harness.runtime.core import InvokeResult, Runtime

__all__ = ["AsyncEvent", "AsyncInvoker"]

logger = logging.getLogger(__name__)


@dataclass
class AsyncEvent:
    function: str
    payload: bytes
    request_id: str
    received: float = field(default_factory=time.time)
    attempts: int = 0
    throttles: int = 0
    trace: str | None = None  # the producer's X-Ray header: every attempt continues its trace


class AsyncInvoker:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.slots: asyncio.Semaphore | None = None

    def submit(
        self,
        pool: FunctionPool,
        payload: bytes,
        request_id: str | None = None,
        trace: str | None = None,
    ) -> str:
        """Queue an ``Event`` invocation: retried, then sent to the failure destination."""
        event = AsyncEvent(pool.name, payload, request_id or new_request_id(), trace=trace)
        pool.metrics.async_queued += 1
        self.rt._spawn_task(self._run_async(event))
        return event.request_id

    def submit_from_thread(self, name: str, payload: bytes) -> None:
        """Async invoke from any thread (destinations that are functions)."""
        assert self.rt.loop is not None

        def submit() -> None:
            try:
                self.submit(self.rt.resolve(name), payload)
            except FunctionNotFound:
                logger.warning("destination function %s does not exist", name)

        self.rt.loop.call_soon_threadsafe(submit)

    async def _run_async(self, event: AsyncEvent) -> None:
        assert self.slots is not None
        delays = self.rt.config.retry_delays
        last: InvokeResult | None = None
        while True:
            try:
                pool = self.rt.resolve(event.function)
            except FunctionNotFound:
                logger.warning(
                    "async event %s: function %s is gone", event.request_id, event.function
                )
                return
            spec = pool.spec
            event.attempts += 1
            try:
                async with self.slots:
                    last = await self.rt.invoke(
                        pool, event.payload, request_id=event.request_id, wait=True,
                        trace=event.trace,
                    )  # fmt: skip
                if last.ok:
                    if spec.on_success_arn:
                        await self._deliver_async_result(pool, event, last, "Success")
                    return
            except Throttled:  # reserved concurrency 0: back on the queue, not an attempt
                event.attempts -= 1
                event.throttles += 1
                decision = next_throttle_retry(
                    event.throttles, time.time() - event.received, spec.maximum_event_age_s
                )
                if not decision.retry:
                    condition = decision.condition
                    break
                pool.metrics.async_retries += 1
                await asyncio.sleep(decision.delay_s)
                continue
            except Exception:
                logger.exception("async invocation %s failed", event.request_id)
            decision = next_async_retry(
                event.attempts,
                spec.maximum_retry_attempts,
                delays,
                time.time() - event.received,
                spec.maximum_event_age_s,
            )
            if not decision.retry:
                condition = decision.condition
                break
            pool.metrics.async_retries += 1
            await asyncio.sleep(decision.delay_s)
        await self._deliver_async_result(pool, event, last, condition)

    async def _deliver_async_result(
        self, pool: FunctionPool, event: AsyncEvent, result: InvokeResult | None, condition: str
    ) -> None:
        spec = pool.spec
        success = condition == "Success"
        target = spec.on_success_arn if success else spec.on_failure_arn
        dlq = None if success or target else spec.dead_letter_arn
        if not target and not dlq:
            if not success:
                pool.metrics.async_dropped += 1
                logger.warning(
                    "async event %s of %s dropped after %d attempts (%s)",
                    event.request_id,
                    pool.name,
                    event.attempts,
                    condition,
                )
            return
        if self.rt.aws is None:
            logger.warning("no AWS endpoint to deliver the async result of %s", event.request_id)
            return
        aws = self.rt.aws
        try:
            if target:
                try:
                    request_payload = json.loads(event.payload) if event.payload else None
                except ValueError:
                    request_payload = event.payload.decode(errors="replace")
                response_payload = result.json() if result is not None and result.payload else None
                record = destination_record(
                    request_id=event.request_id,
                    function_arn=self.rt.function_arn(pool),
                    condition=condition,
                    invoke_count=event.attempts,
                    request_payload=request_payload,
                    response_payload=response_payload,
                    function_error=None if success else "Unhandled",
                )
                await self.rt.loop.run_in_executor(  # type: ignore[union-attr]
                    self.rt.io, lambda: aws.send(target, record, success=success)
                )
            else:
                message = ""
                if result is not None:
                    with contextlib.suppress(Exception):
                        message = str(result.json().get("errorMessage", ""))
                attributes = {
                    "RequestID": event.request_id,
                    "ErrorCode": "200",
                    "ErrorMessage": message or condition,
                }
                await self.rt.loop.run_in_executor(  # type: ignore[union-attr]
                    self.rt.io,
                    lambda: aws.send(dlq, event.payload, attributes=attributes),  # type: ignore[arg-type]
                )
            pool.metrics.destination_deliveries += 1
        except Exception:
            logger.exception("delivering the async result of %s failed", event.request_id)
