"""A small recording HTTP client: every call the isolation machine makes is kept for the replay.

Two kinds of call are more than one request, so that a replay does the same work whatever data
the stack already holds:

- ``paginate`` (a listing followed to the end): ``{"items": "$.items", "next": "$.next" or
  None, "param": "cursor" or None, "max_pages": 20}``; the pages are requested one after the
  other, each with the previous answer's token, and the call's ``response`` is
  ``{"items": [every page's items], "pages": N, "complete": bool}``.
- ``derive`` (a token the API handed out, tampered): ``{"param": "cursor", "path": "$.next",
  "swaps": [[old, new], ...], "variant": "b64url unpadded, rewound" or "raw"}``: the token is
  read from the *previous* call's answer (the first page of a listing; a paginated previous
  call keeps its first page's token as ``first_token``), tampered with
  :func:`harness.isolation.opaque.tamper` and sent in ``param``. The tampered text actually sent
  is kept in ``query`` for reading.
"""

from __future__ import annotations

import http.client
import json
import time
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

__all__ = ["CLIENT_TIMEOUT_S", "Call", "RecordingClient"]

# The gateway answers every call within its integration timeout (API Gateway's: 30 s for an HTTP
# API, 29 s for a REST API; a slower function gets a 504 from the gateway), so the client waits
# longer than that: what the harness sees is the gateway's answer, never its own impatience. A
# cold start on a loaded machine can take 10-20 s (CodexFlow's POST /projects did, with a 10 s
# client timeout, and the retry that followed started a second cold environment).
CLIENT_TIMEOUT_S = 35.0


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
    paginate: dict[str, Any] | None = None
    derive: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class RecordingClient:
    def __init__(self, base_url: str, timeout: float = CLIENT_TIMEOUT_S) -> None:
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
        self._answered = 0  # answers received on the current (kept-alive) connection
        self.requests = 0  # HTTP requests sent (a paginated call is several)
        self.http_s = 0.0  # wall time spent waiting for answers (sending included)

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            self._conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            self._answered = 0
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def send(self, call: Call, token: str | None) -> Call:
        """Make ``call`` (filling in its status and response) and record it."""
        if call.derive is not None:
            derived = self._derived(call.derive)
            if derived is None:  # the previous answer holds no such token (any more)
                call.status, call.response = 0, {"skipped": "no token to tamper"}
                self.calls.append(call)
                return call
            call.query = {**call.query, str(call.derive["param"]): derived}
        if call.paginate is not None:
            return self._paginated(call, token)
        call.status, call.response = self._one(call, token, call.query)
        self.calls.append(call)
        return call

    def _derived(self, derive: dict[str, Any]) -> str | None:
        from harness.isolation.opaque import rewound, tamper

        if not self.calls:
            return None
        source = self.calls[-1].response
        value = (
            source.get("first_token")
            if isinstance(source, dict) and "first_token" in source
            else json_path(source, str(derive["path"]))
        )
        if value in (None, "", {}, []):
            return None
        if derive.get("variant", "raw") == "raw":
            return value if isinstance(value, str) else json.dumps(value)
        if derive["variant"] == "raw, rewound":
            return rewound(value)
        swaps = [(str(a), str(b)) for a, b in derive.get("swaps") or []]
        for tampered in tamper(value, swaps):
            if tampered.how == derive["variant"]:
                return tampered.token
        return None

    def _paginated(self, call: Call, token: str | None) -> Call:
        from harness.isolation.opaque import find_cursor

        spec = call.paginate or {}
        items: list[Any] = []
        query = dict(call.query)
        pages, complete, first_token, token_param, first_page = 0, False, None, "", 0
        status, response = 0, None
        while pages < int(spec.get("max_pages", 20)):
            status, response = self._one(call, token, query)
            pages += 1
            if status >= 300:
                break
            found = json_path(response, spec.get("items"))
            items += found if isinstance(found, list) else []
            if pages == 1:
                first_page = len(found) if isinstance(found, list) else 0
            if spec.get("next"):
                value = json_path(response, str(spec["next"]))
                name = str(spec.get("param") or str(spec["next"]).rsplit(".", 1)[-1])
            else:
                hit = find_cursor(response)
                value, name = (hit[1], hit[0].rsplit(".", 1)[-1]) if hit else (None, "")
                name = str(spec.get("param") or name)
            if value in (None, "", {}, []):
                complete = True
                break
            if first_token is None:
                first_token, token_param = value, name
            text = value if isinstance(value, str) else json.dumps(value)
            if query.get(name) == text:
                complete = True  # the same token again: the API's last page
                break
            query[name] = text
        call.status = status
        call.response = {
            "items": items,
            "pages": pages,
            "complete": complete,
            "first_page": first_page,
        }
        if status >= 300:
            call.response["error"] = response
        if first_token is not None:
            call.response["first_token"] = first_token
            call.response["token_param"] = token_param
        self.calls.append(call)
        return call

    def _one(self, call: Call, token: str | None, query: dict[str, str]) -> tuple[int, Any]:
        path = self.prefix + call.path
        if query:
            path += ("&" if "?" in path else "?") + urlencode(query)
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
        try:
            return status, json.loads(raw) if raw else None
        except ValueError:
            return status, raw.decode("utf-8", errors="replace")[:2000]

    def _exchange(
        self, method: str, path: str, payload: bytes | None, headers: dict[str, str]
    ) -> tuple[int, bytes]:
        """One request on the kept-alive connection. It is sent again (on a new connection)
        only when a connection that had already answered was found closed before this request
        got any answer (the server dropped an idle keep-alive connection), never after a
        timeout: a request that timed out may have been handled, and sending a POST twice
        creates a second record (and, for a cold function, a second cold environment)."""
        while True:
            conn = self._connection()
            reused = self._answered > 0
            started = time.perf_counter()
            try:
                self.requests += 1
                conn.request(method, path, body=payload, headers=headers)
                response = conn.getresponse()
                raw = response.read()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                self.close()
                if reused:
                    continue
                raise
            except (http.client.HTTPException, OSError):
                self.close()
                raise
            self.http_s += time.perf_counter() - started
            self._answered += 1
            if response.will_close:
                self.close()
            if response.getheader("retry-after"):
                try:
                    self.retry_after = max(
                        0.05, min(float(response.getheader("retry-after") or 1), 1.0)
                    )
                except ValueError:
                    self.retry_after = 1.0
            return response.status, raw


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
