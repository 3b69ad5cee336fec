"""One JSON call to an environment's control APIs (or a stack's fake server), with one error
mapping: what the harness's own clients (the fault clients, the scenario's sampler) use instead
of each wrapping ``urllib`` its own way.

A control path gets the environment's secret header (:func:`harness.env.secret.headers_for`);
an HTTP error becomes :class:`~harness.errors.HarnessError` ``"{METHOD} {url} was refused
({status}): {message}"`` (the answer's ``message`` when it is JSON), no answer becomes
``"{url} does not answer ({reason})."`` with the caller's ``fix``.
"""

from __future__ import annotations

import contextlib
import json
import urllib.error
import urllib.request
from typing import Any

from harness.errors import HarnessError

__all__ = ["call_json"]

NO_ANSWER_FIX = "check the environment with `harness status`."


def call_json(
    method: str,
    url: str,
    payload: Any = None,
    *,
    timeout: float = 10.0,
    fix: str = NO_ANSWER_FIX,
) -> Any:
    """``payload`` as JSON to ``url``; the decoded JSON answer (``None`` for an empty one)."""
    from harness.env.secret import headers_for

    data = None if payload is None else json.dumps(payload).encode()
    request = urllib.request.Request(
        url,
        data=data,
        method=method,
        headers={"Content-Type": "application/json", **headers_for(url)},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode("utf-8", errors="replace")
        with contextlib.suppress(ValueError, AttributeError):
            detail = json.loads(detail).get("message", detail)
        raise HarnessError(f"{method} {url} was refused ({exc.code}): {detail}") from None
    except OSError as exc:
        raise HarnessError(f"{url} does not answer ({exc}).", fix=fix) from None
