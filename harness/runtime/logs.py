"""Function logs: structured JSON lines in ``<state_dir>/logs/functions/<function>.log``.

Every line a handler prints (stdout, stderr, ``logging``) becomes one record with the function,
request id and correlation id; each invocation ends with a ``REPORT`` record (duration, billed
duration, memory, init duration). The last records of each function are kept in memory for
``GET /_harness/runtime/logs/<function>``, and the invocation's own text (START ... REPORT) is
what ``X-Amz-Log-Type: Tail`` returns (last 4 KB, base64).
"""

from __future__ import annotations

import base64
import json
import logging
import math
import time
from collections import deque
from pathlib import Path
from typing import IO, Any

__all__ = ["FunctionLog", "tail_text"]

logger = logging.getLogger(__name__)

TAIL_BYTES = 4096


def tail_text(
    request_id: str,
    lines: list[list[str]],
    report: dict[str, Any],
    extra: list[str] | None = None,
    version: str = "$LATEST",
) -> str:
    """Base64 of the last 4 KB of the invocation's log, as ``X-Amz-Log-Result`` carries it."""
    parts = [f"START RequestId: {request_id} Version: {version}"]
    parts += [text for _, _, text in lines]
    parts += extra or []
    parts.append(f"END RequestId: {request_id}")
    parts.append(report_line(request_id, report))
    raw = ("\n".join(parts) + "\n").encode()[-TAIL_BYTES:]
    return base64.b64encode(raw).decode()


def report_line(request_id: str, report: dict[str, Any]) -> str:
    text = (
        f"REPORT RequestId: {request_id}\tDuration: {report['durationMs']:.2f} ms\t"
        f"Billed Duration: {report['billedDurationMs']} ms\tMemory Size: {report['memorySizeMB']} MB\t"
        f"Max Memory Used: {report['maxMemoryUsedMB']} MB\t"
    )
    if report.get("initDurationMs") is not None:
        text += f"Init Duration: {report['initDurationMs']:.2f} ms\t"
    return text


def billed(duration_ms: float) -> int:
    return max(1, math.ceil(duration_ms))


_stamp_cache: tuple[int, str] = (0, "")


def fast_iso_ms(now: float) -> str:
    """``iso_ms`` with the seconds part cached (this runs once per invocation)."""
    global _stamp_cache
    second = int(now)
    if _stamp_cache[0] != second:
        _stamp_cache = (second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)))
    return f"{_stamp_cache[1]}.{int((now - second) * 1000):03d}Z"


class FunctionLog:
    """Append-only JSON-lines file plus an in-memory ring buffer (of the same lines)."""

    def __init__(self, path: Path, function: str, ring: int) -> None:
        self.path = path
        self.function = function
        self.ring: deque[str] = deque(maxlen=ring)
        self._fh: IO[str] | None = None
        self._dirty = False
        self._prefix = '{"function":' + json.dumps(function)

    def _file(self) -> IO[str]:
        if self._fh is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = open(self.path, "a", buffering=1 << 16, encoding="utf-8")  # noqa: SIM115
        return self._fh

    def records(self, limit: int) -> list[dict[str, Any]]:
        lines = list(self.ring)[-limit:] if limit > 0 else []
        return [json.loads(line) for line in lines]

    def write(
        self,
        request_id: str,
        correlation_id: str,
        lines: list[list[str]],
        report: dict[str, Any] | None,
    ) -> None:
        """One JSON line per output line, then the REPORT line (built by hand: hot path)."""
        stamp = fast_iso_ms(time.time())
        cid = correlation_id if correlation_id == request_id else json.dumps(correlation_id)[1:-1]
        head = f'{self._prefix},"time":"{stamp}","requestId":"{request_id}","correlationId":"{cid}"'
        out = [
            head
            + f',"stream":"{stream}","level":"{level or ("ERROR" if stream == "stderr" else "INFO")}"'
            + ',"message":'
            + json.dumps(text)
            + "}\n"
            for stream, level, text in lines
        ]
        if report is not None:
            out.append(head + ',"type":"REPORT",' + json.dumps(report)[1:] + "\n")
        if not out:
            return
        self.ring.extend(out)
        try:
            self._file().write("".join(out))
            self._dirty = True
        except OSError:
            logger.exception("cannot write %s", self.path)

    def flush(self) -> None:
        if self._fh is not None and self._dirty:
            try:
                self._fh.flush()
            except OSError:
                logger.exception("cannot flush %s", self.path)
            self._dirty = False

    def close(self) -> None:
        self.flush()
        if self._fh is not None:
            self._fh.close()
            self._fh = None
