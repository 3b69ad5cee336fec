"""The token a deployed stack's clients would use: what ``harness token`` prints, what load
tests and the isolation machine send.

:func:`token_for_stack` reads the stack's ``harness.yaml`` (``auth``, ``tenancy``) and its
authorizers and picks the stack's Cognito pool on the emulator (:mod:`harness.auth.cognito`)
or the harness's local issuer (:mod:`harness.auth.issuer`).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.auth.cognito import (
    cognito_client_credentials,
    cognito_password,
    cognito_signature_problem,
    cognito_user_tokens,
)
from harness.auth.issuer import (
    DEFAULT_TENANT_CLAIM,
    DEFAULT_TIER_CLAIM,
    LocalIssuer,
    is_local_issuer,
)
from harness.errors import ConfigError, TokenError
from harness.profile import Tenancy

__all__ = ["StackToken", "token_for_stack"]

logger = logging.getLogger(__name__)


@dataclass
class StackToken:
    token: str
    source: str  # "local-issuer" | "cognito" | "local-issuer-fallback"
    token_use: str  # access | id
    note: str = ""


def _stack(state_dir: Path, name: str) -> Any:
    from harness.model import load_stacks

    stacks = load_stacks(state_dir)
    if name not in stacks:
        known = ", ".join(sorted(stacks)) or "none"
        raise ConfigError(
            f"stack {name!r} is not deployed (deployed: {known})", fix="run `harness deploy` first."
        )
    return stacks[name]


def _user_attributes(
    user: str, tenant: str, tenant_claim: str, tier: str | None, tier_claim: str
) -> dict[str, str]:
    """The attributes a signed-in test user gets: its email, and the tenant and tier when
    their claims are ``custom:`` attributes (which Cognito copies into the ID token)."""
    attributes = {"email": f"{user}@example.com"}
    if tenant_claim.startswith("custom:"):
        attributes[tenant_claim] = tenant
    if tier and tier_claim.startswith("custom:"):
        attributes[tier_claim] = tier
    return attributes


def _endpoints(state_dir: Path) -> dict[str, Any]:
    try:
        return dict(json.loads((state_dir / "state.json").read_text())["endpoints"])
    except (OSError, ValueError, KeyError):
        return {}


def _pool_and_client(
    stack: Any, auth: Any, profile_auth: dict[str, Any] | None = None
) -> tuple[str | None, str | None, str | None]:
    """Pool id, app client id and secret: from the profile's ``auth.user_pool``/``auth.client``
    (logical ids), else from the authorizer (issuer, audience) and the stack's resources."""
    profile_auth = profile_auth or {}
    pool_id = None
    client_id = None
    for field, kind in (("user_pool", "pool"), ("client", "client")):
        logical = profile_auth.get(field)
        record = stack.resources.get(logical) if logical else None
        if record is not None:
            if kind == "pool":
                pool_id = record.physical_id
            else:
                client_id = record.physical_id
    if pool_id is None and auth.user_pool_arns:
        pool_id = auth.user_pool_arns[0].rsplit("/", 1)[-1]
    elif pool_id is None and auth.issuer and "cognito-idp" in auth.issuer:
        pool_id = auth.issuer.rstrip("/").rsplit("/", 1)[-1]
    if client_id is None:
        client_id = auth.audience[0] if auth.audience else None
    secret = None
    for res in stack.resources.values():
        if res.type == "AWS::Cognito::UserPoolClient":
            if client_id is None:
                client_id = res.physical_id
            if res.physical_id == client_id:
                secret = res.attributes.get("ClientSecret") or None
        if pool_id is None and res.type == "AWS::Cognito::UserPool":
            pool_id = res.physical_id
    return pool_id, client_id, secret


def _tenant_client(
    stack: Any, pool_id: str, tenant: str, profile_auth: dict[str, Any]
) -> tuple[Any, str]:
    """The app client ``tenant``'s tokens come from, and why that one.

    One client per tenant (seed 002): the pool's UserPoolClient whose ``ClientName`` is the tenant
    id; else the profile's ``auth.client`` (one client shared by every tenant)."""
    clients = [
        r
        for r in stack.resources.values()
        if r.type == "AWS::Cognito::UserPoolClient"
        and str(r.properties.get("UserPoolId", pool_id)) == pool_id
    ]
    for record in clients:
        if str(record.properties.get("ClientName", "")) == tenant:
            return record, f"{record.logical_id} (ClientName {tenant})"
    logical = profile_auth.get("client")
    if logical and logical in stack.resources:
        return stack.resources[logical], f"{logical} (harness.yaml auth.client)"
    names = ", ".join(sorted(str(r.properties.get("ClientName", r.logical_id)) for r in clients))
    raise ConfigError(
        f"stack {stack.name}: no Cognito app client for tenant {tenant!r} in pool {pool_id} "
        f"(clients: {names or 'none'})",
        source=f"{stack.stack_dir}/harness.yaml",
        field="auth.client",
        fix=f"give the tenant its own UserPoolClient with ClientName: {tenant} in template.yaml, "
        "or name a shared client in harness.yaml `auth.client`.",
    )


