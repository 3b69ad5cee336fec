"""Per-process recording of CloudWatch datapoints at one-second resolution.

The gateway, the runtime and the AWS edge each call :func:`put` on their hot path. A call adds
one value to an in-memory bucket keyed by (second, metric); nothing is formatted or written
there. A daemon thread (started lazily, again after a fork, since the gateway's workers are
forked) writes every completed second once a second as JSON lines to
``<metrics_dir>/<component>-<pid>.jsonl``; :mod:`harness.metrics.store` merges the files of
every process, so a metric recorded by two gateway workers is one metric, as in CloudWatch.

One line per (second, metric, dimension set)::

    {"t": 1765100000, "ns": "AWS/Lambda", "m": "Duration", "d": {"FunctionName": "f"},
     "v": [[12.5, 1], [13.0, 2]]}

``v`` holds (value, count) pairs: a ``Count`` metric is one pair whatever the traffic, and
percentiles stay exact. A metric key carries every dimension set it is published under (API
Gateway publishes ``Count`` per API, per API and stage, per route): one ``put``, expanded to
each set only when the second is written.

Recording is off (``put`` returns at once) until :func:`configure` names a directory; the
daemons configure it from their ``--state-dir`` (``<state_dir>/metrics``), and
``HARNESS_METRICS=0`` turns it off.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import threading
import time
from pathlib import Path

__all__ = ["Dims", "MetricKey", "Recorder", "configure", "key", "put", "recorder"]

logger = logging.getLogger(__name__)

Dims = tuple[tuple[str, str], ...]
MetricKey = tuple[str, str, tuple[Dims, ...]]  # namespace, metric name, dimension sets


def key(namespace: str, name: str, *dimension_sets: dict[str, str]) -> MetricKey:
    """A metric published under each of ``dimension_sets`` (none: one set without dimensions)."""
    sets = tuple(tuple(sorted(d.items())) for d in dimension_sets) or ((),)
    return (namespace, name, sets)


class Recorder:
    """Buckets of one process; :meth:`put` is the hot path (a dict lookup and an increment)."""

    def __init__(self, directory: Path | None = None, component: str = "harness") -> None:
        self.directory = directory
        self.component = component
        self._buckets: dict[int, dict[MetricKey, dict[float, int]]] = {}
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    @property
    def enabled(self) -> bool:
        return self.directory is not None

    @property
    def path(self) -> Path | None:
        if self.directory is None:
            return None
        return self.directory / f"{self.component}-{os.getpid()}.jsonl"

    def put(self, metric: MetricKey, value: float, when: float | None = None) -> None:
        if self.directory is None:
            return
        second = int(when if when is not None else time.time())
        if self._pid != os.getpid():
            self._after_fork()
        with self._lock:
            bucket = self._buckets.get(second)
            if bucket is None:
                bucket = self._buckets[second] = {}
                if self._thread is None:
                    self._start()
            values = bucket.get(metric)
            if values is None:
                values = bucket[metric] = {}
            values[value] = values.get(value, 0) + 1

    def flush(self, everything: bool = False) -> int:
        """Write completed seconds (every second with ``everything``); returns lines written."""
        if self.directory is None:
            return 0
        now = int(time.time())
        with self._lock:
            done = [s for s in self._buckets if everything or s < now]
            taken = {s: self._buckets.pop(s) for s in done}
        if not taken:
            return 0
        lines: list[str] = []
        for second in sorted(taken):
            for (namespace, name, sets), values in taken[second].items():
                pairs = [[v, c] for v, c in values.items()]
                for dims in sets:
                    lines.append(
                        json.dumps(
                            {"t": second, "ns": namespace, "m": name, "d": dict(dims), "v": pairs},
                            separators=(",", ":"),
                        )
                    )
        path = self.path
        assert path is not None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("a", encoding="utf-8") as out:
                out.write("\n".join(lines) + "\n")
        except OSError:
            logger.exception("metrics: cannot write %s", path)
            return 0
        return len(lines)

    def close(self) -> None:
        self._stop.set()
        self.flush(everything=True)

    def _start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="metrics-flush", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(1.0):
            try:
                self.flush()
            except Exception:  # never let the flusher die silently
                logger.exception("metrics: flush failed")

    def _after_fork(self) -> None:
        # The parent's buckets are the parent's to write; the thread did not survive the fork.
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self._buckets = {}
        self._thread = None
        self._stop = threading.Event()


_RECORDER = Recorder()


def recorder() -> Recorder:
    return _RECORDER


def configure(state_dir: Path | None, component: str) -> Recorder:
    """Record this process's metrics under ``<state_dir>/metrics`` (off when ``state_dir`` is
    None or ``HARNESS_METRICS=0``)."""
    off = os.environ.get("HARNESS_METRICS", "1").strip().lower() in ("0", "false", "no")
    _RECORDER.directory = None if state_dir is None or off else Path(state_dir) / "metrics"
    _RECORDER.component = component
    return _RECORDER


def put(metric: MetricKey, value: float, when: float | None = None) -> None:
    _RECORDER.put(metric, value, when)


atexit.register(lambda: _RECORDER.close() if _RECORDER.enabled else None)
