"""The JWT authorizer's validation matrix (local issuer keys, no network)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from pathlib import Path

import pytest

from harness.auth.jwks import KeyStore
from harness.gateway import errors
from harness.gateway.jwt_auth import authorize_jwt, bearer_token, stringify_claims
from harness.gateway.throttle import resolve_tenant
from harness.model import AuthorizerSpec, IntegrationSpec, RouteSpec
from harness.tokens import LocalIssuer
from tests.fixtures.gateway.helpers import api_of, ctx_for

GATEWAY = "http://127.0.0.1:9"
ISSUER = GATEWAY + "/_harness/issuer"
AUD = "client-app"
PROFILE = {"tenancy": {"tenant_claim": "custom:tenant_id", "require_tenant": True}}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@pytest.fixture(scope="module")
def issuer(tmp_path_factory: pytest.TempPathFactory) -> LocalIssuer:
    return LocalIssuer(tmp_path_factory.mktemp("state"), GATEWAY)


@pytest.fixture(scope="module")
def keystore(issuer: LocalIssuer) -> KeyStore:
    return KeyStore(issuer.state_dir)


def run(
    token: str | None,
    keystore: KeyStore,
    *,
    scopes: list[str] | None = None,
    auth: AuthorizerSpec | None = None,
    payload: str = "2.0",
    kind: str = "http",
):
    auth = auth or AuthorizerSpec(name="jwt", type="jwt", issuer=ISSUER, audience=[AUD])
    route = RouteSpec(
        "GET", "/x", IntegrationSpec(type="lambda", function="Fn", payload_format=payload),
        authorizer="jwt", scopes=scopes or [],
    )  # fmt: skip
    api = api_of(kind, [route], authorizers={"jwt": auth}, profile=PROFILE)
    headers = [("authorization", f"Bearer {token}")] if token is not None else []
    ctx = ctx_for(api, "GET", "/x", headers=headers)

    async def go():
        await authorize_jwt(ctx, auth, keystore)
        resolve_tenant(ctx)

    asyncio.run(go())
    return ctx


def status_of(*args, **kwargs) -> int:
    try:
        run(*args, **kwargs)
    except errors.GatewayError as exc:
        return exc.status
    return 200


def mint(local: LocalIssuer, **kwargs) -> str:
    kwargs.setdefault("tenant", "t1")
    kwargs.setdefault("client_id", AUD)
    return local.mint("user-1", **kwargs)


def test_good_token_reaches_the_handler_with_stringified_claims(issuer, keystore) -> None:
    token = mint(
        issuer, scopes=["read", "write"], claims={"groups": ["a", "b"], "n": 3, "ok": True}
    )
    ctx = run(token, keystore)
    jwt_ctx = ctx.authorizer["jwt"]
    assert jwt_ctx["scopes"] == ["read", "write"]
    claims = jwt_ctx["claims"]
    assert claims["sub"] == "user-1" and claims["custom:tenant_id"] == "t1"
    assert claims["groups"] == "[a b]" and claims["n"] == "3" and claims["ok"] == "true"
    assert isinstance(claims["exp"], str)
    assert ctx.tenant == "t1"


@pytest.mark.parametrize(
    ("case", "kwargs"),
    [
        # times are offsets from the moment the test runs (not from collection: the default
        # suite collects this module minutes before it runs it)
        ("expired", {"issued_at": -7200, "expires_in": 3600}),
        ("not yet valid", {"not_before": +600}),
        ("wrong audience", {"client_id": "someone-else"}),
        ("wrong issuer", {"issuer": "https://evil.example/issuer"}),
        ("iat in the future", {"issued_at": +3600}),
        ("refresh token", {"token_use": "refresh"}),
    ],
)
def test_rejected_claims_are_401(issuer, keystore, case, kwargs) -> None:
    now = int(time.time())
    kwargs = {k: now + v if k in ("issued_at", "not_before") else v for k, v in kwargs.items()}
    assert status_of(mint(issuer, **kwargs), keystore) == 401, case


def test_audience_claim_or_client_id(issuer, keystore) -> None:
    assert status_of(mint(issuer, client_id=None, audience=AUD), keystore) == 200
    assert status_of(mint(issuer, client_id=None, audience=["x", AUD]), keystore) == 200
    assert status_of(mint(issuer, client_id=None, audience="x"), keystore) == 401


def test_tampered_payload_is_401(issuer, keystore) -> None:
    header, payload, signature = mint(issuer).split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["custom:tenant_id"] = "someone-elses-tenant"
    forged = ".".join([header, b64(json.dumps(claims).encode()), signature])
    assert status_of(forged, keystore) == 401


def test_alg_none_is_401(issuer, keystore) -> None:
    claims = {"sub": "x", "iss": ISSUER, "client_id": AUD, "exp": int(time.time()) + 600,
              "custom:tenant_id": "t1"}  # fmt: skip
    for alg in ("none", "None", "NONE"):
        token = f"{b64(json.dumps({'alg': alg, 'kid': issuer.kid}).encode())}.{b64(json.dumps(claims).encode())}."
        assert status_of(token, keystore) == 401


def test_hs256_signed_with_the_public_key_is_401(issuer, keystore) -> None:
    from cryptography.hazmat.primitives import serialization

    pem = issuer.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    claims = {"sub": "x", "iss": ISSUER, "client_id": AUD, "exp": int(time.time()) + 600,
              "custom:tenant_id": "t1"}  # fmt: skip
    signing_input = f"{b64(json.dumps({'alg': 'HS256', 'kid': issuer.kid}).encode())}.{b64(json.dumps(claims).encode())}"
    signature = hmac.new(pem, signing_input.encode(), hashlib.sha256).digest()
    assert status_of(f"{signing_input}.{b64(signature)}", keystore) == 401


def test_unknown_kid_is_401(issuer, keystore) -> None:
    import jwt

    token = jwt.encode(
        {"sub": "x", "iss": ISSUER, "client_id": AUD, "exp": int(time.time()) + 600},
        issuer.private_key,
        algorithm="RS256",
        headers={"kid": "not-a-known-kid"},
    )
    assert status_of(token, keystore) == 401


def test_signed_by_another_key_is_401(tmp_path: Path, keystore) -> None:
    other = LocalIssuer(tmp_path, GATEWAY)  # same issuer URL, different key
    assert status_of(other.mint("u", tenant="t1", client_id=AUD), keystore) == 401


def test_missing_or_garbage_token_is_401(keystore) -> None:
    assert status_of(None, keystore) == 401
    assert status_of("", keystore) == 401
    assert status_of("not.a.jwt", keystore) == 401
    assert status_of("a" * 5000, keystore) == 401


def test_missing_tenant_claim_when_required_is_403(issuer, keystore) -> None:
    assert status_of(issuer.mint("u", client_id=AUD), keystore) == 403


def test_scopes(issuer, keystore) -> None:
    assert status_of(mint(issuer, scopes=["read"]), keystore, scopes=["admin"]) == 403
    assert status_of(mint(issuer), keystore, scopes=["admin"]) == 403
    assert status_of(mint(issuer, scopes=["read", "admin"]), keystore, scopes=["admin"]) == 200
    scp = mint(issuer, claims={"scp": ["admin"]})
    assert status_of(scp, keystore, scopes=["admin", "other"]) == 200


def test_payload_1_0_and_cognito_put_claims_at_authorizer_claims(issuer, keystore) -> None:
    ctx = run(mint(issuer), keystore, payload="1.0")
    assert ctx.authorizer["claims"]["sub"] == "user-1"
    cognito = AuthorizerSpec(name="jwt", type="cognito", issuer=ISSUER)
    ctx = run(mint(issuer, token_use="id"), keystore, auth=cognito, kind="rest", payload="1.0")
    assert ctx.authorizer["claims"]["token_use"] == "id"


def test_bearer_prefix_is_optional() -> None:
    assert bearer_token("Bearer abc") == "abc"
    assert bearer_token("bearer  abc ") == "abc"
    assert bearer_token("abc") == "abc"
    assert bearer_token("") is None and bearer_token(None) is None


def test_stringify_claims() -> None:
    assert stringify_claims({"a": 1, "b": [1, "x"], "c": False, "d": {"k": "v"}}) == {
        "a": "1", "b": "[1 x]", "c": "false", "d": '{"k":"v"}',
    }  # fmt: skip


def test_jwks_urls() -> None:
    from harness.auth.jwks import jwks_url_for

    edge = "http://127.0.0.1:4566"
    cognito = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC"
    expected = f"{edge}/eu-west-1_AbC/.well-known/jwks.json"
    assert jwks_url_for(cognito, None, edge) == expected
    assert jwks_url_for(cognito, f"{cognito}/.well-known/jwks.json", edge) == expected
    assert (
        jwks_url_for("http://idp.local/x", None, edge) == "http://idp.local/x/.well-known/jwks.json"
    )
    assert jwks_url_for("http://a", "http://b/keys", edge) == "http://b/keys"


def test_deploy_leaves_the_jwks_url_to_the_gateway() -> None:
    """The deployer's authorizer spec keeps ``jwks_uri`` as the template says (none): no remote
    ``https://cognito-idp...`` URL is derived for the emulator's pool; ``jwks_url_for`` alone
    turns the issuer into the emulator's JWKS URL."""
    from harness.auth.jwks import jwks_url_for
    from harness.deploy.specs.apis import _authorizer, _authorizer_resource
    from harness.model import ResourceRecord

    cognito = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Pool"
    jwt_scheme = {"x-amazon-apigateway-authorizer": {
        "type": "jwt", "jwtConfiguration": {"issuer": cognito, "audience": ["c1", "c2"]},
        "identitySource": "$request.header.Authorization"}}  # fmt: skip
    pools_scheme = {"x-amazon-apigateway-authorizer": {
        "type": "cognito_user_pools",
        "providerARNs": ["arn:aws:cognito-idp:us-east-1:000000000000:userpool/us-east-1_Pool"]}}  # fmt: skip
    resource = ResourceRecord("Auth", "AWS::ApiGatewayV2::Authorizer", "a1", properties={
        "AuthorizerType": "JWT", "JwtConfiguration": {"Issuer": cognito, "Audience": ["c1"]}})  # fmt: skip
    specs = [_authorizer("a", jwt_scheme, None), _authorizer("b", pools_scheme, None),  # type: ignore[arg-type]
             _authorizer_resource(resource, None)]  # type: ignore[arg-type]  # fmt: skip
    edge = "http://127.0.0.1:4566"
    for spec in specs:
        assert spec is not None and spec.issuer == cognito and spec.jwks_uri is None
        assert jwks_url_for(spec.issuer, spec.jwks_uri, edge) == (
            f"{edge}/us-east-1_Pool/.well-known/jwks.json"
        )
    assert specs[0].audience == ["c1", "c2"]
