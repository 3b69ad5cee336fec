"""Counters the runtime keeps per function and per event source (GET /_harness/runtime/metrics)."""

from __future__ import annotations

import math
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any

__all__ = ["FunctionMetrics", "SourceMetrics", "percentile"]


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (``q`` in 0..100) of ``values``; ``None`` when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, math.ceil(q / 100 * len(ordered)) - 1))
    return ordered[rank]


@dataclass
class FunctionMetrics:
    invocations: int = 0
    errors: int = 0
    throttles: int = 0
    cold_starts: int = 0
    timeouts: int = 0
    abandoned: int = 0  # synchronous calls whose caller left before they ran (never run)
    async_queued: int = 0
    async_retries: int = 0
    async_dropped: int = 0
    destination_deliveries: int = 0
    concurrency_max: int = 0
    duration_total_ms: float = 0.0
    durations: deque[float] = field(default_factory=lambda: deque(maxlen=10_000))
    init_durations: deque[float] = field(default_factory=lambda: deque(maxlen=1_000))
    # the configured cold-start latency added to new environments (ms; harness.runtime.coldstart)
    cold_start_delays: deque[float] = field(default_factory=lambda: deque(maxlen=1_000))

    def to_json(self, in_use: int, workers: int, idle: int) -> dict[str, Any]:
        durations = list(self.durations)
        inits = list(self.init_durations)
        delays = list(self.cold_start_delays)

        def r(v: float | None) -> float | None:
            return None if v is None else round(v, 3)

        return {
            "invocations": self.invocations,
            "errors": self.errors,
            "throttles": self.throttles,
            "cold_starts": self.cold_starts,
            "timeouts": self.timeouts,
            "abandoned": self.abandoned,
            "async_queued": self.async_queued,
            "async_retries": self.async_retries,
            "async_dropped": self.async_dropped,
            "destination_deliveries": self.destination_deliveries,
            "duration_ms": {
                "p50": r(percentile(durations, 50)),
                "p95": r(percentile(durations, 95)),
                "p99": r(percentile(durations, 99)),
                "samples": len(durations),
                "total": round(self.duration_total_ms, 3),
            },
            "init_duration_ms": {
                "last": r(inits[-1] if inits else None),
                "p50": r(percentile(inits, 50)),
                "max": r(max(inits) if inits else None),
            },
            "cold_start_delay_ms": {
                "count": len(delays),
                "p50": r(percentile(delays, 50)),
                "max": r(max(delays) if delays else None),
            },
            "concurrency": {"in_use": in_use, "max": self.concurrency_max},
            "workers": {"total": workers, "idle": idle},
        }


@dataclass
class SourceMetrics:
    """Updated from poller threads; ``lock`` guards the counters."""

    kind: str
    function: str
    source_arn: str | None
    batches: int = 0
    records: int = 0
    failures: int = 0
    filtered: int = 0
    retries: int = 0
    throttled: int = 0  # batches handed back because the function was throttled
    sent_to_failure_destination: int = 0
    last_batch_at: float | None = None
    oldest_record_age_s: float | None = None  # age of the oldest record of the last batch
    last_error: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def batch(self, records: int, oldest_age_s: float | None, now: float) -> None:
        with self.lock:
            self.batches += 1
            self.records += records
            self.last_batch_at = now
            self.oldest_record_age_s = oldest_age_s

    def add(self, **counts: int) -> None:
        with self.lock:
            for name, value in counts.items():
                setattr(self, name, getattr(self, name) + value)

    def to_json(self) -> dict[str, Any]:
        with self.lock:
            return {
                "kind": self.kind,
                "function": self.function,
                "source_arn": self.source_arn,
                "batches": self.batches,
                "records": self.records,
                "failures": self.failures,
                "filtered": self.filtered,
                "retries": self.retries,
                "throttled": self.throttled,
                "sent_to_failure_destination": self.sent_to_failure_destination,
                "last_batch_at": self.last_batch_at,
                "oldest_record_age_s": None
                if self.oldest_record_age_s is None
                else round(self.oldest_record_age_s, 3),
                "last_error": self.last_error,
            }
