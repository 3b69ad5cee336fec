"""Durations people write in files and flags: 12, 1.5, "500ms", "30s", "5m", "1h"."""

from __future__ import annotations

import re
from typing import Any

__all__ = ["parse_duration"]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(value: Any) -> float:
    """Seconds; ``ValueError`` (with the accepted forms) for anything else."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 30s, 5m or 500ms")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError("a duration cannot be negative")
        return float(value)
    match = _DURATION.match(str(value))
    if not match:
        raise ValueError(f"'{value}' is not a duration; use e.g. 500ms, 30s, 5m or 1h")
    return float(match.group(1)) * _UNITS[match.group(2) or "s"]
