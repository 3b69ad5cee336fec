"""Observability pieces shared by the gateway, the edge and ``harness logs``.

:func:`trace_root` is what joins a gateway request to the AWS calls its handler made: the gateway
sends ``X-Amzn-Trace-Id`` to the function, the runtime keeps its ``Root`` in ``_X_AMZN_TRACE_ID``,
and botocore sends it back on every call through the edge. :class:`JsonLinesLog` is the buffered
``O_APPEND`` JSON-lines writer of the edge's call log (the same scheme as the gateway's access log).
"""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path
from typing import Any

import orjson

__all__ = ["JsonLinesLog", "trace_root"]

logger = logging.getLogger(__name__)


def trace_root(header: str | None) -> str | None:
    """The ``Root=`` of an X-Ray trace header (``Root=1-...;Parent=...;Sampled=0``)."""
    if not header:
        return None
    start = header.find("Root=")
    if start < 0:
        return None
    end = header.find(";", start)
    return header[start + 5 : end if end >= 0 else None] or None


class JsonLinesLog:
    """Lines buffered and written in one ``write`` on an ``O_APPEND`` descriptor (every
    ``flush_lines`` lines or ``flush_interval`` seconds), so a record costs a dict and an append."""

    def __init__(self, path: Path, flush_lines: int = 256, flush_interval: float = 0.5) -> None:
        self.path = Path(path)
        self.flush_lines = flush_lines
        self.flush_interval = flush_interval
        self._buffer: list[bytes] = []
        self._fd: int | None = None
        self._scheduled = False

    def write(self, record: dict[str, Any]) -> None:
        self._buffer.append(orjson.dumps(record, default=str) + b"\n")
        if len(self._buffer) >= self.flush_lines:
            self.flush()
        elif not self._scheduled:
            self._scheduled = True
            try:
                asyncio.get_running_loop().call_later(self.flush_interval, self.flush)
            except RuntimeError:
                self.flush()

    def flush(self) -> None:
        self._scheduled = False
        if not self._buffer:
            return
        data = b"".join(self._buffer)
        self._buffer.clear()
        try:
            if self._fd is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            os.write(self._fd, data)
        except OSError as exc:
            logger.warning("cannot write %s: %s", self.path, exc)

    def close(self) -> None:
        self.flush()
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
