"""Real tokens from the emulator's Cognito (MiniStack) verified by the gateway's JWT code.

Checks what MiniStack really supports: AdminInitiateAuth (ADMIN_USER_PASSWORD_AUTH),
InitiateAuth (USER_PASSWORD_AUTH), the client-credentials flow on ``/oauth2/token``, RS256
tokens with a JWKS at ``/{pool_id}/.well-known/jwks.json``, and custom attributes in the ID
token; and that ``harness token`` gets a Cognito token for a stack with a Cognito authorizer.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time
from pathlib import Path

import jwt
import pytest

from harness.auth.jwks import KeyStore
from harness.config import Settings
from harness.gateway.jwks_fetch import PooledJwksFetch
from harness.gateway.jwt_auth import JwtRejected, check_claims, verify_token
from harness.model import ApiSpec, AuthorizerSpec, DeployedStack, IntegrationSpec, RouteSpec
from harness.tokens import cognito_client_credentials, cognito_user_tokens, token_for_stack
from tests.fixtures.gateway.env import free_port, wait_http

VENDOR_PYTHON = Settings.load().resolved_vendor_dir / "venvs" / "ministack" / "bin" / "python"
PYTHON = Path(os.environ.get("HARNESS_TEST_MINISTACK_PYTHON") or VENDOR_PYTHON)


def _signs_tokens(python: Path) -> bool:
    """MiniStack signs Cognito tokens only when ``cryptography`` is importable in its venv;
    without it the JWKS is a static dummy key and signatures are random bytes."""
    if not python.exists():
        return False
    check = subprocess.run([str(python), "-c", "import cryptography"], capture_output=True)
    return check.returncode == 0


pytestmark = [pytest.mark.integration]
needs_signing_ministack = pytest.mark.skipif(
    not _signs_tokens(PYTHON),
    reason="MiniStack missing, or installed without `cryptography` (its Cognito then signs "
    "nothing); set HARNESS_TEST_MINISTACK_PYTHON to a MiniStack venv that has it",
)


def _start(python: Path, tmp: Path) -> tuple[subprocess.Popen[bytes], dict]:
    port = free_port()
    tmp.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "GATEWAY_PORT": str(port), "BIND_HOST": "127.0.0.1",
           "MINISTACK_REGION": "us-east-1", "LOG_LEVEL": "WARNING", "TMPDIR": str(tmp),
           "S3_DATA_DIR": str(tmp / "s3")}  # fmt: skip
    proc = subprocess.Popen(
        [str(python), "-m", "ministack"], env=env, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, cwd=str(tmp),
    )  # fmt: skip
    try:
        wait_http(port, "/_ministack/health", timeout=60)
    except BaseException:
        proc.terminate()
        proc.wait(timeout=15)
        raise
    return proc, {"aws_endpoint": f"http://127.0.0.1:{port}", "region": "us-east-1"}


@pytest.fixture(scope="module")
def ministack(tmp_path_factory: pytest.TempPathFactory):
    if not _signs_tokens(PYTHON):
        pytest.skip("no MiniStack that signs tokens")
    proc, endpoints = _start(PYTHON, tmp_path_factory.mktemp("ministack"))
    try:
        yield endpoints
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def _make_pool(endpoints: dict) -> dict:
    from harness.aws import client_for

    idp = client_for(endpoints, "cognito-idp")
    pool_id = idp.create_user_pool(
        PoolName="tenants",
        Schema=[{"Name": "tenant_id", "AttributeDataType": "String", "Mutable": True}],
    )["UserPool"]["Id"]
    client_id = idp.create_user_pool_client(
        UserPoolId=pool_id,
        ClientName="app",
        ExplicitAuthFlows=["ALLOW_ADMIN_USER_PASSWORD_AUTH", "ALLOW_USER_PASSWORD_AUTH",
                           "ALLOW_REFRESH_TOKEN_AUTH"],
    )["UserPoolClient"]["ClientId"]  # fmt: skip
    idp.create_resource_server(
        UserPoolId=pool_id, Identifier="orders", Name="orders",
        Scopes=[{"ScopeName": "read", "ScopeDescription": "read"}],
    )  # fmt: skip
    machine = idp.create_user_pool_client(
        UserPoolId=pool_id, ClientName="machine", GenerateSecret=True,
        AllowedOAuthFlows=["client_credentials"], AllowedOAuthScopes=["orders/read"],
        AllowedOAuthFlowsUserPoolClient=True,
    )["UserPoolClient"]  # fmt: skip
    return {"pool_id": pool_id, "client_id": client_id, "machine": machine}


@pytest.fixture(scope="module")
def pool(ministack):
    return _make_pool(ministack)


def verify(token: str, ministack: dict, pool_id: str, audience: list[str]) -> dict:
    fetch = PooledJwksFetch()  # the gateway's fetch
    keystore = KeyStore(Path("/nonexistent"), fetch=fetch)
    keystore.aws_endpoint = ministack["aws_endpoint"]
    issuer = f"https://cognito-idp.us-east-1.amazonaws.com/{pool_id}"

    async def go() -> dict:
        try:
            claims = await verify_token(token, issuer=issuer, jwks_uri=None, keystore=keystore)
        finally:
            await fetch.aclose()
        check_claims(claims, issuer=issuer, audience=audience, now=time.time())
        return claims

    return asyncio.run(go())


@needs_signing_ministack
def test_user_password_sign_in_tokens_verify(ministack, pool) -> None:
    result = cognito_user_tokens(
        ministack, pool["pool_id"], pool["client_id"], "alice", "Passw0rd!Passw0rd",
        attributes={"custom:tenant_id": "t-1", "email": "alice@example.com"},
    )  # fmt: skip
    assert jwt.get_unverified_header(result["AccessToken"])["alg"] == "RS256"
    access = verify(result["AccessToken"], ministack, pool["pool_id"], [pool["client_id"]])
    assert access["token_use"] == "access" and access["client_id"] == pool["client_id"]
    assert "custom:tenant_id" not in access  # as on AWS: custom attributes only in the ID token
    id_claims = verify(result["IdToken"], ministack, pool["pool_id"], [pool["client_id"]])
    assert id_claims["custom:tenant_id"] == "t-1" and id_claims["aud"] == pool["client_id"]
    with pytest.raises(JwtRejected):
        verify(result["IdToken"], ministack, pool["pool_id"], ["another-client"])


@needs_signing_ministack
def test_client_credentials_flow(ministack, pool) -> None:
    machine = pool["machine"]
    result = cognito_client_credentials(
        ministack, machine["ClientId"], machine["ClientSecret"], ["orders/read"]
    )
    claims = verify(result["access_token"], ministack, pool["pool_id"], [machine["ClientId"]])
    assert claims["scope"] == "orders/read" and claims["token_use"] == "access"


def _cognito_stack(pool: dict, tmp_path: Path, endpoints: dict) -> None:
    issuer = f"https://cognito-idp.us-east-1.amazonaws.com/{pool['pool_id']}"
    api = ApiSpec(
        logical_id="Api", kind="http", api_id="a1", stage="$default", base_url="",
        routes=[RouteSpec("GET", "/x", IntegrationSpec(type="lambda", function="F"),
                          authorizer="cognito")],
        authorizers={"cognito": AuthorizerSpec("cognito", "jwt", issuer=issuer,
                                                audience=[pool["client_id"]])},
    )  # fmt: skip
    stack = DeployedStack(
        name="shop", stack_dir="/tmp", template_path="", deployed_at=0.0, apis={"Api": api},
        profile={"tenancy": {"tenant_claim": "custom:tenant_id"}},
    )  # fmt: skip
    stack.save(tmp_path)
    (tmp_path / "state.json").write_text(
        json.dumps({"endpoints": {**endpoints, "gateway_url": "http://127.0.0.1:9"}})
    )


@needs_signing_ministack
def test_harness_token_for_a_cognito_stack(ministack, pool, tmp_path: Path) -> None:
    _cognito_stack(pool, tmp_path, ministack)
    result = token_for_stack(tmp_path, "shop", "t-9", user="bob")
    assert result.source == "cognito" and result.token_use == "id"
    claims = verify(result.token, ministack, pool["pool_id"], [pool["client_id"]])
    assert claims["custom:tenant_id"] == "t-9" and claims["cognito:username"] == "bob"


@pytest.mark.skipif(
    not VENDOR_PYTHON.exists() or _signs_tokens(VENDOR_PYTHON),
    reason="needs the harness's MiniStack without `cryptography`",
)
def test_unsigned_emulator_tokens_fall_back_to_the_local_issuer(tmp_path: Path) -> None:
    proc, endpoints = _start(VENDOR_PYTHON, tmp_path / "ms")
    try:
        pool = _make_pool(endpoints)
        _cognito_stack(pool, tmp_path, endpoints)
        result = token_for_stack(tmp_path, "shop", "t-9", user="bob")
    finally:
        proc.terminate()
        proc.wait(timeout=15)
    assert result.source == "local-issuer-fallback"
    assert "cryptography" in result.note
    claims = jwt.decode(result.token, options={"verify_signature": False})
    assert claims["iss"] == "http://127.0.0.1:9/_harness/issuer"
    assert claims["custom:tenant_id"] == "t-9"
