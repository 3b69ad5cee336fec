"""Tokens for calling a deployed stack's API: a local issuer, and real Cognito tokens.

**Local issuer.** An RSA key pair generated once per state folder and kept in
``<state_dir>/issuer/private.pem``. The daemon serves its JWKS at
``{gateway_url}/_harness/issuer/.well-known/jwks.json`` (and the OpenID configuration next to
it); the issuer URL is ``{gateway_url}/_harness/issuer``. A JWT authorizer whose ``issuer`` is
that URL accepts the tokens :meth:`LocalIssuer.mint` makes::

    issuer = LocalIssuer(state_dir, gateway_url)
    token = issuer.mint("user-1", tenant="t1", tier="basic", scopes=["orders/read"],
                        audience="my-client")

**Cognito.** (MiniStack signs its tokens only with ``cryptography`` installed in its environment,
which ``harness setup`` does.) :func:`cognito_user_tokens` signs a user in on the emulator's Cognito
(``AdminInitiateAuth`` ``ADMIN_USER_PASSWORD_AUTH``, else ``InitiateAuth``
``USER_PASSWORD_AUTH``), creating the user first when asked; :func:`cognito_client_credentials`
runs the OAuth client-credentials flow (``POST {aws_endpoint}/oauth2/token``). MiniStack supports
all three and signs RS256 tokens with a per-pool key served at
``{aws_endpoint}/{pool_id}/.well-known/jwks.json``; its ``iss`` is the real AWS URL
(``https://cognito-idp.{region}.amazonaws.com/{pool_id}``).

:func:`token_for_stack` picks the right one for a deployed stack (what ``harness token`` prints).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import logging
import os
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import ConfigError, HarnessError

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

logger = logging.getLogger(__name__)

ISSUER_PATH = "/_harness/issuer"
DEFAULT_TENANT_CLAIM = "custom:tenant_id"
DEFAULT_TIER_CLAIM = "custom:tier"


def local_issuer_url(gateway_url: str) -> str:
    return gateway_url.rstrip("/") + ISSUER_PATH


def _b64url_uint(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def jwk_thumbprint(jwk: dict[str, str]) -> str:
    """RFC 7638 thumbprint of an RSA JWK (used as its ``kid``)."""
    canonical = json.dumps({"e": jwk["e"], "kty": "RSA", "n": jwk["n"]}, separators=(",", ":"))
    return (
        base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).rstrip(b"=").decode()
    )


class LocalIssuer:
    """The harness's own token issuer for one state folder."""

    def __init__(self, state_dir: Path | str, gateway_url: str | None = None) -> None:
        self.state_dir = Path(state_dir)
        self.folder = self.state_dir / "issuer"
        self._gateway_url = gateway_url
        self._private: Any = None
        self._jwk: dict[str, str] | None = None

    # -- keys ------------------------------------------------------------------------------

    def _load_or_create(self) -> None:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        path = self.folder / "private.pem"
        if not path.exists():
            self.folder.mkdir(parents=True, exist_ok=True)
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            pem = key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            tmp = self.folder / f".private-{uuid.uuid4().hex}.pem"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(pem)
            try:
                os.link(tmp, path)  # atomic create-if-absent: the first writer wins
            except FileExistsError:
                pass
            finally:
                tmp.unlink()
        private: Any = serialization.load_pem_private_key(path.read_bytes(), password=None)
        numbers = private.public_key().public_numbers()
        jwk = {"kty": "RSA", "e": _b64url_uint(numbers.e), "n": _b64url_uint(numbers.n)}
        jwk = {**jwk, "kid": jwk_thumbprint(jwk), "alg": "RS256", "use": "sig"}
        self._private, self._jwk = private, jwk

    @property
    def private_key(self) -> Any:
        if self._private is None:
            self._load_or_create()
        return self._private

    @property
    def jwk(self) -> dict[str, str]:
        if self._jwk is None:
            self._load_or_create()
        assert self._jwk is not None
        return self._jwk

    @property
    def kid(self) -> str:
        return self.jwk["kid"]

    def public_key(self) -> Any:
        return self.private_key.public_key()

    def jwks(self) -> dict[str, Any]:
        return {"keys": [self.jwk]}

    # -- URLs ------------------------------------------------------------------------------

    @property
    def gateway_url(self) -> str:
        if self._gateway_url:
            return self._gateway_url
        try:
            state = json.loads((self.state_dir / "state.json").read_text())
            self._gateway_url = str(state["endpoints"]["gateway_url"])
        except (OSError, ValueError, KeyError) as exc:
            raise ConfigError(
                f"no gateway URL: {self.state_dir / 'state.json'} is missing or has no endpoints",
                fix="run `harness up` first, or pass gateway_url=...",
            ) from exc
        return self._gateway_url

    @property
    def issuer(self) -> str:
        return local_issuer_url(self.gateway_url)

    def openid_configuration(self) -> dict[str, Any]:
        issuer = self.issuer
        return {
            "issuer": issuer,
            "jwks_uri": f"{issuer}/.well-known/jwks.json",
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["token"],
            "subject_types_supported": ["public"],
            "token_endpoint_auth_methods_supported": ["none"],
            "claims_supported": ["sub", "iss", "aud", "exp", "iat", "nbf", "scope", "client_id"],
        }

    # -- minting ---------------------------------------------------------------------------

    def mint(
        self,
        sub: str,
        *,
        tenant: str | None = None,
        tier: str | None = None,
        scopes: Iterable[str] = (),
        client_id: str | None = None,
        audience: str | list[str] | None = None,
        token_use: str = "access",
        expires_in: int = 3600,
        not_before: int | None = None,
        issued_at: int | None = None,
        tenant_claim: str = DEFAULT_TENANT_CLAIM,
        tier_claim: str = DEFAULT_TIER_CLAIM,
        claims: dict[str, Any] | None = None,
        issuer: str | None = None,
    ) -> str:
        """A signed RS256 JWT. ``claims`` are added last (and may override anything)."""
        import jwt

        now = int(time.time()) if issued_at is None else issued_at
        body: dict[str, Any] = {
            "sub": sub,
            "iss": issuer or self.issuer,
            "iat": now,
            "exp": now + expires_in,
            "jti": uuid.uuid4().hex,
            "token_use": token_use,
        }
        if not_before is not None:
            body["nbf"] = not_before
        if client_id is not None:
            body["client_id"] = client_id
        if audience is not None:
            body["aud"] = audience
        scopes = list(scopes)
        if scopes:
            body["scope"] = " ".join(scopes)
        if tenant is not None:
            body[tenant_claim] = tenant
        if tier is not None:
            body[tier_claim] = tier
        if claims:
            body.update(claims)
        return jwt.encode(body, self.private_key, algorithm="RS256", headers={"kid": self.kid})


