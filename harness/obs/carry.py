"""Traces carried across SNS and EventBridge deliveries: the edge notes each published message's
or event's id with its producer's X-Ray header (harness/edge/tracing.py), the runtime's pollers
look the delivered id up here."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from pathlib import Path

import orjson

from harness.obs.spans import TRACES_DIR, TraceConfig

__all__ = ["CARRY_FILE", "CarriedTraces"]

CARRY_FILE = "carry.jsonl"


class CarriedTraces:
    """The runtime's view of ``carry.jsonl``: message/event id → the producer's X-Ray header.

    Read incrementally (from the last offset) when an id is not known yet; the edge writes the
    line right after the emulator answered the publish, which can be a few ms after the emulator
    queued the delivery, so :meth:`lookup` rereads for up to ``wait_s`` once per batch. Keeps
    the last ``limit`` ids (a topic's several subscribers each look the same id up)."""

    def __init__(self, state_dir: Path, config: TraceConfig, limit: int = 100_000) -> None:
        self.path = Path(state_dir) / TRACES_DIR / config.run / CARRY_FILE
        self.limit = limit
        self._ids: OrderedDict[str, str] = OrderedDict()
        self._offset = 0
        self._lock = threading.Lock()

    def _read(self) -> None:
        try:
            with open(self.path, "rb") as fh:
                fh.seek(self._offset)
                data = fh.read()
        except FileNotFoundError:
            return
        end = data.rfind(b"\n") + 1
        self._offset += end
        for line in data[:end].splitlines():
            try:
                record = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            if isinstance(record, dict) and isinstance(record.get("id"), str):
                self._ids[record["id"]] = str(record.get("trace"))
        while len(self._ids) > self.limit:
            self._ids.popitem(last=False)

    def lookup(self, idents: list[str | None], wait_s: float = 0.02) -> list[str | None]:
        """The producers' headers of a batch's ids (``None`` for an id no traced call sent);
        waits at most ``wait_s`` once per batch for lines still to come."""
        deadline = time.monotonic() + wait_s
        with self._lock:
            while True:
                found = [self._ids.get(i) if i else None for i in idents]
                if all(f is not None for f, i in zip(found, idents, strict=True) if i):
                    return found
                self._read()
                found = [self._ids.get(i) if i else None for i in idents]
                if all(f is not None for f, i in zip(found, idents, strict=True) if i):
                    return found
                if time.monotonic() >= deadline:
                    return found
                time.sleep(0.005)
