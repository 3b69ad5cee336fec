"""The old home of the token code, kept for the README's and the stacks' ``from harness.tokens
import ...``: everything lives in :mod:`harness.auth` now."""

from __future__ import annotations

from harness.auth.cognito import cognito_client_credentials, cognito_user_tokens
from harness.auth.issuer import ISSUER_PATH, LocalIssuer, jwk_thumbprint, local_issuer_url
from harness.auth.stack import StackToken, token_for_stack

__all__ = [
    "ISSUER_PATH",
    "LocalIssuer",
    "StackToken",
    "cognito_client_credentials",
    "cognito_user_tokens",
    "jwk_thumbprint",
    "local_issuer_url",
    "token_for_stack",
]
