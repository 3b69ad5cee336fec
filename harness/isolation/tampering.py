"""Token tampering through the gateway: every forged or altered token must be refused.

From one valid token (the control, which must be accepted, or the suite proves nothing) the
suite builds the tokens an attacker would try (:func:`harness.auth.forge.forge_tokens`) and
sends each to one protected endpoint (the cases are listed in :mod:`harness.auth.forge`).

Each must get one of ``accepted`` (401/403). The first four need the key that signs the stack's
real tokens: when those come from the local issuer it is used, so only the altered claim can
make the gateway refuse them; when they come from the emulator's Cognito pool (whose private key
the harness does not hold) the local issuer's key signs them instead and the case is marked
``signed_by: "untrusted-key"`` in the results, proving less. The public key for
``hs256-public-key`` is the one the gateway verifies with (the issuer's JWKS).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from harness.auth.claims import jwt_parts
from harness.auth.forge import RESIGNED, forge_tokens, public_pem_for
from harness.isolation.http import Call, RecordingClient

__all__ = ["TamperCase", "run_tampering", "tamper_stack"]


@dataclass
class TamperCase:
    name: str
    status: int
    passed: bool
    detail: str = ""
    signed_by: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


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
    :class:`harness.auth.LocalIssuer` (its key re-signs when it signed ``valid``)."""
    valid = tokens(tenant, user)
    header, _, _ = jwt_parts(valid)
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
