"""JWT authorizers (HTTP APIs) and Cognito user-pool authorizers (REST APIs).

A token is accepted only if: its header names an RSA algorithm (``none`` and HMAC are refused
before any key is looked at, so an HS256 token "signed" with the public key cannot pass); its
``kid`` is a key of the issuer's JWKS; the signature verifies; ``iss`` equals the authorizer's
issuer; ``aud`` — or ``client_id`` for Cognito access tokens — is one of the authorizer's
audiences (when it lists any); ``exp`` is in the future; ``nbf`` (if present) is not; ``iat`` (if
present) is not in the future; ``token_use`` (if present) is ``access`` or ``id``. Any failure is
401 ``{"message":"Unauthorized"}``. A route's scopes need at least one of them in the token's
``scope`` (space separated) or ``scp`` claim, else 403 ``{"message":"Forbidden"}``.

Verified signatures are cached by token (bounded), so a client reusing its token pays for one
RSA verification; the time-based and audience checks run on every request.
"""

from __future__ import annotations

import time
from typing import Any

from harness.gateway import errors
from harness.gateway.jsonutil import dumps

__all__ = [
    "JwtRejected",
    "bearer_token",
    "check_claims",
    "stringify_claims",
    "token_scopes",
    "verify_token",
]

ALLOWED_ALGORITHMS = frozenset({"RS256", "RS384", "RS512"})
IAT_LEEWAY_S = 60
_CACHE_MAX = 20000


class JwtRejected(Exception):
    """Why a token was refused (logged as the access log's ``authorizerError``)."""


def bearer_token(value: str | None) -> str | None:
    if not value:
        return None
    value = value.strip()
    if value[:7].lower() == "bearer ":
        value = value[7:].strip()
    return value or None


def check_claims(
    claims: dict[str, Any],
    *,
    issuer: str | None,
    audience: list[str],
    now: float,
    extra_issuers: tuple[str, ...] = (),
) -> None:
    iss = claims.get("iss")
    if issuer is not None:
        allowed = {issuer.rstrip("/"), *(i.rstrip("/") for i in extra_issuers)}
        if not isinstance(iss, str) or iss.rstrip("/") not in allowed:
            raise JwtRejected(f"issuer {iss!r} is not {issuer!r}")
    exp = claims.get("exp")
    if not isinstance(exp, (int, float)) or isinstance(exp, bool):
        raise JwtRejected("no exp claim")
    if exp <= now:
        raise JwtRejected("token expired")
    nbf = claims.get("nbf")
    if nbf is not None and (not isinstance(nbf, (int, float)) or nbf > now):
        raise JwtRejected("token not yet valid (nbf)")
    iat = claims.get("iat")
    if iat is not None and (not isinstance(iat, (int, float)) or iat > now + IAT_LEEWAY_S):
        raise JwtRejected("token issued in the future (iat)")
    use = claims.get("token_use")
    if use is not None and use not in ("access", "id"):
        raise JwtRejected(f"token_use {use!r} is not access or id")
    if audience:
        aud = claims.get("aud")
        auds = aud if isinstance(aud, list) else ([aud] if aud is not None else [])
        client_id = claims.get("client_id")
        if client_id is not None:
            auds = [*auds, client_id]
        if not any(a in audience for a in auds):
            raise JwtRejected(f"audience {aud!r} / client_id {client_id!r} not in {audience}")


def token_scopes(claims: dict[str, Any]) -> list[str] | None:
    scope = claims.get("scope")
    if isinstance(scope, str) and scope.strip():
        return scope.split()
    scp = claims.get("scp")
    if isinstance(scp, list):
        return [str(s) for s in scp]
    if isinstance(scp, str) and scp.strip():
        return scp.split()
    return None


def _stringify(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, list):
        return "[" + " ".join(_stringify(v) for v in value) + "]"
    if value is None:
        return ""
    return dumps(value).decode()


def stringify_claims(claims: dict[str, Any]) -> dict[str, str]:
    """Claims as HTTP APIs pass them: every value a string, arrays as ``[a b]``."""
    return {key: _stringify(value) for key, value in claims.items()}


class _VerifiedCache:
    def __init__(self) -> None:
        self.entries: dict[tuple[str, str], dict[str, Any]] = {}

    def get(self, source: str, token: str) -> dict[str, Any] | None:
        return self.entries.get((source, token))

    def put(self, source: str, token: str, claims: dict[str, Any]) -> None:
        if len(self.entries) >= _CACHE_MAX:
            self.entries.clear()
        self.entries[(source, token)] = claims


_verified = _VerifiedCache()
_stringified: dict[str, dict[str, str]] = {}  # token -> its claims as strings (same lifetime)


