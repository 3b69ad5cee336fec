"""Read the metric files every process writes and answer CloudWatch-style queries.

:class:`MetricStore` tails ``<state_dir>/metrics/*.jsonl`` (only whole new lines are read on
each :meth:`MetricStore.refresh`), merges the seconds of every process, and answers
:meth:`MetricStore.datapoint`: one statistic over one period, or ``None`` when the metric had
no sample in it (a *missing* datapoint, which alarms treat per ``TreatMissingData``).
Dimensions match exactly, as in CloudWatch: a query with ``{FunctionName: f}`` does not see
the datapoints published without dimensions.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from harness.metrics.statistics import compute

__all__ = ["MetricStore", "SeriesKey", "series_key"]

logger = logging.getLogger(__name__)

SeriesKey = tuple[str, str, tuple[tuple[str, str], ...]]


def series_key(namespace: str, name: str, dimensions: dict[str, str] | None = None) -> SeriesKey:
    return (namespace, name, tuple(sorted((dimensions or {}).items())))


class MetricStore:
    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.series: dict[SeriesKey, dict[int, Counter[float]]] = {}
        self._offsets: dict[Path, int] = {}

    def refresh(self) -> int:
        """Read what was appended since the last call; returns the lines read."""
        read = 0
        if not self.directory.is_dir():
            return 0
        for path in sorted(self.directory.glob("*.jsonl")):
            offset = self._offsets.get(path, 0)
            try:
                with path.open("rb") as f:
                    f.seek(offset)
                    chunk = f.read()
            except OSError:
                continue
            end = chunk.rfind(b"\n")
            if end < 0:
                continue
            self._offsets[path] = offset + end + 1
            for line in chunk[: end + 1].splitlines():
                if line.strip():
                    try:
                        self.add_line(json.loads(line))
                        read += 1
                    except (ValueError, KeyError, TypeError) as exc:
                        logger.warning("metrics: bad line in %s: %s", path, exc)
        return read

    def add_line(self, item: dict[str, Any]) -> None:
        key = series_key(item["ns"], item["m"], item.get("d") or {})
        seconds = self.series.setdefault(key, {})
        samples = seconds.get(int(item["t"]))
        if samples is None:
            samples = seconds[int(item["t"])] = Counter()
        for value, count in item["v"]:
            samples[float(value)] += int(count)

    def add(
        self,
        namespace: str,
        name: str,
        dimensions: dict[str, str],
        second: int,
        values: Iterable[float],
    ) -> None:
        """Add samples directly (tests, and gauges the monitor samples itself)."""
        self.add_line(
            {
                "t": second,
                "ns": namespace,
                "m": name,
                "d": dimensions,
                "v": [[v, 1] for v in values],
            }
        )

    def samples(self, key: SeriesKey, start: float, end: float) -> Counter[float]:
        """Every sample of ``key`` in seconds ``start`` (inclusive) to ``end`` (exclusive)."""
        merged: Counter[float] = Counter()
        seconds = self.series.get(key)
        if not seconds:
            return merged
        lo, hi = int(start), int(end)
        if hi - lo < len(seconds):
            for second in range(lo, hi):
                got = seconds.get(second)
                if got:
                    merged.update(got)
        else:
            for second, got in seconds.items():
                if lo <= second < hi:
                    merged.update(got)
        return merged

    def datapoint(self, key: SeriesKey, start: float, end: float, statistic: str) -> float | None:
        return compute(self.samples(key, start, end), statistic)

    def names(self) -> list[SeriesKey]:
        return sorted(self.series)
