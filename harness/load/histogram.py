"""A mergeable latency histogram with fixed log-linear buckets (the HdrHistogram idea).

Values are recorded in whole microseconds. Values below 256 us get a bucket each; above that,
every power of two is split into 128 equal buckets, so a bucket is at most 1/128 of its lower
bound wide and a reported percentile (the bucket's midpoint, clamped to the exact min/max) is
within 0.4% of the true sample. Because the buckets are fixed, histograms recorded in
different processes merge *exactly* by adding counts: the merged percentiles are those of one
histogram that saw every sample. Count, sum, min and max are exact.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

__all__ = ["Histogram", "bucket_bounds", "bucket_index"]

_LINEAR_BITS = 8  # values < 256 us are exact
_SUB = 1 << (_LINEAR_BITS - 1)  # 128 buckets per power of two above that


def bucket_index(value_us: int) -> int:
    if value_us < (1 << _LINEAR_BITS):
        return max(value_us, 0)
    shift = value_us.bit_length() - _LINEAR_BITS
    return shift * _SUB + (value_us >> shift)


def bucket_bounds(index: int) -> tuple[int, int]:
    """Inclusive (lowest, highest) microsecond value of a bucket."""
    if index < (1 << _LINEAR_BITS):
        return index, index
    shift = index // _SUB - 1
    mantissa = index - shift * _SUB
    return mantissa << shift, ((mantissa + 1) << shift) - 1


class Histogram:
    """Latency samples in log-linear buckets; ``merge`` is exact."""

    __slots__ = ("count", "counts", "max_us", "min_us", "total_us")

    def __init__(self) -> None:
        self.counts: dict[int, int] = {}
        self.count = 0
        self.total_us = 0
        self.min_us = 0
        self.max_us = 0

    def record(self, seconds: float) -> None:
        self.record_us(int(seconds * 1_000_000))

    def record_us(self, value: int) -> None:
        if value < 0:
            value = 0
        index = bucket_index(value)
        counts = self.counts
        counts[index] = counts.get(index, 0) + 1
        if self.count == 0:
            self.min_us = self.max_us = value
        elif value > self.max_us:
            self.max_us = value
        elif value < self.min_us:
            self.min_us = value
        self.count += 1
        self.total_us += value

    def merge(self, other: Histogram) -> Histogram:
        if other.count == 0:
            return self
        counts = self.counts
        for index, n in other.counts.items():
            counts[index] = counts.get(index, 0) + n
        if self.count == 0:
            self.min_us, self.max_us = other.min_us, other.max_us
        else:
            self.min_us = min(self.min_us, other.min_us)
            self.max_us = max(self.max_us, other.max_us)
        self.count += other.count
        self.total_us += other.total_us
        return self

    @classmethod
    def merged(cls, parts: Iterable[Histogram]) -> Histogram:
        out = cls()
        for part in parts:
            out.merge(part)
        return out

    def percentile_us(self, q: float) -> float:
        """The ``q`` quantile (0 < q <= 1) by nearest rank, in microseconds (0 when empty)."""
        if self.count == 0:
            return 0.0
        if q >= 1:
            return float(self.max_us)
        rank = max(1, math.ceil(q * self.count - 1e-9))
        seen = 0
        for index in sorted(self.counts):
            seen += self.counts[index]
            if seen >= rank:
                low, high = bucket_bounds(index)
                value = (low + high) / 2
                return float(min(max(value, self.min_us), self.max_us))
        return float(self.max_us)

    def percentile_ms(self, q: float) -> float:
        return self.percentile_us(q) / 1000

    def percentiles_ms(self, qs: Iterable[float]) -> list[float]:
        return [self.percentile_ms(q) for q in qs]

    @property
    def mean_ms(self) -> float:
        return self.total_us / self.count / 1000 if self.count else 0.0

    @property
    def max_ms(self) -> float:
        return self.max_us / 1000

    def to_json(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "total_us": self.total_us,
            "min_us": self.min_us,
            "max_us": self.max_us,
            "counts": {str(k): v for k, v in sorted(self.counts.items())},
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Histogram:
        h = cls()
        h.count = int(data["count"])
        h.total_us = int(data["total_us"])
        h.min_us = int(data["min_us"])
        h.max_us = int(data["max_us"])
        h.counts = {int(k): int(v) for k, v in data["counts"].items()}
        return h

    def __getstate__(self) -> tuple[Any, ...]:
        return (self.counts, self.count, self.total_us, self.min_us, self.max_us)

    def __setstate__(self, state: tuple[Any, ...]) -> None:
        self.counts, self.count, self.total_us, self.min_us, self.max_us = state