def _cognito_stack_token(
    stack: Any,
    endpoints: dict[str, Any],
    tenant: str,
    user: str,
    scopes: list[str],
    profile_auth: dict[str, Any],
    tenant_claim: str,
    tier: str | None,
    tier_claim: str,
) -> StackToken:
    """``auth.issuer: cognito``: a token from the emulator's pool, verified, carrying the tenant.

    A client with a secret that allows ``client_credentials`` gets a machine-to-machine access
    token (``POST /oauth2/token``; the tenant claims come from the pool's pre-token-generation
    trigger); any other client signs ``user`` in (the tenant as a ``custom:`` attribute)."""
    source = f"{stack.stack_dir}/harness.yaml"
    logical = profile_auth.get("user_pool")
    record = stack.resources.get(logical) if logical else None
    if record is None or record.type != "AWS::Cognito::UserPool":
        raise ConfigError(
            f"stack {stack.name}: auth.user_pool {logical!r} is not a user pool of the stack",
            source=source,
            field="auth.user_pool",
            fix="set it to the logical id of the stack's AWS::Cognito::UserPool.",
        )
    if not endpoints.get("aws_endpoint"):
        raise ConfigError(
            "no AWS endpoint: the environment is not running", fix="run `harness up` first."
        )
    pool_id = record.physical_id
    client, why = _tenant_client(stack, pool_id, tenant, profile_auth)
    # The tenant claim comes from the pool's pre-token trigger, a function in the runtime. A
    # trigger that times out (a cold start on a saturated machine) makes the emulator sign the
    # token without the claim (AWS would refuse the grant): ask again before calling it broken.
    attempts = 4
    for attempt in range(attempts):
        chosen = _cognito_token_once(
            endpoints, stack, pool_id, client, why, tenant, user, scopes, tenant_claim, tier,
            tier_claim,
        )  # fmt: skip
        import jwt

        claims = jwt.decode(chosen.token, options={"verify_signature": False})
        if claims.get(tenant_claim) == tenant:
            return chosen
        if attempt + 1 < attempts:
            time.sleep(0.5 * 2**attempt)
    raise TokenError(
        f"Cognito's token for tenant {tenant!r} (app client {why}) carries "
        f"{tenant_claim}={claims.get(tenant_claim)!r}, not the tenant ({attempts} attempts)",
        fix="the pool's pre-token-generation trigger adds the tenant claim: check that "
        "`harness deploy` ran the stack's fixtures (they connect the trigger to the runtime, "
        "harness/cognito_triggers.py) and the trigger function's logs (a trigger timing out "
        "on an overloaded machine has the same effect).",
    )


def _cognito_token_once(
    endpoints: dict[str, Any],
    stack: Any,
    pool_id: str,
    client: Any,
    why: str,
    tenant: str,
    user: str,
    scopes: list[str],
    tenant_claim: str,
    tier: str | None,
    tier_claim: str,
) -> StackToken:
    secret = client.attributes.get("ClientSecret") or None
    flows = client.properties.get("AllowedOAuthFlows") or []
    if secret and "client_credentials" in flows:
        answer = cognito_client_credentials(endpoints, client.physical_id, secret, scopes)
        chosen = StackToken(
            str(answer["access_token"]), "cognito", "access",
            f"client-credentials token of app client {why}",
        )  # fmt: skip
    else:
        attributes = _user_attributes(user, tenant, tenant_claim, tier, tier_claim)
        result = cognito_user_tokens(
            endpoints, pool_id, client.physical_id, user, cognito_password(pool_id, user),
            attributes=attributes, client_secret=secret,
        )  # fmt: skip
        use_id = tenant_claim.startswith("custom:") and "IdToken" in result
        chosen = StackToken(
            str(result["IdToken" if use_id else "AccessToken"]), "cognito",
            "id" if use_id else "access", f"user {user} signed in with app client {why}",
        )  # fmt: skip
    problem = cognito_signature_problem(endpoints, pool_id, chosen.token)
    if problem:
        raise TokenError(
            f"the emulator's Cognito issued a token for {tenant!r} that does not verify against "
            f"pool {pool_id}'s JWKS: {problem}",
            fix="MiniStack signs tokens only with `cryptography` in its environment: run "
            "`harness setup --force` (it installs ministack with cryptography), then `harness up`.",
        )
    return chosen


