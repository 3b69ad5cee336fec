"""How one invocation ended, as the response, the log, the metrics and the span see it.

:func:`settle` runs the call in the worker and turns whatever happens into one
:class:`Outcome`, with a flat rule per ending (as Lambda reports them):

* the environment's init failed: its init error is the answer (``Runtime.*`` from
  ``bootstrap.py``), the environment is not reused, duration 0;
* the handler answered: its body, its logs, its memory use; ``function_error`` only when it
  raised (the span's error type is the payload's ``errorType``);
* the worker died after its deadline killed it: ``Sandbox.Timedout``, "Task timed out after
  N seconds" in the log;
* the worker died for another reason (a signal, the out-of-memory killer, an exit):
  ``Runtime.ExitError`` with the reason;
* anything else went wrong in the runtime itself: ``Runtime.Unknown``, the worker is killed
  (one invocation never takes the runtime down).

:meth:`Outcome.report` is the REPORT line's data (status ``success``/``error``/``timeout``);
:class:`InvokeResult` is what the invoker gets back.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from harness.runtime.bootstrap import error_payload
from harness.runtime.events import iso_ms
from harness.runtime.logs import billed
from harness.runtime.worker import Worker, WorkerDied, WorkerResult

__all__ = [
    "InvokeResult",
    "Outcome",
    "completed",
    "exited",
    "failed",
    "init_failed",
    "settle",
    "timed_out",
]

logger = logging.getLogger(__name__)

UNHANDLED = "Unhandled"  # the Invoke API's X-Amz-Function-Error for a failed function
TIMEOUT_TYPE = "Sandbox.Timedout"


@dataclass(slots=True)
class Outcome:
    """One invocation's ending: what its caller gets and what the runtime records."""

    body: bytes
    duration_ms: float
    function_error: str | None = UNHANDLED  # None: the handler returned
    timed_out: bool = False
    logs: list[list[str]] = field(default_factory=list)  # the handler's log lines
    runtime_lines: list[str] = field(default_factory=list)  # the runtime's ERROR lines
    max_rss_kb: int = 0
    correlation_id: str = ""
    trace: str = ""  # the environment's _X_AMZN_TRACE_ID ("" when it sent none)
    trace_parent: str = ""
    error_type: str | None = None  # the handler's errorType, when it raised

    @property
    def status(self) -> str:
        return "timeout" if self.timed_out else "error" if self.function_error else "success"

    @property
    def span_error_type(self) -> str | None:
        if self.timed_out:
            return TIMEOUT_TYPE
        return self.error_type or self.function_error

    def report(self, memory_mb: int, init_ms: float | None) -> dict[str, Any]:
        """The REPORT line's fields (``init_ms`` only for a cold start)."""
        return {
            "durationMs": round(self.duration_ms, 3),
            "billedDurationMs": billed(self.duration_ms),
            "memorySizeMB": memory_mb,
            "maxMemoryUsedMB": self.max_rss_kb // 1024,
            "initDurationMs": round(init_ms, 3) if init_ms is not None else None,
            "status": self.status,
        }


@dataclass(slots=True)
class InvokeResult:
    """One invocation as its invoker sees it (the Invoke API's answer)."""

    request_id: str
    payload: bytes
    function_error: str | None = None  # "Unhandled" when the function failed
    log_result: str | None = None  # base64 tail, when asked for
    duration_ms: float = 0.0
    timed_out: bool = False
    cold: bool = False

    @property
    def ok(self) -> bool:
        return self.function_error is None

    def json(self) -> Any:
        return json.loads(self.payload) if self.payload else None


def error_type_of(body: bytes) -> str | None:
    """``errorType`` of a handler's error payload (for the invocation span)."""
    try:
        payload = json.loads(body)
    except ValueError:
        return None
    found = payload.get("errorType") if isinstance(payload, dict) else None
    return found if isinstance(found, str) else None


def init_failed(init_error: dict[str, Any], request_id: str) -> Outcome:
    body = json.dumps(dict(init_error, requestId=request_id)).encode()
    return Outcome(body=body, duration_ms=0.0)


def completed(result: WorkerResult, request_id: str) -> Outcome:
    return Outcome(
        body=result.body,
        duration_ms=result.duration_ms,
        function_error=UNHANDLED if result.error else None,
        logs=list(result.logs),
        max_rss_kb=result.max_rss_kb,
        correlation_id=result.correlation_id or request_id,
        trace=result.trace,
        trace_parent=result.trace_parent,
        error_type=error_type_of(result.body) if result.error else None,
    )


def timed_out(request_id: str, duration_ms: float) -> Outcome:
    message = f"{iso_ms()} {request_id} Task timed out after {duration_ms / 1000:.2f} seconds"
    body = json.dumps({"errorMessage": message, "errorType": TIMEOUT_TYPE}).encode()
    return Outcome(body=body, duration_ms=duration_ms, timed_out=True, runtime_lines=[message])


def exited(died: WorkerDied, request_id: str, duration_ms: float) -> Outcome:
    message = f"RequestId: {request_id} Error: {died.describe()}"
    body = json.dumps(error_payload("Runtime.ExitError", message, request_id)).encode()
    return Outcome(body=body, duration_ms=duration_ms, runtime_lines=[message])


def failed(exc: Exception, request_id: str, duration_ms: float) -> Outcome:
    message = f"RequestId: {request_id} Error: {exc}"
    body = json.dumps(error_payload("Runtime.Unknown", message, request_id)).encode()
    return Outcome(body=body, duration_ms=duration_ms)


async def settle(
    worker: Worker,
    request_id: str,
    function: str,
    started: float,
    call: Callable[[], Awaitable[WorkerResult]],
) -> Outcome:
    """Run ``call`` (the invocation in ``worker``, timed from ``started``, a perf_counter) and
    return how it ended; never raises but for cancellation."""
    if worker.init_error is not None:
        worker.dead = True
        return init_failed(worker.init_error, request_id)
    try:
        result = await call()
    except WorkerDied as died:
        elapsed = (time.perf_counter() - started) * 1000
        if worker.expired:
            return timed_out(request_id, elapsed)
        return exited(died, request_id, elapsed)
    except Exception as exc:  # never let one invocation take the server down
        logger.exception("invocation %s of %s failed in the runtime", request_id, function)
        worker.kill()
        return failed(exc, request_id, (time.perf_counter() - started) * 1000)
    return completed(result, request_id)