# -- Cognito (the emulator's) ---------------------------------------------------------------


def _cognito(endpoints: dict[str, Any]) -> Any:
    from harness.aws import client_for

    return client_for(endpoints, "cognito-idp")


def cognito_user_tokens(
    endpoints: dict[str, Any],
    pool_id: str,
    client_id: str,
    username: str,
    password: str,
    *,
    attributes: dict[str, str] | None = None,
    create: bool = True,
    client_secret: str | None = None,
) -> dict[str, Any]:
    """``AuthenticationResult`` (AccessToken, IdToken, ...) for a user of the emulator's pool.

    With ``create`` the user is created (or updated) with ``attributes`` and a permanent
    password first. Tries ``AdminInitiateAuth`` (ADMIN_USER_PASSWORD_AUTH), then
    ``InitiateAuth`` (USER_PASSWORD_AUTH).
    """
    client = _cognito(endpoints)
    attrs = [{"Name": k, "Value": v} for k, v in (attributes or {}).items()]
    if create:
        try:
            client.admin_create_user(
                UserPoolId=pool_id,
                Username=username,
                UserAttributes=attrs,
                MessageAction="SUPPRESS",
            )
        except client.exceptions.UsernameExistsException:
            if attrs:
                client.admin_update_user_attributes(
                    UserPoolId=pool_id, Username=username, UserAttributes=attrs
                )
        client.admin_set_user_password(
            UserPoolId=pool_id, Username=username, Password=password, Permanent=True
        )
    params = {"USERNAME": username, "PASSWORD": password}
    if client_secret:
        import hmac

        digest = hmac.new(client_secret.encode(), (username + client_id).encode(), hashlib.sha256)
        params["SECRET_HASH"] = base64.b64encode(digest.digest()).decode()
    errors: list[str] = []
    try:
        answer = client.admin_initiate_auth(
            UserPoolId=pool_id, ClientId=client_id, AuthFlow="ADMIN_USER_PASSWORD_AUTH",
            AuthParameters=params,
        )  # fmt: skip
        if "AuthenticationResult" in answer:
            return dict(answer["AuthenticationResult"])
        errors.append(f"AdminInitiateAuth answered a challenge: {answer.get('ChallengeName')}")
    except Exception as exc:
        errors.append(f"AdminInitiateAuth: {exc}")
    try:
        answer = client.initiate_auth(
            ClientId=client_id, AuthFlow="USER_PASSWORD_AUTH", AuthParameters=params
        )
        if "AuthenticationResult" in answer:
            return dict(answer["AuthenticationResult"])
        errors.append(f"InitiateAuth answered a challenge: {answer.get('ChallengeName')}")
    except Exception as exc:
        errors.append(f"InitiateAuth: {exc}")
    raise HarnessError(
        f"Cognito sign-in of {username!r} on pool {pool_id} failed: " + "; ".join(errors),
        fix="enable ALLOW_ADMIN_USER_PASSWORD_AUTH or ALLOW_USER_PASSWORD_AUTH on the app client.",
    )