def token_for_stack(
    state_dir: Path | str,
    stack_name: str,
    tenant: str,
    *,
    user: str | None = None,
    scopes: Iterable[str] = (),
    expires_in: int = 3600,
) -> StackToken:
    """A token the stack's authorizer accepts, for ``tenant`` (and ``user``).

    harness.yaml's ``auth.issuer`` decides. ``cognito``: a real token from the emulator's pool
    ``auth.user_pool``, from the tenant's own app client (ClientName = tenant id, else
    ``auth.client``): the client-credentials grant for a confidential M2M client, else ``user``
    signed in; verified against the pool's JWKS and checked to carry the tenant claim (errors
    are raised, never papered over). ``local``: minted by the local issuer. Without ``issuer``
    the stack's first JWT/Cognito authorizer decides: a local-issuer authorizer gets a minted
    token; a Cognito one a real token from the emulator's user pool (the user is created with
    the tenant and tier attributes), falling back to the local issuer when Cognito cannot sign
    the user in — accepted only if the stack's profile sets ``auth.trust_local_issuer``.
    """
    state_dir = Path(state_dir)
    stack = _stack(state_dir, stack_name)
    tenancy = Tenancy.from_profile(stack.profile, f"{stack.stack_dir}/harness.yaml")
    tenant_claim = tenancy.tenant_claim or DEFAULT_TENANT_CLAIM
    tier_claim = tenancy.tier_claim or DEFAULT_TIER_CLAIM
    tier = tenancy.tier_of(tenant)
    user = user or f"{tenant}-user"
    scopes = list(scopes)
    endpoints = _endpoints(state_dir)
    issuer = LocalIssuer(state_dir, endpoints.get("gateway_url"))
    auths = [
        a
        for api in stack.apis.values()
        for a in api.authorizers.values()
        if a.type in ("jwt", "cognito")
    ]
    profile_auth = dict((stack.profile or {}).get("auth") or {})
    if not scopes:
        scopes = list(profile_auth.get("scopes") or [])
    if not scopes:  # the scopes the routes of the stack require, so that the token is usable
        for api in stack.apis.values():
            for route in api.routes:
                scopes.extend(s for s in route.scopes if s not in scopes)
    auth = auths[0] if auths else None
    declared = profile_auth.get("issuer")
    if declared == "cognito":
        return _cognito_stack_token(
            stack, endpoints, tenant, user, scopes, profile_auth, tenant_claim, tier, tier_claim
        )
    local_claims = {"tenant": tenant, "tier": tier, "scopes": scopes, "expires_in": expires_in,
                    "tenant_claim": tenant_claim, "tier_claim": tier_claim,
                    "claims": dict(profile_auth.get("extra_claims") or {})}  # fmt: skip

    def local(note: str = "", source: str = "local-issuer") -> StackToken:
        audience = profile_auth.get("audience") or (
            auth.audience[0] if auth is not None and auth.audience else None
        )
        token = issuer.mint(user, client_id=audience, **local_claims)  # type: ignore[arg-type]
        return StackToken(token, source, "access", note)

    if declared == "local":
        return local()
    if auth is None:
        return local("the stack has no JWT/Cognito authorizer; token from the local issuer")
    is_cognito = auth.type == "cognito" or "cognito-idp" in (auth.issuer or "")
    if not is_cognito:
        if auth.issuer and not is_local_issuer(auth.issuer):
            return local(
                f"issuer {auth.issuer} is not the harness's; minted by the local issuer anyway",
                "local-issuer-fallback",
            )
        return local()
    pool_id, client_id, secret = _pool_and_client(stack, auth, profile_auth)
    if not pool_id or not client_id or not endpoints.get("aws_endpoint"):
        return local("no Cognito pool/client found for the authorizer", "local-issuer-fallback")
    attributes = _user_attributes(user, tenant, tenant_claim, tier, tier_claim)
    try:
        result = cognito_user_tokens(
            endpoints, pool_id, client_id, user, cognito_password(pool_id, user),
            attributes=attributes, client_secret=secret,
        )  # fmt: skip
    except Exception as exc:  # botocore errors too: any failure falls back, with its reason
        logger.warning("Cognito sign-in failed, using the local issuer: %s", exc)
        return local(f"Cognito sign-in failed ({exc}); local issuer used", "local-issuer-fallback")
    # Custom attributes (the tenant) are only in the ID token, as on AWS.
    if tenant_claim.startswith("custom:") and "IdToken" in result:
        chosen = StackToken(
            result["IdToken"], "cognito", "id", "ID token: it carries the tenant claim"
        )
    else:
        chosen = StackToken(result["AccessToken"], "cognito", "access")
    problem = cognito_signature_problem(endpoints, pool_id, chosen.token)
    if problem:
        return local(
            f"the emulator's Cognito token does not verify against its JWKS ({problem}); "
            "MiniStack signs tokens only when `cryptography` is installed in its environment",
            "local-issuer-fallback",
        )
    return chosen
