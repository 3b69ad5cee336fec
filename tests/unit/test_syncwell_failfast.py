"""SyncWell's fail-fast circuit for a blocked AWS dependency (``src/syncwell/failfast.py``),
against a real boto3 client and a local endpoint that accepts connections and never answers
(what ``aws:blackhole`` does at the AWS edge). No Redis: the circuit is then local only."""

from __future__ import annotations

import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from botocore.exceptions import ReadTimeoutError

SRC = Path(__file__).resolve().parents[2] / "stacks" / "syncwell" / "src"
sys.path.insert(0, str(SRC))

from syncwell import common, failfast, worker  # noqa: E402


@pytest.fixture
def blackhole(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)  # connections complete in the kernel's backlog; nothing ever answers
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    monkeypatch.setenv("AWS_ENDPOINT_URL", url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.setenv("AWS_READ_TIMEOUT_S", "0.3")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "2")
    common._client.cache_clear()
    failfast.reset()
    yield url
    common._client.cache_clear()
    failfast.reset()
    listener.close()


def _get(table: str = "t") -> float:
    started = time.monotonic()
    try:
        common.client("dynamodb").get_item(TableName=table, Key={"PK": {"S": "x"}})
    finally:
        elapsed = time.monotonic() - started
    return elapsed


def test_a_blocked_dependency_opens_the_circuit_and_later_calls_fail_at_once(
    blackhole: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_FAIL_FAST_S", "2")
    started = time.monotonic()
    with pytest.raises(failfast.DependencyBlocked) as first:
        _get()
    # one read timeout, then the retry (after its jittered pause, < 1 s) meets the open
    # circuit: DependencyBlocked, not a second ReadTimeoutError
    assert 0.25 <= time.monotonic() - started < 1.8
    assert worker.dependency_unavailable(first.value)  # the worker defers; the API says 503
    for _ in range(3):
        started = time.monotonic()
        with pytest.raises(failfast.DependencyBlocked):
            _get()
        assert time.monotonic() - started < 0.1
    assert failfast.is_open("dynamodb") and not failfast.is_open("sqs")


def test_without_the_circuit_every_call_waits_out_its_timeouts(
    blackhole: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_FAIL_FAST_S", "0")
    for _ in range(2):
        started = time.monotonic()
        with pytest.raises(ReadTimeoutError):
            _get()
        assert time.monotonic() - started >= 0.55  # two attempts of 0.3 s each
    assert not failfast.is_open("dynamodb")


def test_the_circuit_closes_by_itself(blackhole: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_FAIL_FAST_S", "0.5")
    with pytest.raises(failfast.DependencyBlocked):
        _get()
    assert failfast.is_open("dynamodb")
    time.sleep(0.6)
    assert not failfast.is_open("dynamodb")
    with pytest.raises(failfast.DependencyBlocked):  # a real call again: times out, trips
        started = time.monotonic()
        _get()
    assert time.monotonic() - started >= 0.25
