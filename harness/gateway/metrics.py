"""Per-worker request metrics: counts by stack/API/route/tenant/status and latency percentiles.

Kept in this worker process only (each uvicorn worker has its own); ``snapshot()`` says so in
its ``scope`` field. Latencies are a bounded reservoir (the last 4,096 per route).
"""

from __future__ import annotations

import os
import time
from collections import Counter, deque
from typing import Any

__all__ = ["Metrics"]


def _percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return round(sorted_values[index], 3)


class Metrics:
    def __init__(self, reservoir: int = 4096) -> None:
        self.started = time.time()
        self.reservoir = reservoir
        self.counts: Counter[tuple[str, str, str, str, int]] = Counter()
        self.latency: dict[tuple[str, str, str], deque[float]] = {}

    def record(
        self, stack: str, api: str, route: str, tenant: str | None, status: int, latency_ms: float
    ) -> None:
        self.counts[(stack, api, route, tenant or "-", status)] += 1
        key = (stack, api, route)
        samples = self.latency.get(key)
        if samples is None:
            samples = self.latency[key] = deque(maxlen=self.reservoir)
        samples.append(latency_ms)

    def snapshot(self) -> dict[str, Any]:
        routes: dict[str, Any] = {}
        for (stack, api, route, tenant, status), count in sorted(self.counts.items(), key=str):
            entry = routes.setdefault(
                f"{stack}/{api} {route}",
                {"stack": stack, "api": api, "route": route, "requests": 0, "status": {},
                 "tenants": {}},
            )  # fmt: skip
            entry["requests"] += count
            entry["status"][str(status)] = entry["status"].get(str(status), 0) + count
            tenants = entry["tenants"].setdefault(tenant, {"requests": 0, "status": {}})
            tenants["requests"] += count
            tenants["status"][str(status)] = tenants["status"].get(str(status), 0) + count
        for (stack, api, route), samples in self.latency.items():
            values = sorted(samples)
            entry = routes.get(f"{stack}/{api} {route}")
            if entry is not None:
                entry["latency_ms"] = {
                    "samples": len(values),
                    "p50": _percentile(values, 0.50),
                    "p95": _percentile(values, 0.95),
                    "p99": _percentile(values, 0.99),
                }
        return {
            "scope": "worker",
            "note": "counts and latencies of this worker process only (one of the daemon's workers)",
            "pid": os.getpid(),
            "since": self.started,
            "requests": sum(self.counts.values()),
            "routes": list(routes.values()),
        }
