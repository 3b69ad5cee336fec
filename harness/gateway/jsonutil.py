"""Fast JSON: orjson when installed, the standard library otherwise."""

from __future__ import annotations

import json
from typing import Any

__all__ = ["dumps", "loads"]

try:
    import orjson

    def dumps(value: Any) -> bytes:
        return orjson.dumps(value, default=str)

    loads = orjson.loads
except ImportError:  # pragma: no cover - orjson is optional

    def dumps(value: Any) -> bytes:
        return json.dumps(value, separators=(",", ":"), default=str).encode()

    def loads(data: bytes | str) -> Any:  # type: ignore[misc]
        return json.loads(data)
