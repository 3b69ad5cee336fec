"""The OAuth 2.0 device authorization grant (RFC 8628) as pure decisions; ``api.py`` stores them.

A device (the VS Code extension) asks ``POST /auth/device/code`` for a ``device_code`` (secret,
kept by the device) and a short ``user_code`` the user types into the web console
(``verification_uri``). The device then polls ``POST /auth/device/token`` no faster than
``interval`` seconds: ``authorization_pending`` until the user approves, ``slow_down`` (and
``interval`` + 5 s, section 3.5) when it polls too fast, ``access_denied`` when the user refuses,
``expired_token`` after ``expires_in``; once approved, one poll gets the tokens and the code is
spent (``invalid_grant`` afterwards).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Any, Literal

GRANT_TYPE = "urn:ietf:params:oauth:grant-type:device_code"
# Section 6.1: no vowels (no words), no easily confused characters; 20^8 ~ 2^34.5 codes
USER_CODE_ALPHABET = "BCDFGHJKLMNPQRSTVWXZ"
USER_CODE_LENGTH = 8
SLOW_DOWN_STEP = 5

Outcome = Literal[
    "issue", "authorization_pending", "slow_down", "access_denied", "expired_token", "invalid_grant"
]


def new_device_code() -> str:
    return secrets.token_urlsafe(32)


def new_user_code() -> str:
    raw = "".join(secrets.choice(USER_CODE_ALPHABET) for _ in range(USER_CODE_LENGTH))
    return f"{raw[:4]}-{raw[4:]}"


def normalize_user_code(text: object) -> str | None:
    """``bcdf ghjk`` / ``BCDF-GHJK`` -> ``BCDF-GHJK``; None when it cannot be a user code."""
    if not isinstance(text, str) or len(text) > 32:
        return None
    raw = "".join(c for c in text.upper() if c not in "- ")
    if len(raw) != USER_CODE_LENGTH or any(c not in USER_CODE_ALPHABET for c in raw):
        return None
    return f"{raw[:4]}-{raw[4:]}"


def code_hash(device_code: str) -> str:
    """Device codes are stored hashed: a leaked table does not hand out pending grants."""
    return hashlib.sha256(device_code.encode()).hexdigest()


@dataclass(frozen=True)
class Poll:
    outcome: Outcome
    updates: dict[str, Any]  # attributes to store on the grant (last poll, new interval)


def poll(grant: dict[str, Any] | None, now: float) -> Poll:
    """What a token request at ``now`` gets for ``grant`` (None: no such device code)."""
    if grant is None:
        return Poll("invalid_grant", {})
    if now >= float(grant["expires_at"]):
        return Poll("expired_token", {})
    status = grant.get("status")
    if status == "consumed":
        return Poll("invalid_grant", {})
    if status == "denied":
        return Poll("access_denied", {})
    interval = int(grant.get("interval", 5))
    last = grant.get("last_poll")
    updates: dict[str, Any] = {"last_poll": now}
    if last is not None and now - float(last) < interval:
        return Poll("slow_down", {**updates, "interval": interval + SLOW_DOWN_STEP})
    if status == "approved":
        return Poll("issue", updates)
    return Poll("authorization_pending", updates)


def can_decide(grant: dict[str, Any] | None, now: float) -> str | None:
    """Why the user cannot approve/deny ``grant`` now (None: they can)."""
    if grant is None:
        return "unknown user code"
    if now >= float(grant["expires_at"]):
        return "the code has expired"
    if grant.get("status") != "pending":
        return "the code was already used"
    return None
