"""Forged and altered tokens: what an attacker would send instead of a valid JWT.

From one valid token :func:`forge_tokens` builds one variant per case of :data:`CASES`
(the isolation's tampering suite, :mod:`harness.isolation.tampering`, sends each to the
gateway, which must refuse it):

==========================  ========================================================
expired                     ``exp`` an hour ago (signed with the real key)
not-yet-valid               ``nbf`` an hour from now
wrong-issuer                ``iss`` of another issuer (real key)
wrong-audience              ``aud``/``client_id`` of another app client
alg-none                    ``{"alg": "none"}`` and no signature
hs256-public-key            HS256, the HMAC key being the issuer's *public* key (PEM)
claims-changed              a claim (``sub``) edited after signing, signature kept
tenant-swapped              the tenant claim replaced by another tenant after signing
foreign-key-same-kid        signed by another key pair that claims the issuer's ``kid``
other-issuer-pool           a whole other issuer/pool: its own key, ``kid`` and ``iss``
==========================  ========================================================

The :data:`RESIGNED` cases need the key that signs the real tokens; :func:`public_pem_for`
finds the key the gateway verifies a token with (its issuer's JWKS), the HMAC key of
``hs256-public-key``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from typing import Any

from harness.auth.claims import b64url, encode_unsigned, jwt_parts
from harness.auth.jwks import fetch_jwks, jwks_url_for
from harness.errors import HarnessError

__all__ = ["CASES", "RESIGNED", "forge_tokens", "public_pem_for"]

RESIGNED = ("expired", "not-yet-valid", "wrong-issuer", "wrong-audience")
CASES = (
    "expired",
    "not-yet-valid",
    "wrong-issuer",
    "wrong-audience",
    "alg-none",
    "hs256-public-key",
    "claims-changed",
    "tenant-swapped",
    "foreign-key-same-kid",
    "other-issuer-pool",
)


def forge_tokens(
    valid: str,
    private_key: Any,
    *,
    tenant_claim: str,
    other_tenant: str,
    public_pem: bytes | None = None,
    now: float | None = None,
) -> dict[str, str]:
    """The tampered variants of ``valid``; ``private_key`` signs the re-signed ones (the key of
    ``valid`` itself when available), ``public_pem`` is the verifying key (default: the public
    half of ``private_key``)."""
    import jwt
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    header, claims, signature = jwt_parts(valid)
    now = int(time.time() if now is None else now)
    kid = header.get("kid")

    def signed(changes: dict[str, Any], key: Any = private_key, kid_: Any = kid) -> str:
        body = {**claims, "jti": uuid.uuid4().hex, **changes}
        headers = {"kid": kid_} if kid_ else None
        return jwt.encode(body, key, algorithm="RS256", headers=headers)

    def resigned_payload(changes: dict[str, Any]) -> str:
        """The payload edited, the original signature kept."""
        header_b64 = valid.split(".")[0]
        payload = {**claims, **changes}
        body = b64url(json.dumps(payload, separators=(",", ":")).encode())
        return f"{header_b64}.{body}.{signature}"

    audience_changes: dict[str, Any] = {}
    if "aud" in claims or "client_id" not in claims:
        audience_changes["aud"] = "not-this-client"
    if "client_id" in claims:
        audience_changes["client_id"] = "not-this-client"
    if public_pem is None:
        public_pem = private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    hs_input = encode_unsigned(
        {"alg": "HS256", "typ": "JWT", **({"kid": kid} if kid else {})}, claims
    )
    hs_signature = b64url(hmac.new(public_pem, hs_input.encode(), hashlib.sha256).digest())
    foreign = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return {
        "expired": signed({"iat": now - 7200, "exp": now - 3600}),
        "not-yet-valid": signed({"iat": now, "nbf": now + 3600, "exp": now + 7200}),
        "wrong-issuer": signed({"iss": "https://issuer.attacker.example/"}),
        "wrong-audience": signed(audience_changes),
        "alg-none": encode_unsigned({"alg": "none", "typ": "JWT"}, claims) + ".",
        "hs256-public-key": f"{hs_input}.{hs_signature}",
        "claims-changed": resigned_payload({"sub": f"{claims.get('sub', 'user')}-admin"}),
        "tenant-swapped": resigned_payload({tenant_claim: other_tenant}),
        "foreign-key-same-kid": signed({}, key=foreign),
        "other-issuer-pool": signed(
            {"iss": "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_OtherPool"},
            key=foreign,
            kid_="other-pool-key",
        ),
    }


def public_pem_for(token: str, aws_endpoint: str | None) -> bytes | None:
    """The PEM of the key the gateway verifies ``token`` with, from its issuer's JWKS."""
    import jwt
    from cryptography.hazmat.primitives import serialization

    header, claims, _ = jwt_parts(token)
    issuer = claims.get("iss")
    if not isinstance(issuer, str):
        return None
    try:
        keys = fetch_jwks(jwks_url_for(issuer, None, aws_endpoint))
    except HarnessError:
        return None
    for jwk in keys:
        if jwk.get("kid") == header.get("kid"):
            key: Any = jwt.algorithms.RSAAlgorithm.from_jwk(jwk)
            return bytes(
                key.public_bytes(
                    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
                )
            )
    return None
