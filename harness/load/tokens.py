"""The old home of the load's token providers, kept for ``from harness.load.tokens import ...``
in the benchmarks and user code: they live in :mod:`harness.auth.providers` now."""

from __future__ import annotations

from harness.auth.claims import jwt_claims, jwt_expiry
from harness.auth.providers import (
    CommandTokens,
    OAuth2ClientCredentials,
    StackTokens,
    StaticTokens,
    Token,
    TokenCache,
    TokenProvider,
)
from harness.errors import TokenError

__all__ = [
    "CommandTokens",
    "OAuth2ClientCredentials",
    "StackTokens",
    "StaticTokens",
    "Token",
    "TokenCache",
    "TokenError",
    "TokenProvider",
    "jwt_claims",
    "jwt_expiry",
]
