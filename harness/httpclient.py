"""The harness's own blocking HTTP calls (control APIs, health checks, the edge's AWS calls of
its own), with one error mapping: what every client uses instead of wrapping ``urllib`` its
own way.

    answer = call("GET", f"{runtime_url}/_harness/runtime/metrics", control=True, timeout=10)
    answer.status, answer.json()
    call_json("POST", f"{edge}/_harness/edge/faults", [rule])   # the decoded JSON answer

* ``control=True`` adds the environment's secret header for a control path
  (:func:`harness.env.secret.headers_for`); ``headers`` adds a call's own (an AWS target, a
  content type, a secret read from a state folder).
* An error status becomes :class:`HttpStatusError` (``status``, ``body``, ``text``;
  ``"{METHOD} {url} was refused ({status}): {message}"``, the answer's JSON ``message`` when
  there is one); no answer (refused, reset, timed out) becomes :class:`NoAnswerError`
  (``"{url} does not answer ({reason})."`` with the caller's ``fix``). Both are
  :class:`~harness.errors.HarnessError` and, as urllib's own errors were, ``OSError``: a caller
  that only cares whether it got an answer catches :class:`HttpClientError` (or ``OSError``).
* A body is read whole (these are small control answers); :meth:`Answer.json` decodes it.

The async, kept-alive HTTP/1.1 of the hot paths (gateway → runtime, edge → emulators) is
:mod:`harness.http1`. ``harness/env/ministack_main.py`` keeps its own ``urllib`` call: it runs
in ministack's interpreter, where the harness is not importable.
"""

from __future__ import annotations

import contextlib
import json
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from harness.errors import HarnessError

__all__ = [
    "NO_ANSWER_FIX",
    "Answer",
    "HttpClientError",
    "HttpStatusError",
    "NoAnswerError",
    "call",
    "call_json",
]

NO_ANSWER_FIX = "check the environment with `harness status`."
JSON_HEADERS = {"Content-Type": "application/json"}


class HttpClientError(HarnessError, OSError):
    """A call that got no usable answer; ``reason`` says why in a few words (no fix)."""

    reason: str


class HttpStatusError(HttpClientError):
    """The server answered with an error status (4xx, 5xx)."""

    def __init__(self, method: str, url: str, status: int, body: bytes) -> None:
        self.method, self.url, self.status, self.body = method, url, status, body
        self.text = body.decode("utf-8", errors="replace")
        detail = self.text
        with contextlib.suppress(ValueError, AttributeError):
            detail = json.loads(detail).get("message", detail)
        self.reason = f"HTTP {status}: {self.text[:200]}"
        super().__init__(f"{method} {url} was refused ({status}): {detail}")


class NoAnswerError(HttpClientError):
    """No answer: the connection was refused, reset or timed out."""

    def __init__(self, url: str, cause: OSError, fix: str | None = NO_ANSWER_FIX) -> None:
        self.url, self.cause = url, cause
        self.reason = str(cause)
        super().__init__(f"{url} does not answer ({cause}).", fix=fix)


@dataclass(frozen=True, slots=True)
class Answer:
    """A successful (2xx/3xx) answer, read whole."""

    status: int
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)

    def json(self, empty: Any = None) -> Any:
        """The body decoded as JSON (``empty`` for an empty body); ValueError if it is not."""
        return json.loads(self.body) if self.body else empty


def call(
    method: str,
    url: str,
    body: bytes | None = None,
    *,
    headers: Mapping[str, str] | None = None,
    control: bool = False,
    timeout: float = 10.0,
    fix: str | None = NO_ANSWER_FIX,
) -> Answer:
    """One request; the answer, or :class:`HttpStatusError` / :class:`NoAnswerError`."""
    sent = dict(headers or {})
    if control:
        from harness.env.secret import headers_for

        sent.update(headers_for(url))
    request = urllib.request.Request(url, data=body, method=method, headers=sent)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return Answer(response.status, response.read(), dict(response.headers.items()))
    except urllib.error.HTTPError as exc:
        raise HttpStatusError(method, url, exc.code, exc.read()) from None
    except OSError as exc:
        raise NoAnswerError(url, exc, fix) from None


def call_json(
    method: str,
    url: str,
    payload: Any = None,
    *,
    timeout: float = 10.0,
    fix: str = NO_ANSWER_FIX,
) -> Any:
    """``payload`` as JSON to the control path ``url``; the decoded JSON answer (``None`` for
    an empty one)."""
    data = None if payload is None else json.dumps(payload).encode()
    answer = call(method, url, data, headers=JSON_HEADERS, control=True, timeout=timeout, fix=fix)
    return answer.json()
