"""CloudWatch statistics over (value, count) samples: Sum, Average, Minimum, Maximum,
SampleCount and percentiles ``pNN`` / ``pNN.NN`` (``ExtendedStatistic``).

Percentiles are nearest-rank over every sample of the period (the recorder keeps them all), so
a p99 over 100 samples is the 99th smallest. Other extended statistics (``tm``, ``wm``, ``tc``,
``ts``, ``PR``) are refused by :func:`parse_statistic` rather than approximated.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

__all__ = ["STATISTICS", "StatisticError", "compute", "parse_statistic"]

STATISTICS = ("SampleCount", "Average", "Sum", "Minimum", "Maximum")
_PERCENTILE = re.compile(r"^p(\d{1,2}(?:\.\d{1,2})?|100)$")


class StatisticError(ValueError):
    pass


def parse_statistic(name: str) -> str:
    """The canonical name, or :class:`StatisticError` naming what is accepted."""
    if name in STATISTICS:
        return name
    match = _PERCENTILE.match(name)
    if match and 0 <= float(match.group(1)) <= 100:
        return name
    raise StatisticError(
        f"unknown statistic '{name}': use one of {', '.join(STATISTICS)} "
        "or a percentile such as p99 or p99.9 (ExtendedStatistic)"
    )


def compute(samples: Mapping[float, int], statistic: str) -> float | None:
    """The statistic of ``samples`` (value → count); ``None`` when there are no samples."""
    count = sum(samples.values())
    if count == 0:
        return None
    if statistic == "SampleCount":
        return float(count)
    if statistic == "Sum":
        return sum(v * c for v, c in samples.items())
    if statistic == "Average":
        return sum(v * c for v, c in samples.items()) / count
    if statistic == "Minimum":
        return min(samples)
    if statistic == "Maximum":
        return max(samples)
    q = float(statistic[1:])
    rank = max(1, math.ceil(q / 100 * count))
    seen = 0
    for value in sorted(samples):
        seen += samples[value]
        if seen >= rank:
            return value
    return max(samples)