def _header(token: str) -> dict[str, Any]:
    """The JOSE header of a compact JWS (base64url JSON), without PyJWT's slow char checks."""
    import base64
    import binascii
    import json

    head, dot, rest = token.partition(".")
    if not dot or rest.count(".") != 1 or len(head) > 4096:
        raise JwtRejected("malformed token")
    try:
        header = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise JwtRejected("malformed token header") from None
    if not isinstance(header, dict):
        raise JwtRejected("malformed token header")
    return header


async def verify_token(
    token: str,
    *,
    issuer: str | None,
    jwks_uri: str | None,
    keystore: Any,
    trust_local_issuer: bool = False,
) -> dict[str, Any]:
    """The signature-verified claims of ``token`` (not yet checked against iss/aud/time)."""
    import jwt

    cache_source = f"{issuer}|{jwks_uri or ''}|{int(trust_local_issuer)}"
    cached = _verified.get(cache_source, token)
    if cached is not None:
        return cached
    header = _header(token)
    alg = header.get("alg")
    if alg not in ALLOWED_ALGORITHMS:
        raise JwtRejected(f"algorithm {alg!r} refused")
    kid = header.get("kid")
    key_issuer, key_uri = issuer or "", jwks_uri
    if trust_local_issuer:
        try:
            unverified_iss = jwt.decode(token, options={"verify_signature": False}).get("iss")
        except jwt.PyJWTError as exc:
            raise JwtRejected(f"malformed token ({exc})") from None
        if keystore.is_local(unverified_iss):
            key_issuer, key_uri = str(unverified_iss), None
    key = await keystore.key(key_issuer, key_uri, kid)
    if key is None:
        raise JwtRejected(f"no key {kid!r} in the issuer's JWKS")
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=[alg],
            options={
                "verify_aud": False,
                "verify_iss": False,
                "verify_exp": False,
                "verify_nbf": False,
                "verify_iat": False,
            },
        )
    except jwt.PyJWTError as exc:
        raise JwtRejected(f"invalid token ({exc})") from None
    if not isinstance(claims, dict):
        raise JwtRejected("claims are not an object")
    _verified.put(cache_source, token, claims)
    return claims


async def authorize_jwt(ctx: Any, auth: Any, keystore: Any) -> None:
    """Run a JWT (HTTP API) or Cognito (REST) authorizer; fills ``ctx.authorizer``/``ctx.claims``."""
    from harness.gateway.lambda_auth import identity_values

    sources = auth.identity_sources or ["$request.header.Authorization"]
    values = identity_values(ctx, sources)
    token = bearer_token(values[0]) if values and values[0] is not None else None
    if token is None:
        ctx.authorizer_error = "no token in the identity source"
        raise errors.unauthorized()
    api = ctx.api
    trust_local = bool(api is not None and api.tenancy.trust_local_issuer)
    issuer = auth.issuer
    if auth.type == "cognito" and not issuer and auth.user_pool_arns:
        arn = auth.user_pool_arns[0]
        region = arn.split(":")[3] if arn.count(":") >= 5 else "us-east-1"
        issuer = f"https://cognito-idp.{region}.amazonaws.com/{arn.rsplit('/', 1)[-1]}"
    try:
        claims = await verify_token(
            token, issuer=issuer, jwks_uri=auth.jwks_uri, keystore=keystore,
            trust_local_issuer=trust_local,
        )  # fmt: skip
        extra = (keystore.local_issuer().issuer,) if trust_local else ()
        check_claims(
            claims,
            issuer=issuer,
            audience=list(auth.audience),
            now=time.time(),
            extra_issuers=extra,
        )
    except JwtRejected as exc:
        ctx.authorizer_error = str(exc)
        raise errors.unauthorized() from None
    scopes = token_scopes(claims)
    required = ctx.target.spec.scopes if ctx.target is not None else []
    if required and not (scopes and any(s in scopes for s in required)):
        ctx.authorizer_error = f"scopes {scopes} lack one of {required}"
        raise errors.forbidden()
    ctx.claims = claims
    ctx.principal_id = str(claims.get("sub", ""))
    strings = _stringified.get(token)
    if strings is None:
        if len(_stringified) >= _CACHE_MAX:
            _stringified.clear()
        strings = _stringified[token] = stringify_claims(claims)
    # a copy per request: the handler's event must not alias the cache
    if auth.type == "cognito" or ctx.target is None or ctx.target.payload_format == "1.0":
        ctx.authorizer = {"claims": dict(strings), "scopes": scopes}
    else:
        ctx.authorizer = {"jwt": {"claims": dict(strings), "scopes": scopes}}
