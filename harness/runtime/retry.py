"""When Lambda retries a failed asynchronous invocation, and when it gives up."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["RetryDecision", "next_async_retry", "next_throttle_retry"]


@dataclass(frozen=True)
class RetryDecision:
    retry: bool
    delay_s: float = 0.0
    condition: str = ""  # why it gave up: RetriesExhausted / EventAgeExceeded


def next_async_retry(
    attempts: int, maximum_retry_attempts: int, delays: list[float], age_s: float, max_age_s: float
) -> RetryDecision:
    """After ``attempts`` failed attempts: retry after ``delays[attempts-1]`` (the last delay
    repeats), unless ``MaximumRetryAttempts`` is used up or the event would be older than
    ``MaximumEventAgeInSeconds`` by then."""
    if attempts > maximum_retry_attempts:
        return RetryDecision(False, condition="RetriesExhausted")
    delay = delays[min(attempts - 1, len(delays) - 1)] if delays else 0.0
    if age_s + delay > max_age_s:
        return RetryDecision(False, condition="EventAgeExceeded")
    return RetryDecision(True, delay_s=delay)


def next_throttle_retry(throttles: int, age_s: float, max_age_s: float) -> RetryDecision:
    """After the ``throttles``-th throttle of an event: Lambda puts a throttled event back on
    its queue and tries again with exponential backoff (1 s, 2 s, ... up to 5 minutes) until
    ``MaximumEventAgeInSeconds``; throttles do not use up ``MaximumRetryAttempts``."""
    delay = min(300.0, 2.0 ** max(0, throttles - 1))
    if age_s + delay > max_age_s:
        return RetryDecision(False, condition="EventAgeExceeded")
    return RetryDecision(True, delay_s=delay)
