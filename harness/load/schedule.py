"""When arrivals are due in the open model.

The profile's target curve r(t) is piecewise linear, so the expected number of arrivals
A(t) = integral of r from 0 to t is piecewise quadratic and can be inverted exactly. Arrival k of
process i (of N, each taking r/N) is due when A(t)/N = k + i/N: together the processes produce
arrivals at A(t) = 0, 1, 2, ... -- evenly spaced like k6's arrival-rate executors. With
``arrivals: poisson`` the gaps in A are exponential with mean 1 instead (a Poisson process with
the same time-varying rate).
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Iterator

from harness.load.profile import LoadProfile, Segment

__all__ = ["arrival_times"]


def _solve(seg: Segment, area: float) -> float:
    """x in [0, t1 - t0] with integral of the segment's level over [t0, t0 + x] = area."""
    d = seg.t1 - seg.t0
    if area <= 0 or d <= 0:
        return 0.0
    slope = (seg.end - seg.start) / d
    root = math.sqrt(max(seg.start * seg.start + 2 * slope * area, 0.0))
    denominator = seg.start + root
    if denominator <= 0:
        return d
    return min(2 * area / denominator, d)


def arrival_times(
    profile: LoadProfile,
    *,
    processes: int = 1,
    index: int = 0,
    rng: random.Random | None = None,
) -> Iterator[float]:
    """Due times (seconds from the start) of process ``index``'s arrivals, in order."""
    if profile.arrivals == "poisson":
        rng = rng or random.Random(index)

        def poisson() -> Iterator[float]:
            a = rng.expovariate(1.0)  # in this process's arrival units
            while True:
                yield a
                a += rng.expovariate(1.0)

        points: Iterator[float] = poisson()
    else:
        points = (k + index / processes for k in itertools.count())
    segments = profile.segments()
    scale = 1.0 / processes
    areas = [seg.area(seg.t1) * scale for seg in segments]
    cum = 0.0  # this process's expected arrivals before segment s
    s = 0
    seg, area = segments[0], areas[0]
    for a in points:
        while not (area > 0 and cum + area > a):
            cum += area
            s += 1
            if s >= len(segments):
                return
            seg, area = segments[s], areas[s]
        yield seg.t0 + _solve(seg, (a - cum) / scale)
