"""harness.runtime.outcome: every way an invocation ends becomes one Outcome, as Lambda reports it.

The worker is a real :class:`~harness.runtime.worker.Worker` without a process: ``settle`` only
reads its init error and expiry and kills it, which is safe without a process.
"""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from harness.runtime.outcome import Outcome, settle
from harness.runtime.worker import Worker, WorkerDied, WorkerResult

REQUEST = "req-1"


def run(worker: Worker, call: object) -> Outcome:
    async def go() -> Outcome:
        return await settle(worker, REQUEST, "fn", time.perf_counter(), call)  # type: ignore[arg-type]

    return asyncio.run(go())


def answer(result: WorkerResult) -> object:
    async def call() -> WorkerResult:
        return result

    return call


def raising(exc: BaseException) -> object:
    async def call() -> WorkerResult:
        raise exc

    return call


def test_a_handler_that_returns_is_a_success_with_its_body_and_logs() -> None:
    result = WorkerResult(
        error=False,
        body=b'{"ok": 1}',
        duration_ms=12.5,
        max_rss_kb=40 * 1024,
        logs=[["x", "INFO", "hi"]],
        correlation_id="cid",
        trace="Root=1-a-b;Parent=1",
        trace_parent="00000000000000ff",
    )
    outcome = run(Worker("fn", 0), answer(result))
    assert outcome.function_error is None and outcome.status == "success"
    assert outcome.body == b'{"ok": 1}' and outcome.duration_ms == 12.5
    assert outcome.logs == [["x", "INFO", "hi"]] and outcome.runtime_lines == []
    assert (outcome.correlation_id, outcome.trace_parent) == ("cid", "00000000000000ff")
    assert outcome.span_error_type is None
    report = outcome.report(128, None)
    assert report == {
        "durationMs": 12.5,
        "billedDurationMs": 13,
        "memorySizeMB": 128,
        "maxMemoryUsedMB": 40,
        "initDurationMs": None,
        "status": "success",
    }


def test_a_handler_that_raises_is_unhandled_with_its_error_type() -> None:
    body = json.dumps({"errorType": "KeyError", "errorMessage": "'x'"}).encode()
    result = WorkerResult(error=True, body=body, duration_ms=3.0, max_rss_kb=0)
    outcome = run(Worker("fn", 0), answer(result))
    assert outcome.function_error == "Unhandled" and outcome.status == "error"
    assert outcome.span_error_type == "KeyError"
    assert outcome.correlation_id == REQUEST  # none sent back: the request id


def test_an_error_body_that_is_not_json_still_fails_as_unhandled() -> None:
    result = WorkerResult(error=True, body=b"boom", duration_ms=1.0, max_rss_kb=0)
    outcome = run(Worker("fn", 0), answer(result))
    assert outcome.error_type is None and outcome.span_error_type == "Unhandled"


def test_a_worker_killed_at_its_deadline_is_a_timeout() -> None:
    worker = Worker("fn", 0)
    worker.expire()
    outcome = run(worker, raising(WorkerDied(-9)))
    assert outcome.timed_out and outcome.status == "timeout"
    assert outcome.span_error_type == "Sandbox.Timedout"
    body = json.loads(outcome.body)
    assert body["errorType"] == "Sandbox.Timedout"
    assert "Task timed out after" in body["errorMessage"]
    assert outcome.runtime_lines == [body["errorMessage"]]
    assert outcome.report(128, 50.0)["initDurationMs"] == 50.0


def test_a_worker_that_dies_otherwise_is_an_exit_error_with_the_reason() -> None:
    outcome = run(Worker("fn", 0), raising(WorkerDied(-9)))  # the OOM killer's SIGKILL
    assert not outcome.timed_out and outcome.status == "error"
    body = json.loads(outcome.body)
    assert body["errorType"] == "Runtime.ExitError" and body["requestId"] == REQUEST
    assert body["errorMessage"].endswith("Runtime exited with error: signal: killed")
    assert outcome.runtime_lines == [body["errorMessage"]]


def test_a_failed_init_answers_its_init_error_and_retires_the_environment() -> None:
    worker = Worker("fn", 0)
    worker.init_error = {"errorType": "Runtime.ImportModuleError", "errorMessage": "no module"}
    called = []

    async def call() -> WorkerResult:
        called.append(1)
        raise AssertionError("not called")

    outcome = run(worker, call)
    assert not called and worker.dead
    assert json.loads(outcome.body)["requestId"] == REQUEST
    assert outcome.function_error == "Unhandled" and outcome.duration_ms == 0.0


def test_a_runtime_failure_is_runtime_unknown_and_kills_the_worker() -> None:
    worker = Worker("fn", 0)
    outcome = run(worker, raising(RuntimeError("broken pipe in the runtime")))
    assert worker.dead
    body = json.loads(outcome.body)
    assert body["errorType"] == "Runtime.Unknown"
    assert "broken pipe in the runtime" in body["errorMessage"]


def test_cancellation_is_not_swallowed() -> None:
    with pytest.raises(asyncio.CancelledError):
        run(Worker("fn", 0), raising(asyncio.CancelledError()))
