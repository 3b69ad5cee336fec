"""Fail fast on a blocked AWS dependency (seed 001, 3b: "block access to DynamoDB, SQS, or
Secrets Manager to test graceful degradation"; Runbook 3: "returning a 503 error to clients").

A dependency that never answers (a blackholed endpoint) costs every call its SDK read timeout.
Behind API Gateway that is worse than an error: each hanging request holds an execution
environment, the arrivals that follow start new ones (cold starts), and the requests run into
the function's and the client's 10 s timeouts. So, when ``AWS_FAIL_FAST_S`` > 0 (the API
function), a call to a service that just timed out opens a circuit for that many seconds:

* in this environment, every call to that service fails at once with :class:`DependencyBlocked`
  (a botocore ``ConnectionError``: the API answers 503, the worker defers the job);
* shared through Redis (``breaker##aws##{service}``, with the circuit's expiry), so the other
  environments stop calling too: each looks at the shared key at most every 0.5 s, and a Redis
  that is down only makes the circuit local.

The circuit closes by itself; the next call after it is a real call (a half-open probe).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from typing import Any

from botocore.exceptions import ConnectionError as BotocoreConnectionError
from botocore.exceptions import ConnectTimeoutError, EndpointConnectionError, ReadTimeoutError

from syncwell.common import env_float, log

__all__ = ["DependencyBlocked", "install", "is_open", "reset"]

_lock = threading.Lock()
_open_until: dict[str, float] = {}  # service -> time.time() when the circuit closes
_shared_checked: dict[str, float] = {}
SHARE_CHECK_S = 0.5


class DependencyBlocked(BotocoreConnectionError):
    fmt = "{service} did not answer recently: failing fast for {seconds} s (circuit open)"


def _seconds() -> float:
    return env_float("AWS_FAIL_FAST_S", 0.0)


def _key(service: str) -> str:
    return f"breaker##aws##{service}"


def is_open(service: str, now: float | None = None) -> bool:
    now = time.time() if now is None else now
    with _lock:
        if _open_until.get(service, 0.0) > now:
            return True
        if now - _shared_checked.get(service, 0.0) < SHARE_CHECK_S:
            return False
        _shared_checked[service] = now
    from syncwell import cache

    with contextlib.suppress(cache.CacheUnavailable):
        left_ms = cache.call(lambda r: r.pttl(_key(service)))
        if isinstance(left_ms, int) and left_ms > 0:
            with _lock:
                _open_until[service] = max(_open_until.get(service, 0.0), now + left_ms / 1000)
            return True
    return False


def trip(service: str, reason: str) -> None:
    seconds = _seconds()
    if seconds <= 0:
        return
    with _lock:
        _open_until[service] = time.time() + seconds
    log(logging.WARNING, "AWS dependency not answering: circuit open", service=service,
        seconds=seconds, error=reason[:200])  # fmt: skip
    from syncwell import cache

    with contextlib.suppress(cache.CacheUnavailable):
        cache.call(lambda r: r.set(_key(service), "1", px=int(seconds * 1000)))


def reset() -> None:
    with _lock:
        _open_until.clear()
        _shared_checked.clear()


def install(client: Any, service: str) -> None:
    """Register the circuit on a boto3 client (a no-op while ``AWS_FAIL_FAST_S`` is 0)."""
    if _seconds() <= 0:
        return

    def before_send(**kwargs: Any) -> None:
        if is_open(service):
            raise DependencyBlocked(service=service, seconds=f"{_seconds():g}")

    def needs_retry(caught_exception: BaseException | None = None, **kwargs: Any) -> None:
        if isinstance(
            caught_exception, (ReadTimeoutError, ConnectTimeoutError, EndpointConnectionError)
        ):
            trip(service, repr(caught_exception))

    client.meta.events.register("before-send", before_send)
    client.meta.events.register("needs-retry", needs_retry)
