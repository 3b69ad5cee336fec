"""Exponential backoff with full jitter: ``sleep = random_between(0, min(cap, base * 2**attempt))``."""

from __future__ import annotations

import random

__all__ = ["full_jitter", "retry_call"]


def full_jitter(attempt: int, base: float, cap: float, rng: random.Random | None = None) -> float:
    attempt = max(0, int(attempt))
    ceiling = min(cap, base * (2 ** min(attempt, 32)))
    return (rng or random).uniform(0, ceiling)


def retry_call(fn, attempts: int = 4, base: float = 0.05, cap: float = 1.0, sleep=None):  # type: ignore[no-untyped-def]
    """Call ``fn`` up to ``attempts`` times (1 try + 3 retries), backing off between failures."""
    import time

    sleep = sleep or time.sleep
    for attempt in range(attempts):
        try:
            return fn()
        except Exception:
            if attempt == attempts - 1:
                raise
            sleep(full_jitter(attempt, base, cap))
    raise AssertionError("unreachable")
