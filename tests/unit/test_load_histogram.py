"""The log-linear histogram: percentiles close to exact ones; merging is exact."""

from __future__ import annotations

import random
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.load.histogram import Histogram, bucket_bounds, bucket_index


def _hist(values: list[int]) -> Histogram:
    h = Histogram()
    for v in values:
        h.record_us(v)
    return h


def test_buckets_are_contiguous_and_narrow() -> None:
    previous_high = -1
    for index in range(0, 3000):
        low, high = bucket_bounds(index)
        assert low == previous_high + 1
        assert bucket_index(low) == index and bucket_index(high) == index
        assert (high - low + 1) / max(low, 1) <= 1 / 128 + 1e-12 or low < 256
        previous_high = high


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_percentiles_match_numpy_within_half_a_percent(seed: int) -> None:
    rng = random.Random(seed)
    # ~8 ms median, long tail; an odd count so that q * n is never a whole number
    values = [int(rng.lognormvariate(9, 1.2)) for _ in range(20_001)]
    h = _hist(values)
    ordered = sorted(values)
    for q in (0.5, 0.9, 0.95, 0.99, 0.999):
        exact = float(np.percentile(values, q * 100, method="inverted_cdf"))
        assert h.percentile_us(q) == pytest.approx(exact, rel=0.005), q
        rank = -(-Fraction(str(q)) * len(values) // 1)  # nearest rank, without float error
        assert h.percentile_us(q) == pytest.approx(ordered[int(rank) - 1], rel=0.005)
    assert h.max_us == max(values) and h.min_us == min(values)
    assert h.mean_ms == pytest.approx(sum(values) / len(values) / 1000)
    assert h.percentile_us(1.0) == max(values)


def test_small_values_are_exact() -> None:
    values = list(range(200)) * 3
    h = _hist(values)
    assert h.percentile_us(0.5) == float(np.percentile(values, 50, method="inverted_cdf"))


@given(
    st.lists(st.integers(0, 10**8), min_size=1, max_size=300),
    st.lists(st.integers(0, 10**8), min_size=0, max_size=300),
)
def test_merge_is_exact(a: list[int], b: list[int]) -> None:
    merged = _hist(a).merge(_hist(b))
    whole = _hist(a + b)
    assert merged.counts == whole.counts
    assert (merged.count, merged.total_us, merged.min_us, merged.max_us) == (
        whole.count,
        whole.total_us,
        whole.min_us,
        whole.max_us,
    )
    for q in (0.5, 0.95, 0.99):
        assert merged.percentile_us(q) == whole.percentile_us(q)


def test_empty_and_json_round_trip() -> None:
    assert Histogram().percentile_ms(0.99) == 0.0
    h = _hist([5, 500, 50_000])
    again = Histogram.from_json(h.to_json())
    assert again.counts == h.counts and again.percentile_us(0.5) == h.percentile_us(0.5)
