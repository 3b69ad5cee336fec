"""What else the machine was doing during a benchmark step: a shared 2-core machine's other
processes take CPU the system under test would otherwise get, so each step reports it."""

from __future__ import annotations

import os

import psutil

__all__ = ["busy_cpu_seconds", "other_cpu_percent"]


def busy_cpu_seconds() -> float:
    """CPU seconds every core has spent busy since boot (all processes, not idle or iowait)."""
    t = psutil.cpu_times()
    return float(sum(t) - t.idle - getattr(t, "iowait", 0.0))


def other_cpu_percent(busy_before: float, ours_s: float, duration_s: float) -> dict[str, float]:
    """The share of the machine used by processes outside the benchmark (``ours_s`` CPU seconds
    of its own) over ``duration_s``, and the 1-minute load average now."""
    cores = psutil.cpu_count() or 1
    other = max(0.0, busy_cpu_seconds() - busy_before - ours_s)
    return {
        "other_cpu_percent_of_machine": round(100 * other / (duration_s * cores), 1),
        "load_average_1m": round(os.getloadavg()[0], 2),
    }
