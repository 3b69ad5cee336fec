"""Token tampering through the gateway: every forged or altered token must be refused.

From one valid token (the control, which must be accepted, or the suite proves nothing) the
suite builds the tokens an attacker would try and sends each to one protected endpoint:

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

Each must get one of ``accepted`` (401/403). The first four need the key that signs the stack's
real tokens: when those come from the local issuer it is used, so only the altered claim can
make the gateway refuse them; when they come from the emulator's Cognito pool (whose private key
the harness does not hold) the local issuer's key signs them instead and the case is marked
``signed_by: "untrusted-key"`` in the results, proving less. The public key for
``hs256-public-key`` is the one the gateway verifies with (the issuer's JWKS).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from harness.isolation.http import Call, RecordingClient

__all__ = ["TamperCase", "forge_tokens", "run_tampering"]

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


@dataclass
class TamperCase:
    name: str
    status: int
    passed: bool
    detail: str = ""
    signed_by: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _parts(token: str) -> tuple[dict[str, Any], dict[str, Any], str]:
    header, payload, signature = token.split(".")
    return json.loads(_unb64(header)), json.loads(_unb64(payload)), signature


def _encode(header: dict[str, Any], payload: dict[str, Any]) -> str:
    return (
        _b64(json.dumps(header, separators=(",", ":")).encode())
        + "."
        + _b64(json.dumps(payload, separators=(",", ":")).encode())
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

    header, claims, signature = _parts(valid)
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
        body = _b64(json.dumps(payload, separators=(",", ":")).encode())
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
    hs_input = _encode({"alg": "HS256", "typ": "JWT", **({"kid": kid} if kid else {})}, claims)
    hs_signature = _b64(hmac.new(public_pem, hs_input.encode(), hashlib.sha256).digest())
    foreign = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return {
        "expired": signed({"iat": now - 7200, "exp": now - 3600}),
        "not-yet-valid": signed({"iat": now, "nbf": now + 3600, "exp": now + 7200}),
        "wrong-issuer": signed({"iss": "https://issuer.attacker.example/"}),
        "wrong-audience": signed(audience_changes),
        "alg-none": _encode({"alg": "none", "typ": "JWT"}, claims) + ".",
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


def run_tampering(
    client: RecordingClient,
    *,
    method: str,
    path: str,
    valid: str,
    tenant: str,
    user: str,
    forged: dict[str, str],
    accepted: list[int],
    untrusted_key: bool = False,
) -> tuple[list[TamperCase], list[str]]:
    """Send the control and every forged token; the cases and the violations (one line each)."""
    violations: list[str] = []
    control = client.send(
        Call("tamper control", method, path, tenant, user, expected="accepted"), valid
    )
    cases = [TamperCase("control (valid token)", control.status, control.status not in accepted)]
    if control.status in accepted or control.status >= 500:
        violations.append(
            f"token tampering: the valid control token got HTTP {control.status} on {method} "
            f"{path}, so the suite cannot tell a refusal from an outage"
        )
    for name, token in forged.items():
        call = client.send(
            Call(f"tamper {name}", method, path, tenant, user, expected=f"one of {accepted}"),
            token,
        )
        ok = call.status in accepted
        signer = (
            "untrusted-key"
            if untrusted_key and name in RESIGNED
            else "issuer-key"
            if name in RESIGNED
            else ""
        )
        cases.append(
            TamperCase(name, call.status, ok, "" if ok else str(call.response)[:200], signer)
        )
        if not ok:
            violations.append(
                f"token tampering: a token '{name}' was not refused: {method} {path} answered "
                f"HTTP {call.status} (expected one of {accepted})"
            )
    return cases, violations


def public_pem_for(token: str, aws_endpoint: str | None) -> bytes | None:
    """The PEM of the key the gateway verifies ``token`` with, from its issuer's JWKS."""
    import urllib.request

    import jwt
    from cryptography.hazmat.primitives import serialization

    from harness.gateway.jwks import jwks_url_for

    header, claims, _ = _parts(token)
    issuer = claims.get("iss")
    if not isinstance(issuer, str):
        return None
    try:
        with urllib.request.urlopen(jwks_url_for(issuer, None, aws_endpoint), timeout=10) as resp:
            keys = json.loads(resp.read()).get("keys", [])
    except (OSError, ValueError):
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


def tamper_stack(
    base_url: str,
    *,
    method: str,
    path: str,
    tokens: Callable[[str, str], str],
    issuer: Any,
    tenant_claim: str,
    tenant: str,
    user: str,
    other_tenant: str,
    accepted: list[int],
    aws_endpoint: str | None = None,
) -> tuple[list[TamperCase], list[str]]:
    """Forge from a fresh valid token for ``tenant``/``user`` and run the suite. ``issuer`` is the
    :class:`harness.tokens.LocalIssuer` (its key re-signs when it signed ``valid``)."""
    valid = tokens(tenant, user)
    header, _, _ = _parts(valid)
    own = header.get("kid") == issuer.kid
    public_pem = None if own else public_pem_for(valid, aws_endpoint)
    forged = forge_tokens(
        valid,
        issuer.private_key,
        tenant_claim=tenant_claim,
        other_tenant=other_tenant,
        public_pem=public_pem,
    )
    client = RecordingClient(base_url)
    try:
        return run_tampering(
            client,
            method=method,
            path=path,
            valid=valid,
            tenant=tenant,
            user=user,
            forged=forged,
            accepted=accepted,
            untrusted_key=not own,
        )
    finally:
        client.close()
