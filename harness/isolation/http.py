"""A small recording HTTP client: every call the isolation machine makes is kept for the replay."""

from __future__ import annotations

import http.client
import json
import time
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

__all__ = ["Call", "RecordingClient"]


@dataclass
class Call:
    """One HTTP call, as made and as answered. The token is not stored: its recipe is."""

    step: str
    method: str
    path: str
    tenant: str
    user: str
    query: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    status: int = 0
    response: Any = None
    expected: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class RecordingClient:
    def __init__(self, base_url: str, timeout: float = 10.0) -> None:
        parts = urlsplit(base_url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.prefix = parts.path.rstrip("/")
        self.timeout = timeout
        self.calls: list[Call] = []
        self.throttled = 0  # 429s waited out
        self.max_throttled = 8
        self.retry_after = 1.0
        self._conn: http.client.HTTPConnection | None = None

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            self._conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def send(self, call: Call, token: str | None) -> Call:
        """Make ``call`` (filling in its status and response) and record it."""
        path = self.prefix + call.path
        if call.query:
            path += ("&" if "?" in path else "?") + urlencode(call.query)
        # Header values go out as raw UTF-8 bytes, as an attacker's would (http.client wants latin-1).
        headers = {
            k: v.encode("utf-8").decode("latin-1")
            for k, v in {"accept": "application/json", **call.headers}.items()
        }
        if token is not None:
            headers["authorization"] = f"Bearer {token}".encode().decode("latin-1")
        payload: bytes | None = None
        if call.body is not None:
            payload = json.dumps(call.body).encode()
            headers["content-type"] = "application/json"
        status, raw = self._exchange(call.method, path, payload, headers)
        throttled = 0
        # A usage plan's 429 says nothing about isolation: wait as told (bounded) and retry.
        while status == 429 and throttled < self.max_throttled:
            throttled += 1
            time.sleep(min(self.retry_after, 0.05 * 2**throttled))
            status, raw = self._exchange(call.method, path, payload, headers)
        self.throttled += throttled
        call.status = status
        try:
            call.response = json.loads(raw) if raw else None
        except ValueError:
            call.response = raw.decode("utf-8", errors="replace")[:2000]
        self.calls.append(call)
        return call

    def _exchange(
        self, method: str, path: str, payload: bytes | None, headers: dict[str, str]
    ) -> tuple[int, bytes]:
        for attempt in (1, 2):
            conn = self._connection()
            try:
                conn.request(method, path, body=payload, headers=headers)
                response = conn.getresponse()
                raw = response.read()
                if response.getheader("retry-after"):
                    try:
                        self.retry_after = max(
                            0.05, min(float(response.getheader("retry-after") or 1), 1.0)
                        )
                    except ValueError:
                        self.retry_after = 1.0
                return response.status, raw
            except (http.client.HTTPException, OSError):
                self.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")


def json_path(document: Any, path: str | None) -> Any:
    """A tiny ``$.a.b[0]`` reader for ids and item lists in answers."""
    if not path:
        return None
    current = document
    for part in path.lstrip("$").strip(".").replace("]", "").replace("[", ".").split("."):
        if part == "":
            continue
        if isinstance(current, list):
            try:
                current = current[int(part)]
            except (ValueError, IndexError):
                return None
        elif isinstance(current, dict):
            current = current.get(part)
        else:
            return None
    return current
