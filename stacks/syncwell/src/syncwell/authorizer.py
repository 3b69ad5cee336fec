"""The dual-issuer Lambda authorizer (seed 001, sections 2 and 4; decision table "Authentication
Service": "a dual-authorizer strategy must be implemented").

It accepts a JWT from either issuer: the primary one (Firebase Authentication; locally the
harness's own issuer stands in for it) or the standby Amazon Cognito user pool, and answers an
HTTP API simple response (payload 2.0). API Gateway caches the answer for 5 minutes per
``Authorization`` header (the template's ``ReauthorizeEvery: 300``), so the function runs once
per token per cache period.

* **Who.** ``userId`` is the primary token's ``sub`` (the Firebase UID); for a Cognito token it is
  the ``username`` (``cognito:username`` in ID tokens): accounts moved to the standby pool keep
  their Firebase UID as username, so a failover does not change anyone's partition key. The tier
  is the ``custom:tier`` claim (``FREE`` when absent). The context also carries the same values
  under the claim names the harness profile reads (``custom:tenant_id``, ``custom:tier``).
* **Checks.** RS256 signature against the issuer's JWKS (kept in memory for 1 hour, the seed's
  L2 cache; refetched once for an unknown ``kid``), ``iss``, ``exp``, ``nbf``, and the audience:
  the primary token's ``aud`` (or ``client_id``) must be ``PRIMARY_AUDIENCE``; a Cognito access
  token's ``client_id`` or an ID token's ``aud`` must be ``STANDBY_CLIENT_ID``.
* **The DR flag.** ``ACCEPTED_ISSUERS`` is ``both`` (default), ``primary`` or ``standby``: the
  runbook's switch to fail over to Cognito (or to shut a compromised issuer out).
* **Answers.** A token that fails any check raises ``Unauthorized`` (API Gateway answers 401);
  a missing header never reaches the function (401 from API Gateway itself).

Locally the Cognito JWKS is not at the real ``cognito-idp`` host: when ``AWS_ENDPOINT_URL`` is
set (the harness sets it for every function), a Cognito issuer's keys are read from
``{AWS_ENDPOINT_URL}/{poolId}/.well-known/jwks.json``, where the emulator serves them.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import urllib.request
from typing import Any
from urllib.parse import urlsplit

import jwt

from syncwell import cache
from syncwell import validation as v
from syncwell.common import log

JWKS_TTL_S = 3600.0
ADMIN_ROLE = "syncwell-admin"
_REFETCH_MIN_S = 30.0
_jwks: dict[str, tuple[float, dict[str, Any]]] = {}
_last_fetch: dict[str, float] = {}
_lock = threading.Lock()


class Unauthorized(Exception):
    """Raised with the message API Gateway maps to 401."""

    def __init__(self, reason: str) -> None:
        super().__init__("Unauthorized")
        self.reason = reason


def _env(name: str, default: str = "") -> str:
    return os.environ.get(name, default).strip()


def issuers() -> dict[str, dict[str, str]]:
    """The accepted issuers by role (``primary``/``standby``), as the DR flag leaves them."""
    accepted = _env("ACCEPTED_ISSUERS", "both").lower()
    roles = {"both": ("primary", "standby"), "primary": ("primary",), "standby": ("standby",)}
    found: dict[str, dict[str, str]] = {}
    for role in roles.get(accepted, ()):
        issuer = _env(f"{role.upper()}_ISSUER").rstrip("/")
        if issuer:
            audience = _env("PRIMARY_AUDIENCE" if role == "primary" else "STANDBY_CLIENT_ID")
            found[role] = {"issuer": issuer, "audience": audience}
    return found


def jwks_url(issuer: str) -> str:
    host = urlsplit(issuer).hostname or ""
    endpoint = _env("AWS_ENDPOINT_URL").rstrip("/")
    if endpoint and host.startswith("cognito-idp.") and host.endswith(".amazonaws.com"):
        pool = urlsplit(issuer).path.strip("/")
        return f"{endpoint}/{pool}/.well-known/jwks.json"
    return f"{issuer}/.well-known/jwks.json"


def _fetch(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=3) as response:
        keys = json.loads(response.read()).get("keys", [])
    return {str(k.get("kid")): k for k in keys if isinstance(k, dict)}


def signing_key(issuer: str, kid: str) -> Any:
    """The public key ``kid`` of ``issuer``.

    JWKS documents are shared by every authorizer environment in Redis (``jwks##{url}``, 1 hour,
    the seed's L2 cache) and kept in memory as the fallback for when Redis cannot be reached. A
    key revoked through the admin endpoint (``jwks##revoked##{url}``) is refused. An unknown kid
    refetches, at most once per 30 s per issuer, so a flood of forged kids cannot hammer the
    IdP."""
    url = jwks_url(issuer)
    now = time.monotonic()
    shared = True
    try:
        keys, revoked = cache.jwks_get(url, kid)
    except cache.CacheUnavailable:
        shared, revoked = False, False
        with _lock:
            cached = _jwks.get(url)
        keys = cached[1] if cached and cached[0] > now else None
    if revoked:
        raise Unauthorized(f"key {kid!r} of {issuer} was revoked")
    if keys is None or (kid not in keys and now - _last_fetch.get(url, 0.0) > _REFETCH_MIN_S):
        try:
            keys = _fetch(url)
        except (OSError, ValueError) as exc:
            raise Unauthorized(f"JWKS of {issuer} unavailable: {exc!r}"[:200]) from None
        with _lock:
            _last_fetch[url] = now
            _jwks[url] = (now + JWKS_TTL_S, keys)
        if shared:
            cache.jwks_put(url, keys)
    elif shared:  # the shared copy refreshes the fallback; the fallback never renews itself
        with _lock:
            _jwks[url] = (now + JWKS_TTL_S, keys)
    jwk = keys.get(kid)
    if jwk is None:
        raise Unauthorized(f"no key {kid!r} at {url}")
    return jwt.algorithms.RSAAlgorithm.from_jwk(jwk)


def verify(token: str) -> dict[str, Any]:
    """The authorizer context for a valid token; raises :class:`Unauthorized` otherwise."""
    try:
        header = jwt.get_unverified_header(token)
        unverified = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError as exc:
        raise Unauthorized(f"malformed token: {exc}") from None
    if header.get("alg") != "RS256":
        raise Unauthorized(f"alg {header.get('alg')!r} is not RS256")
    iss = str(unverified.get("iss", "")).rstrip("/")
    role, spec = next(((r, s) for r, s in issuers().items() if s["issuer"] == iss), ("", {}))
    if not role:
        raise Unauthorized(f"issuer {iss!r} is not accepted")
    key = signing_key(spec["issuer"], str(header.get("kid")))
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=["RS256"],
            issuer=unverified.get("iss"),
            options={"verify_aud": False, "require": ["exp", "sub", "iss"]},
        )
    except jwt.PyJWTError as exc:
        raise Unauthorized(f"{type(exc).__name__}: {exc}") from None
    audiences = claims.get("aud", [])
    audiences = [audiences] if isinstance(audiences, str) else list(audiences)
    if spec["audience"] and spec["audience"] not in [*audiences, claims.get("client_id")]:
        raise Unauthorized("wrong audience")
    if role == "standby":
        user = claims.get("username") or claims.get("cognito:username")
        if claims.get("token_use") not in ("access", "id"):
            raise Unauthorized("not a Cognito access or ID token")
    else:
        user = claims.get("sub")
    if not isinstance(user, str) or not user or len(user) > 128 or "#" in user:
        raise Unauthorized("no usable user id")
    tier = str(claims.get("custom:tier") or "FREE").upper()
    tier = tier if tier in ("FREE", "PRO") else "FREE"
    roles = claims.get("cognito:groups") if role == "standby" else claims.get("roles")
    roles = [roles] if isinstance(roles, str) else list(roles or [])
    return {
        "userId": user,
        "tier": tier,
        "issuer": role,
        "admin": ADMIN_ROLE in roles,
        "custom:tenant_id": user,
        "custom:tier": tier,
    }


def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """The authorizer (an authorizer event) or its admin endpoint (a proxy event)."""
    if "routeArn" not in event and "methodArn" not in event:
        return admin(event)
    sources = event.get("identitySource") or []
    header = sources[0] if sources else (event.get("headers") or {}).get("authorization", "")
    scheme, _, token = str(header or "").partition(" ")
    try:
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("no bearer token")
        answer = verify(token.strip())
    except Unauthorized as exc:
        log(logging.INFO, "denied", reason=exc.reason, routeArn=event.get("routeArn"))
        raise
    return {"isAuthorized": True, "context": answer}


def _answer(status: int, body: dict[str, Any]) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"content-type": "application/json"},
        "body": json.dumps(body),
    }


def _error(status: int, code: str, message: str) -> dict[str, Any]:
    return _answer(status, v.ApiError(status, code, message).body())


def admin(event: dict[str, Any]) -> dict[str, Any]:
    """``POST /v1/admin/jwks-cache/invalidate {"issuer": "primary"|"standby"|URL, "kid"?}``
    (seed [R-002]): drop the shared cached JWKS of an issuer so every authorizer refetches it,
    and with ``kid`` refuse that key from now on. Only for ``syncwell-admin`` principals (the
    ``roles`` claim of a primary token, the ``cognito:groups`` of a standby one). Tokens already
    authorized stay authorized for the gateway's authorizer cache period (5 minutes)."""
    context = ((event.get("requestContext") or {}).get("authorizer") or {}).get("lambda") or {}
    if context.get("admin") is not True:
        return _error(403, "Forbidden", f"requires the {ADMIN_ROLE} permission")
    try:  # the API's own body parsing and validation (JSON, size, unknown fields, kid)
        spec = v.validate_jwks_invalidation(v.parse_json_body(v.raw_body(event)))
    except v.ApiError as exc:
        return _answer(exc.status, exc.body())
    configured = {r: s["issuer"] for r, s in issuers().items()}
    wanted, kid = spec["issuer"], spec["kid"]
    issuer = configured.get(wanted) or (
        wanted.rstrip("/") if wanted.rstrip("/") in configured.values() else ""
    )
    if not issuer:
        return _error(
            400, "ValidationError", "'issuer' must be primary, standby or an accepted issuer URL"
        )
    url = jwks_url(issuer)
    try:
        cache.jwks_invalidate(url, kid)
    except cache.CacheUnavailable:
        return _error(503, "ServiceUnavailable", "please retry later")
    with _lock:  # this environment's own copy too
        _jwks.pop(url, None)
    log(logging.WARNING, "jwks invalidated", issuer=issuer, kid=kid,
        by=context.get("userId"))  # fmt: skip
    return _answer(200, {"invalidated": issuer, "revokedKid": kid})
