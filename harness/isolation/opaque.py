"""Opaque tokens an API hands a tenant and later accepts back (pagination cursors such as
``next``, ``nextToken``, ``LastEvaluatedKey``, ``cursor``, ``continuationToken``), tampered the
way a pentester would.

:func:`tamper` decodes a token when it is JSON, base64 or base64url (padded or not) of JSON or
text, or JWT-shaped (the payload edited, header and signature kept), replaces every value that
carries one principal's tenant or user by another's (a whole value, or a whole ``#``/``/``/``:``
delimited part of one, so ``TENANT#t1`` becomes ``TENANT#t2`` but ``TENANT#t10`` is left alone),
and re-encodes it in the token's own alphabet, padded and unpadded. A second variant also rewinds
every number (an offset, a page) to 0, so the tampered cursor starts at the other tenant's first
item instead of somewhere after it: what it yields then does not depend on how much data the
partition holds.

A token given as a JSON object (DynamoDB's ``LastEvaluatedKey`` shape) is tampered as the object
and sent back as JSON text.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from typing import Any

__all__ = [
    "CURSOR_FIELDS",
    "Tampered",
    "decode",
    "find_cursor",
    "rewound",
    "swap_values",
    "tamper",
]

# Where a listing's answer usually carries the token for the next page (first match wins).
CURSOR_FIELDS = (
    "next",
    "nextToken",
    "next_token",
    "NextToken",
    "cursor",
    "nextCursor",
    "next_cursor",
    "continuationToken",
    "ContinuationToken",
    "LastEvaluatedKey",
    "lastEvaluatedKey",
    "pageToken",
    "nextPageToken",
)


@dataclass(frozen=True)
class Tampered:
    """One tampered token: how it was made (``how``) and the text to send back."""

    how: str
    token: str


@dataclass(frozen=True)
class Decoded:
    """A token taken apart: ``value`` is the JSON value or text inside; ``layers`` says how to
    put it back (``jwt``, ``b64``/``b64url`` with ``padded``, ``json``)."""

    value: Any
    encoding: str  # json | text | b64 | b64url | jwt | object
    padded: bool = True
    jwt_parts: tuple[str, str] = ("", "")


def find_cursor(response: Any) -> tuple[str, Any] | None:
    """The first known cursor field of a listing's answer (top level, or under ``data``/
    ``meta``/``pagination``) that holds a value: (JSON path, value)."""
    if not isinstance(response, dict):
        return None
    for prefix, document in (
        ("$", response),
        *(
            (f"$.{k}", response[k])
            for k in ("data", "meta", "pagination", "paging", "page")
            if isinstance(response.get(k), dict)
        ),
    ):
        for name in CURSOR_FIELDS:
            value = document.get(name)
            if value not in (None, "", {}, []):
                return f"{prefix}.{name}", value
    return None


def _b64_decode(text: str) -> tuple[bytes, str, bool] | None:
    if len(text) < 4 or not re.fullmatch(r"[A-Za-z0-9+/_=-]+", text):
        return None
    url = "-" in text or "_" in text
    padded = text.endswith("=") or len(text) % 4 == 0
    try:
        raw = (base64.urlsafe_b64decode if url else base64.b64decode)(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return None
    return raw, "b64url" if url else "b64", padded


def decode(token: Any) -> Decoded | None:
    """Take ``token`` apart, or None when it is not in a shape this module knows."""
    if isinstance(token, dict | list):
        return Decoded(token, "object")
    if not isinstance(token, str) or not token:
        return None
    parts = token.split(".")
    if len(parts) == 3 and all(parts[:2]):
        header = _b64_decode(parts[0])
        payload = _b64_decode(parts[1])
        if header and payload:
            try:
                if isinstance(json.loads(header[0]), dict):
                    return Decoded(json.loads(payload[0]), "jwt", jwt_parts=(parts[0], parts[2]))
            except ValueError:
                pass
    try:
        value = json.loads(token)
        if isinstance(value, dict | list):
            return Decoded(value, "json")
    except ValueError:
        pass
    found = _b64_decode(token)
    if found is not None:
        raw, alphabet, padded = found
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            return None
        if text.isprintable():
            try:
                return Decoded(json.loads(text), alphabet, padded)
            except ValueError:
                return Decoded(text, alphabet, padded)
    return Decoded(token, "text")


def _encode(decoded: Decoded, value: Any, padded: bool) -> str:
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
    if decoded.encoding in ("json", "text", "object"):
        return text
    if decoded.encoding == "jwt":
        body = base64.urlsafe_b64encode(text.encode()).rstrip(b"=").decode()
        return f"{decoded.jwt_parts[0]}.{body}.{decoded.jwt_parts[1]}"
    encoder = base64.urlsafe_b64encode if decoded.encoding == "b64url" else base64.b64encode
    out = encoder(text.encode()).decode()
    return out if padded else out.rstrip("=")


def _swap_text(text: str, swaps: list[tuple[str, str]]) -> str:
    for old, new in swaps:
        if not old:
            continue
        if text == old:
            return new
        # a whole delimited part of a key: TENANT#t1#NOTE, orgs/t1/x, t1:cache
        text = re.sub(
            rf"(?:^|(?<=[#/:|])){re.escape(old)}(?=$|[#/:|])",
            new.replace("\\", "\\\\"),
            text,
        )
    return text


def swap_values(value: Any, swaps: list[tuple[str, str]], *, rewind: bool = False) -> Any:
    """``value`` with every tenant/user value replaced per ``swaps`` (and, with ``rewind``,
    every number set to 0); JSON inside strings (a nested cursor) is edited too."""
    if isinstance(value, dict):
        return {k: swap_values(v, swaps, rewind=rewind) for k, v in value.items()}
    if isinstance(value, list):
        return [swap_values(v, swaps, rewind=rewind) for v in value]
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return 0 if rewind else value
    if isinstance(value, str):
        return _swap_text(value, swaps)
    return value


def tamper(token: Any, swaps: list[tuple[str, str]]) -> list[Tampered]:
    """Every tampered variant of ``token`` (each different from it), or [] when nothing in it
    carries one of the swapped values."""
    decoded = decode(token)
    if decoded is None:
        return []
    original = _encode(decoded, decoded.value, decoded.padded)
    out: dict[str, Tampered] = {}
    for rewind in (False, True):
        edited = swap_values(decoded.value, swaps, rewind=rewind)
        if edited == decoded.value or (rewind and edited == swap_values(decoded.value, swaps)):
            continue
        if swap_values(decoded.value, swaps) == decoded.value:
            continue  # rewinding alone is not a tenant swap
        for padded in (True, False):
            text = _encode(decoded, edited, padded)
            if text == original and not rewind:
                continue
            pad = " padded" if padded else " unpadded"
            layer = decoded.encoding + (pad if decoded.encoding in ("b64", "b64url") else "")
            how = layer + (", rewound" if rewind else "")
            out.setdefault(text, Tampered(how, text))
    return list(out.values())


def rewound(token: Any) -> str | None:
    """``token`` (another principal's, replayed as is) with every number set to 0, in its own
    encoding; None when it has no number to rewind."""
    decoded = decode(token)
    if decoded is None:
        return None
    edited = swap_values(decoded.value, [], rewind=True)
    if edited == decoded.value:
        return None
    return _encode(decoded, edited, decoded.padded)
