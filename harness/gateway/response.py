"""Map a Lambda proxy result onto the HTTP response, as API Gateway does (integration response).

Payload 2.0: a result with ``statusCode`` is structured (``headers``, ``multiValueHeaders``,
``cookies``, ``body``, ``isBase64Encoded``); any other valid JSON result is sent as a 200
``application/json`` body. Payload 1.0: ``statusCode`` is required, ``body`` must be a string.
Whatever cannot be mapped (invalid JSON, a non-string body, a header with CR/LF...) raises the
gateway's 502, never an exception out of the server.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

from harness.gateway import errors
from harness.gateway.jsonutil import loads

__all__ = ["MalformedResponse", "map_lambda_result"]

_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
_BAD_VALUE = re.compile(r"[\r\n\x00]")
_HOP_BY_HOP = frozenset(
    {"connection", "content-length", "transfer-encoding", "keep-alive", "upgrade", "te", "trailer"}
)


class MalformedResponse(Exception):
    """The function's result cannot be turned into an HTTP response."""


def _header_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        text = str(value)
    else:
        raise MalformedResponse(f"header value must be a scalar, not {type(value).__name__}")
    if _BAD_VALUE.search(text):
        raise MalformedResponse("header value contains CR/LF/NUL")
    return text


def _add(out: list[tuple[bytes, bytes]], name: Any, value: Any) -> None:
    if not isinstance(name, str) or not _TOKEN.match(name):
        raise MalformedResponse(f"invalid header name {name!r}")
    if name.lower() in _HOP_BY_HOP:
        return
    out.append((name.lower().encode("latin-1"), _header_value(value).encode("latin-1", "replace")))


def map_lambda_result(
    raw: bytes, payload_format: str
) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """(status, headers, body) for a function's result bytes; raises :class:`MalformedResponse`."""
    try:
        result = loads(raw) if raw else None
    except ValueError as exc:
        raise MalformedResponse(f"result is not JSON ({exc})") from None
    v2 = payload_format == "2.0"
    if not isinstance(result, dict) or "statusCode" not in result:
        if v2 and raw:
            return 200, [(b"content-type", b"application/json")], raw
        raise MalformedResponse("result has no statusCode")
    status = result.get("statusCode")
    if isinstance(status, str) and status.isdigit():
        status = int(status)
    if not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 599:
        raise MalformedResponse(f"invalid statusCode {status!r}")
    headers: list[tuple[bytes, bytes]] = []
    single = result.get("headers") or {}
    multi = result.get("multiValueHeaders") or {}
    if not isinstance(single, dict) or not isinstance(multi, dict):
        raise MalformedResponse("headers/multiValueHeaders must be objects")
    for name, value in single.items():
        if name in multi:
            continue  # multiValueHeaders win for the same name
        _add(headers, name, value)
    for name, values in multi.items():
        if not isinstance(values, list):
            raise MalformedResponse("multiValueHeaders values must be lists")
        for value in values:
            _add(headers, name, value)
    if v2:
        cookies = result.get("cookies") or []
        if not isinstance(cookies, list):
            raise MalformedResponse("cookies must be a list")
        for cookie in cookies:
            _add(headers, "set-cookie", cookie)
    body = result.get("body")
    if body is None:
        data = b""
    elif isinstance(body, str):
        if result.get("isBase64Encoded"):
            try:
                data = base64.b64decode(body, validate=False)
            except (binascii.Error, ValueError) as exc:
                raise MalformedResponse(f"isBase64Encoded body is not base64 ({exc})") from None
        else:
            data = body.encode("utf-8")
    else:
        raise MalformedResponse(f"body must be a string, not {type(body).__name__}")
    if not any(name == b"content-type" for name, _ in headers):
        headers.append((b"content-type", b"application/json"))
    return status, headers, data


def malformed(rest: bool) -> errors.GatewayError:
    return errors.bad_gateway(rest)
