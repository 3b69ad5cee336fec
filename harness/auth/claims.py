"""A JWT's parts read without verifying it: to learn its expiry, its issuer and key id, or to
forge a variant of it (the isolation's tampering suite).

Nothing here trusts a token: verification is the gateway's (:mod:`harness.gateway.jwt_auth`).
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

__all__ = ["b64url", "b64url_decode", "encode_unsigned", "jwt_claims", "jwt_expiry", "jwt_parts"]


def b64url(data: bytes) -> str:
    """Base64url without padding (RFC 7515)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def jwt_parts(token: str) -> tuple[dict[str, Any], dict[str, Any], str]:
    """Header, claims and signature of a JWT (not verified); raises ``ValueError`` on a token
    that is not three base64url JSON parts."""
    header, payload, signature = token.split(".")
    return json.loads(b64url_decode(header)), json.loads(b64url_decode(payload)), signature


def encode_unsigned(header: dict[str, Any], payload: dict[str, Any]) -> str:
    """``header.payload`` of a JWT (compact JSON), to be signed or left unsigned."""
    return (
        b64url(json.dumps(header, separators=(",", ":")).encode())
        + "."
        + b64url(json.dumps(payload, separators=(",", ":")).encode())
    )


def jwt_claims(token: str) -> dict[str, Any] | None:
    """The payload of a JWT, *not verified* (only to learn its expiry); None if not a JWT."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        claims = json.loads(b64url_decode(parts[1]))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None
    return claims if isinstance(claims, dict) else None


def jwt_expiry(token: str) -> float | None:
    """The ``exp`` claim of a JWT (epoch seconds), or None."""
    claims = jwt_claims(token)
    if not claims:
        return None
    exp = claims.get("exp")
    return float(exp) if isinstance(exp, int | float) and not isinstance(exp, bool) else None
