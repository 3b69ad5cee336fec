"""SyncWell's hot-path worker runs different users' jobs of one batch side by side and one
user's jobs one after another (found by scenarios/chaos/thirdparty-latency.yaml: with 2 s
provider calls, ten jobs in a row held a batch's last job past the seed's 15 s manual-sync
p95)."""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

SRC = Path(__file__).resolve().parents[2] / "stacks" / "syncwell" / "src"
sys.path.insert(0, str(SRC))

from syncwell import worker  # noqa: E402


def _record(i: int, user: str) -> dict[str, Any]:
    body = {"userId": user, "jobId": f"job_{i}", "destinationConnectionId": f"d-{user}",
            "sourceConnectionId": f"s-{user}", "dataType": "workout"}  # fmt: skip
    return {"messageId": f"m{i}", "receiptHandle": f"r{i}", "body": json.dumps(body),
            "attributes": {"ApproximateReceiveCount": "1"}}  # fmt: skip


@pytest.fixture
def slow_jobs(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Each job waits 0.2 s (a provider round trip); records who overlapped whom."""
    state: dict[str, Any] = {"running": {}, "max_parallel": 0, "same_user_overlap": False}
    lock = threading.Lock()

    def process(ctx: Any, record: Any, body: dict[str, Any]) -> Any:
        user = body["userId"]
        with lock:
            running = state["running"]
            if running.get(user):
                state["same_user_overlap"] = True
            running[user] = running.get(user, 0) + 1
            state["max_parallel"] = max(state["max_parallel"], sum(running.values()))
        time.sleep(0.2)
        with lock:
            state["running"][user] -= 1
        return worker.Outcome(record["messageId"], "success")

    monkeypatch.setattr(worker, "Context", lambda: object())
    monkeypatch.setattr(worker, "_finish", lambda ctx, outcomes, bodies: None)
    monkeypatch.setattr(worker, "process", process)
    return state


def test_users_run_side_by_side_and_a_user_s_jobs_in_order(slow_jobs: dict[str, Any]) -> None:
    records = [_record(i, f"u{i % 5}") for i in range(10)]  # 5 users, 2 jobs each
    t0 = time.monotonic()
    answer = worker.handler({"Records": records})
    took = time.monotonic() - t0
    assert answer == {"batchItemFailures": []}
    assert slow_jobs["max_parallel"] == 5
    assert not slow_jobs["same_user_overlap"]
    assert took < 1.0  # 2 rounds of 0.2 s, not 10


def test_parallelism_is_bounded(monkeypatch: pytest.MonkeyPatch, slow_jobs: dict[str, Any]) -> None:
    monkeypatch.setenv("WORKER_PARALLEL_USERS", "1")
    worker.handler({"Records": [_record(i, f"u{i}") for i in range(3)]})
    assert slow_jobs["max_parallel"] == 1


def test_a_poison_message_fails_alone(slow_jobs: dict[str, Any]) -> None:
    poison = {"messageId": "bad", "receiptHandle": "r", "body": "not json"}
    answer = worker.handler({"Records": [poison, _record(1, "u1")]})
    assert answer == {"batchItemFailures": [{"itemIdentifier": "bad"}]}
