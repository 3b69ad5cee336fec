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
import urllib.parse
from collections.abc import Mapping
from typing import Any

from harness.errors import TokenError
from harness.httpclient import HttpStatusError, NoAnswerError, call

__all__ = ["post_form"]


def post_form(
    url: str, form: Mapping[str, str], *, headers: Mapping[str, str], timeout: float = 10.0
) -> dict[str, Any]:
    """``form`` POSTed to ``url`` (through :func:`harness.httpclient.call`); the decoded JSON
    object it answers."""
    try:
        answer = call(
            "POST",
            url,
            urllib.parse.urlencode(dict(form)).encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded", **headers},
            timeout=timeout,
        )
    except HttpStatusError as exc:
        detail = exc.text[:300]
        with contextlib.suppress(ValueError, AttributeError, KeyError):
            said = json.loads(detail)
            detail = str(said.get("error_description") or said.get("error") or said["message"])
        raise TokenError(f"POST {url} was refused ({exc.status}): {detail}") from None
    except NoAnswerError as exc:
        raise TokenError(f"{url} does not answer ({exc.reason}).") from None
    try:
        decoded = json.loads(answer.body)
    except ValueError:
        raise TokenError(
            f"{url} answered something that is not JSON: {answer.body[:200]!r}"
        ) from None
    if not isinstance(decoded, dict):
        raise TokenError(f"{url} answered {type(decoded).__name__}, not a JSON object")
    return decoded
