"""The environment's logs read as one stream: function, gateway and edge records merged in time
order, joined by request id, correlation id and trace root (``harness logs`` prints it,
``harness trace`` rebuilds spans from it).

Sources, all JSON lines under ``<state_dir>/logs``:

* ``functions/<function>.log`` — what each handler printed and its ``REPORT`` (runtime/logs.py);
* ``access.log`` — one line per gateway request (gateway/accesslog.py);
* ``edge-calls.log`` — one line per AWS call through the edge (edge/proxy.py ``CallLog``).

A ``trace`` filter keeps the records joined to an id: a record matches when one of its ids
(request id, correlation id, X-Ray trace root) is the id, and the ids of the records that match
are followed once more, so a gateway request id finds the function lines of its invocation
(same correlation id) and the AWS calls the handler made (same trace root).
:meth:`LogReader.follow` keeps reading the files as they grow, polling every 0.2 s.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

__all__ = ["LogReader", "LogRecord", "iso_time", "parse_record", "records_of"]

ACCESS_LOG = "access.log"
EDGE_LOG = "edge-calls.log"
FUNCTIONS_DIR = "functions"
POLL_S = 0.2

_ID_FIELDS = ("requestId", "correlationId", "traceId", "extendedRequestId")


@dataclass(frozen=True)
class LogRecord:
    time: float  # epoch seconds
    source: str  # function | gateway | edge
    name: str  # the function, the gateway's stack/api, the edge's service
    message: str
    level: str
    raw: dict[str, Any] = field(compare=False)

    def ids(self) -> set[str]:
        found = {str(self.raw[k]) for k in _ID_FIELDS if self.raw.get(k)}
        return found

    def to_json(self) -> dict[str, Any]:
        return {
            "time": iso_time(self.time),
            "source": self.source,
            "name": self.name,
            "level": self.level,
            "message": self.message,
            **{k: self.raw[k] for k in _ID_FIELDS if self.raw.get(k)},
            "record": self.raw,
        }


def iso_time(epoch: float) -> str:
    ms = round((epoch - int(epoch)) * 1000)
    second = int(epoch) + (1 if ms == 1000 else 0)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)) + f".{ms % 1000:03d}Z"


def _parse_iso(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def parse_record(source: str, line: str) -> LogRecord | None:
    """One log line as a record; ``None`` for a line that is not a JSON object (a torn write)."""
    try:
        raw = json.loads(line)
    except ValueError:
        return None
    if not isinstance(raw, dict):
        return None
    try:
        if source == "function":
            stamp = _parse_iso(str(raw["time"]))
            if raw.get("type") == "REPORT":
                message = (
                    f"REPORT Duration: {raw.get('durationMs', 0):.2f} ms "
                    f"Billed: {raw.get('billedDurationMs')} ms "
                    f"Memory: {raw.get('maxMemoryUsedMB')}/{raw.get('memorySizeMB')} MB"
                )
                if raw.get("initDurationMs") is not None:
                    message += f" Init: {raw['initDurationMs']:.2f} ms"
                level = "INFO"
            else:
                message = str(raw.get("message", ""))
                level = str(raw.get("level") or "INFO")
            return LogRecord(stamp, "function", str(raw.get("function", "?")), message, level, raw)
        if source == "gateway":
            stamp = float(raw["requestTimeEpoch"]) / 1000
            status = int(raw.get("status") or 0)
            message = (
                f"{raw.get('httpMethod')} {raw.get('path')} {status} "
                f"{raw.get('responseLatency')} ms route={raw.get('routeKey')}"
            )
            if raw.get("tenantId"):
                message += f" tenant={raw['tenantId']}"
            for key in ("errorType", "integrationErrorMessage", "authorizerError"):
                if raw.get(key):
                    message += f" {key}={raw[key]}"
            level = "ERROR" if status >= 500 else "WARN" if status >= 400 else "INFO"
            name = str(raw.get("stack") or "gateway")
            return LogRecord(stamp, "gateway", name, message, level, raw)
        if source == "edge":
            stamp = float(raw["time"])
            status = int(raw.get("status") or 0)
            message = f"{raw.get('operation')} {status} {raw.get('durationMs')} ms"
            if raw.get("fault"):
                message += " fault=injected"
            level = "ERROR" if status >= 500 or status == 0 else "WARN" if status >= 400 else "INFO"
            return LogRecord(stamp, "edge", str(raw.get("service", "?")), message, level, raw)
    except (KeyError, TypeError, ValueError):
        return None
    raise ValueError(f"unknown log source {source!r}")


class _Tail:
    """Reads the complete lines appended to one file since the last read."""

    def __init__(self, path: Path, source: str) -> None:
        self.path = path
        self.source = source
        self.offset = 0
        self.partial = b""
        self.inode: int | None = None

    def read(self) -> list[LogRecord]:
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return []
        if self.inode is not None and (stat.st_ino != self.inode or stat.st_size < self.offset):
            self.offset, self.partial = 0, b""  # replaced or truncated: start again
        self.inode = stat.st_ino
        if stat.st_size == self.offset:
            return []
        with open(self.path, "rb") as fh:
            fh.seek(self.offset)
            data = fh.read()
        self.offset += len(data)
        data = self.partial + data
        lines = data.split(b"\n")
        self.partial = lines.pop()
        out = []
        for line in lines:
            if line.strip():
                record = parse_record(self.source, line.decode("utf-8", "replace"))
                if record is not None:
                    out.append(record)
        return out


class LogReader:
    """The environment's log files, read once or followed, with the command's filters."""

    def __init__(
        self,
        state_dir: Path,
        *,
        functions: set[str] | None = None,
        stack: str | None = None,
        since: float | None = None,
        text: str | None = None,
        trace: str | None = None,
    ) -> None:
        self.log_dir = Path(state_dir) / "logs"
        self.functions = functions  # None: every function
        self.stack = stack
        self.since = since
        self.text = text.lower() if text else None
        self.trace = trace
        self.linked: set[str] = {trace} if trace else set()
        self.tails: dict[Path, _Tail] = {}

    def _discover(self) -> None:
        wanted: list[tuple[Path, str]] = []
        fdir = self.log_dir / FUNCTIONS_DIR
        if fdir.is_dir():
            for path in sorted(fdir.glob("*.log")):
                if self.functions is None or path.stem in self.functions:
                    wanted.append((path, "function"))
        if self.functions is None or self.stack is not None:
            wanted.append((self.log_dir / ACCESS_LOG, "gateway"))
        wanted.append((self.log_dir / EDGE_LOG, "edge"))
        for path, source in wanted:
            if path not in self.tails:
                self.tails[path] = _Tail(path, source)

    def _keep(self, record: LogRecord) -> bool:
        if self.since is not None and record.time < self.since:
            return False
        if (
            record.source == "gateway"
            and self.stack is not None
            and record.raw.get("stack") != self.stack
        ):
            return False
        if record.source == "gateway" and self.functions is not None and self.stack is None:
            return False
        if self.text is not None:
            haystack = (record.message + " " + json.dumps(record.raw)).lower()
            if self.text not in haystack:
                return False
        return True

    def _select(self, records: list[LogRecord]) -> list[LogRecord]:
        records = [r for r in records if self._keep(r)]
        if self.trace is not None:
            # two passes: records naming the id directly, then records sharing one of their ids
            for _ in range(2):
                for record in records:
                    ids = record.ids()
                    if ids & self.linked:
                        self.linked |= ids
            records = [r for r in records if r.ids() & self.linked]
        elif self.stack is not None or self.functions is not None:
            # the edge does not know stacks: keep the AWS calls made under a kept request's trace
            self.linked |= {
                str(r.raw["traceId"])
                for r in records
                if r.source != "edge" and r.raw.get("traceId")
            }
            records = [
                r for r in records if r.source != "edge" or str(r.raw.get("traceId")) in self.linked
            ]
        records.sort(key=lambda r: r.time)
        return records

    def read(self) -> list[LogRecord]:
        """Everything appended since the last call, filtered, in time order."""
        self._discover()
        records: list[LogRecord] = []
        for tail in self.tails.values():
            records.extend(tail.read())
        return self._select(records)

    def follow(self, stop: Any = None) -> Iterator[LogRecord]:
        """Yield records as they are written; ``stop()`` returning true ends the loop."""
        while stop is None or not stop():
            yield from self.read()
            time.sleep(POLL_S)


def records_of(lines: Iterable[str], source: str) -> list[LogRecord]:
    """Parse lines of one source (for tests and tools)."""
    return [r for r in (parse_record(source, line) for line in lines) if r is not None]