def cognito_client_credentials(
    endpoints: dict[str, Any],
    client_id: str,
    client_secret: str,
    scopes: Iterable[str] = (),
    timeout: float = 10.0,
) -> dict[str, Any]:
    """The OAuth 2.0 client-credentials flow against the emulator's ``/oauth2/token``."""
    import urllib.error
    import urllib.parse
    import urllib.request

    url = str(endpoints["aws_endpoint"]).rstrip("/") + "/oauth2/token"
    form = {"grant_type": "client_credentials", "client_id": client_id}
    scopes = list(scopes)
    if scopes:
        form["scope"] = " ".join(scopes)
    basic = base64.b64encode(f"{client_id}:{client_secret}".encode()).decode()
    request = urllib.request.Request(
        url,
        data=urllib.parse.urlencode(form).encode(),
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Authorization": f"Basic {basic}",
        },
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return dict(json.loads(response.read()))
    except urllib.error.HTTPError as exc:
        raise HarnessError(
            f"client-credentials token request to {url} failed: {exc.code} {exc.read()[:300]!r}"
        ) from exc


# -- the token a stack's clients would use --------------------------------------------------


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
    raise HarnessError(
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
        password = "Harness-" + hashlib.sha256(f"{pool_id}/{user}".encode()).hexdigest()[:16]
        attributes = {"email": f"{user}@example.com"}
        if tenant_claim.startswith("custom:"):
            attributes[tenant_claim] = tenant
        if tier and tier_claim.startswith("custom:"):
            attributes[tier_claim] = tier
        result = cognito_user_tokens(
            endpoints, pool_id, client.physical_id, user, password + "!1a",
            attributes=attributes, client_secret=secret,
        )  # fmt: skip
        use_id = tenant_claim.startswith("custom:") and "IdToken" in result
        chosen = StackToken(
            str(result["IdToken" if use_id else "AccessToken"]), "cognito",
            "id" if use_id else "access", f"user {user} signed in with app client {why}",
        )  # fmt: skip
    problem = _cognito_signature_problem(endpoints, pool_id, chosen.token)
    if problem:
        raise HarnessError(
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
    from harness.gateway.tenancy import Tenancy

    state_dir = Path(state_dir)
    stack = _stack(state_dir, stack_name)
    tenancy = Tenancy.from_profile(stack.profile)
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
        if auth.issuer and not auth.issuer.rstrip("/").endswith(ISSUER_PATH):
            return local(
                f"issuer {auth.issuer} is not the harness's; minted by the local issuer anyway",
                "local-issuer-fallback",
            )
        return local()
    pool_id, client_id, secret = _pool_and_client(stack, auth, profile_auth)
    if not pool_id or not client_id or not endpoints.get("aws_endpoint"):
        return local("no Cognito pool/client found for the authorizer", "local-issuer-fallback")
    password = "Harness-" + hashlib.sha256(f"{pool_id}/{user}".encode()).hexdigest()[:16] + "!1a"
    attributes = {"email": f"{user}@example.com"}
    if tenant_claim.startswith("custom:"):
        attributes[tenant_claim] = tenant
    if tier and tier_claim.startswith("custom:"):
        attributes[tier_claim] = tier
    try:
        result = cognito_user_tokens(
            endpoints, pool_id, client_id, user, password, attributes=attributes,
            client_secret=secret,
        )  # fmt: skip
    except Exception as exc:
        with contextlib.suppress(Exception):
            logger.warning("Cognito sign-in failed, using the local issuer: %s", exc)
        return local(f"Cognito sign-in failed ({exc}); local issuer used", "local-issuer-fallback")
    # Custom attributes (the tenant) are only in the ID token, as on AWS.
    if tenant_claim.startswith("custom:") and "IdToken" in result:
        chosen = StackToken(
            result["IdToken"], "cognito", "id", "ID token: it carries the tenant claim"
        )
    else:
        chosen = StackToken(result["AccessToken"], "cognito", "access")
    problem = _cognito_signature_problem(endpoints, pool_id, chosen.token)
    if problem:
        return local(
            f"the emulator's Cognito token does not verify against its JWKS ({problem}); "
            "MiniStack signs tokens only when `cryptography` is installed in its environment",
            "local-issuer-fallback",
        )
    return chosen


def _cognito_signature_problem(endpoints: dict[str, Any], pool_id: str, token: str) -> str:
    """Why ``token`` does not verify against the emulator pool's JWKS ("" if it does)."""
    import urllib.request

    import jwt

    url = f"{str(endpoints['aws_endpoint']).rstrip('/')}/{pool_id}/.well-known/jwks.json"
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            keys = json.loads(response.read()).get("keys", [])
        kid = jwt.get_unverified_header(token).get("kid")
        jwk = next((k for k in keys if k.get("kid") == kid), None)
        if jwk is None:
            return f"no key {kid!r} at {url}"
        key: Any = jwt.algorithms.RSAAlgorithm.from_jwk(jwk)
        jwt.decode(token, key, algorithms=["RS256"], options={"verify_aud": False})
    except Exception as exc:
        return str(exc) or type(exc).__name__
    return ""
