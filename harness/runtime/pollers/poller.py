"""The contract of an event source, after LocalStack's ``pollers/poller.py``.

A :class:`Poller` runs in threads of its own (``threads()`` of them), calling
:meth:`Poller.poll_events` in a loop; each call fetches at most one batch, invokes the function
through the runtime (which waits for capacity rather than throttling) and acknowledges what
succeeded. ``setup()`` runs once before polling (create internal queues, subscriptions, shard
iterators) and ``teardown()`` when the source is removed from the stack.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any

from harness.runtime.metrics import SourceMetrics

if TYPE_CHECKING:
    from harness.model import EventSourceSpec
    from harness.runtime.core import InvokeResult, Runtime
    from harness.runtime.destinations import AwsClients

__all__ = ["Poller"]

logger = logging.getLogger(__name__)


class Poller(ABC):
    kind = ""

    def __init__(self, source: EventSourceSpec, function: str, runtime: Runtime) -> None:
        assert runtime.aws is not None
        self.source = source
        self.function = function
        self.runtime = runtime
        self.aws: AwsClients = runtime.aws
        self.config = runtime.config
        self.name = source.name or f"{function}-{self.kind}"
        self.stack = ""  # the deployed stack it belongs to (set by the runtime)
        self.metrics = SourceMetrics(self.kind, function, source.source_arn)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._ready = threading.Event()
        self._setup_lock = threading.Lock()
        self._teardown = False

    # -- the contract ---------------------------------------------------------------------------

    @abstractmethod
    def event_source(self) -> str:
        """The ``eventSource`` this poller produces, e.g. ``aws:sqs``."""

    @abstractmethod
    def poll_events(self) -> bool:
        """Fetch, invoke and acknowledge at most one batch; ``False`` when there was nothing."""

    def setup(self) -> None:  # noqa: B027 - optional hook
        """Prepare the source (internal queues, subscriptions...). Runs once, may be retried."""

    def teardown(self) -> None:  # noqa: B027 - optional hook
        """Undo :meth:`setup` when the source is removed from the stack."""

    def threads(self) -> int:
        return 1

    def idle_delay(self) -> float:
        """Pause after an empty poll (long-polling sources already waited)."""
        return 0.0

    def extra_metrics(self) -> dict[str, Any]:
        return {}

    # -- helpers for subclasses ----------------------------------------------------------------

    def wait_ready(self, timeout: float) -> bool:
        """Whether :meth:`setup` has succeeded (waiting at most ``timeout`` seconds)."""
        return self._ready.wait(timeout)

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def invoke(self, event: Any) -> InvokeResult:
        from harness.runtime.core import InvokeResult

        result = self.runtime.invoke_from_thread(self.function, json.dumps(event).encode())
        assert isinstance(result, InvokeResult)
        return result

    def carried_traces(self, idents: list[str | None]) -> list[str | None]:
        """The producers' X-Ray headers of delivered messages/events by id (see
        :mod:`harness.obs.carry`); all ``None`` when tracing is off."""
        carried = self.runtime.carried
        if carried is None:
            return [None] * len(idents)
        return carried.lookup(idents)

    def invoke_async(self, event: Any, trace: str | None = None) -> str:
        """An ``Event`` invocation; ``trace``: the producer's X-Ray header, which SNS and
        EventBridge pass on to the function they invoke."""
        result = self.runtime.invoke_from_thread(
            self.function, json.dumps(event).encode(), asynchronous=True, trace=trace
        )
        assert isinstance(result, str)
        return result

    def internal_name(self, prefix: str) -> str:
        """A stable name for internal resources of this source (same across restarts)."""
        digest = hashlib.sha1(
            f"{self.function}|{self.source.source_arn}|{self.name}".encode()
        ).hexdigest()[:12]
        return f"harness-rt-{prefix}-{digest}"

    # -- running --------------------------------------------------------------------------------

    def start(self) -> None:
        for index in range(max(1, self.threads())):
            thread = threading.Thread(
                target=self._run, name=f"poller-{self.name}-{index}", daemon=True
            )
            self._threads.append(thread)
            thread.start()

    def _ensure_setup(self) -> None:
        backoff = 0.5
        while not self._ready.is_set() and not self.stopped:
            with self._setup_lock:
                if self._ready.is_set():
                    return
                try:
                    self.setup()
                    self._ready.set()
                    return
                except Exception as exc:
                    self.metrics.last_error = f"setup: {type(exc).__name__}: {exc}"
                    logger.warning("setting up %s failed: %s", self.name, exc)
            self._stop.wait(backoff)
            backoff = min(backoff * 2, 10.0)

    def _run(self) -> None:
        self._ensure_setup()
        backoff = 0.2
        while not self.stopped:
            try:
                found = self.poll_events()
                backoff = 0.2
                if not found:
                    delay = self.idle_delay()
                    if delay:
                        self._stop.wait(delay)
            except Exception as exc:
                if self.stopped:
                    break
                self.metrics.last_error = f"{type(exc).__name__}: {exc}"
                if type(exc).__name__ == "Throttled":
                    # reserved concurrency 0: the batch is not acknowledged, so it comes back
                    # (SQS: after its visibility timeout); back off as Lambda's pollers do
                    self.metrics.add(throttled=1)
                    logger.info("poller %s: function throttled; backing off", self.name)
                else:
                    logger.warning("poller %s: %s", self.name, exc, exc_info=True)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 5.0)
        if self._teardown and self._threads and threading.current_thread() is self._threads[0]:
            try:
                self.teardown()
            except Exception:
                logger.warning("tearing down %s failed", self.name, exc_info=True)

    def stop(self, teardown: bool = False) -> None:
        self._teardown = teardown
        self._stop.set()

    def join(self, timeout: float) -> None:
        until = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, until - time.monotonic()))

    def metrics_json(self) -> dict[str, Any]:
        data = {"name": self.name, **self.metrics.to_json()}
        try:
            data.update(self.extra_metrics())
        except Exception as exc:
            data["metrics_error"] = f"{type(exc).__name__}: {exc}"
        return data
