"""Tokens: the harness's own issuer, the emulator's Cognito, the token a stack's clients use,
token providers for load, JWKS, and forged tokens for the isolation's tampering suite.

===================  ================================================================
``issuer``           :class:`LocalIssuer`: an RSA key per state folder, its JWKS, minting
``cognito``          sign-in and client-credentials tokens from the emulator's pools
``stack``            :func:`token_for_stack`: what ``harness token`` prints
``providers``        :class:`TokenProvider` s for load (static, OAuth2, command, stack)
                     and the :class:`TokenCache` that refreshes them
``jwks``             where an issuer's keys are; the gateway's :class:`KeyStore`
``claims``           a JWT's parts read without verifying it (expiry, issuer, kid)
``forge``            the tampered variants of a valid token (isolation)
``http``             the form POST of a token endpoint (``call_json``'s sibling)
===================  ================================================================

Imported by the gateway (``jwks``), load and remote targets (``providers``), the isolation
(``stack``, ``forge``) and the CLI (``stack``); it imports none of them.
"""

from __future__ import annotations

from harness.auth.claims import jwt_claims, jwt_expiry
from harness.auth.cognito import (
    cognito_client_credentials,
    cognito_signature_problem,
    cognito_user_tokens,
)
from harness.auth.issuer import (
    DEFAULT_TENANT_CLAIM,
    DEFAULT_TIER_CLAIM,
    ISSUER_PATH,
    LocalIssuer,
    is_local_issuer,
    jwk_thumbprint,
    local_issuer_url,
)
from harness.auth.jwks import KeyStore, jwks_url_for
from harness.auth.providers import (
    CommandTokens,
    OAuth2ClientCredentials,
    StackTokens,
    StaticTokens,
    Token,
    TokenCache,
    TokenProvider,
)
from harness.auth.stack import StackToken, token_for_stack
from harness.errors import TokenError

__all__ = [
    "DEFAULT_TENANT_CLAIM",
    "DEFAULT_TIER_CLAIM",
    "ISSUER_PATH",
    "CommandTokens",
    "KeyStore",
    "LocalIssuer",
    "OAuth2ClientCredentials",
    "StackToken",
    "StackTokens",
    "StaticTokens",
    "Token",
    "TokenCache",
    "TokenError",
    "TokenProvider",
    "cognito_client_credentials",
    "cognito_signature_problem",
    "cognito_user_tokens",
    "is_local_issuer",
    "jwk_thumbprint",
    "jwks_url_for",
    "jwt_claims",
    "jwt_expiry",
    "local_issuer_url",
    "token_for_stack",
]
