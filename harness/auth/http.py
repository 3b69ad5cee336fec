"""The token endpoints' HTTP: one form POST (the OAuth 2.0 token request), mapped like
:func:`harness.env.jsonhttp.call_json` maps a JSON call.

``call_json`` sends JSON; a token endpoint takes ``application/x-www-form-urlencoded`` with
its own ``Authorization`` header, so this is its small sibling: an HTTP error becomes
:class:`~harness.errors.TokenError` ``"POST {url} was refused ({status}): {message}"`` (the
answer's ``error_description``/``error``/``message`` when it is JSON), no answer becomes
``"{url} does not answer ({reason})."``, an answer that is not JSON says so.
"""

from __future__ import annotations

import contextlib
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from typing import Any

from harness.errors import TokenError

__all__ = ["post_form"]


def post_form(
    url: str, form: Mapping[str, str], *, headers: Mapping[str, str], timeout: float = 10.0
) -> dict[str, Any]:
    """``form`` POSTed to ``url``; the decoded JSON object it answers."""
    request = urllib.request.Request(
        url,
        data=urllib.parse.urlencode(dict(form)).encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded", **headers},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = response.read()
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode("utf-8", errors="replace")[:300]
        with contextlib.suppress(ValueError, AttributeError):
            answer = json.loads(detail)
            detail = str(
                answer.get("error_description") or answer.get("error") or answer["message"]
            )
        raise TokenError(f"POST {url} was refused ({exc.code}): {detail}") from None
    except OSError as exc:
        raise TokenError(f"{url} does not answer ({exc}).") from None
    try:
        answer = json.loads(body)
    except ValueError:
        raise TokenError(f"{url} answered something that is not JSON: {body[:200]!r}") from None
    if not isinstance(answer, dict):
        raise TokenError(f"{url} answered {type(answer).__name__}, not a JSON object")
    return answer
