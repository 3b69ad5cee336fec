"""The local token issuer and ``harness token`` for local-issuer stacks."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import jwt
import pytest

from harness.cli.token import run as cmd_token
from harness.tokens import LocalIssuer, jwk_thumbprint, token_for_stack

GATEWAY = "http://127.0.0.1:4567"


def test_key_is_generated_once_and_kept(tmp_path: Path) -> None:
    first = LocalIssuer(tmp_path, GATEWAY)
    second = LocalIssuer(tmp_path, GATEWAY)
    assert first.kid == second.kid == jwk_thumbprint(first.jwk)
    assert (tmp_path / "issuer" / "private.pem").exists()
    assert (tmp_path / "issuer" / "private.pem").stat().st_mode & 0o077 == 0


def test_minted_token_verifies_against_the_jwks(tmp_path: Path) -> None:
    issuer = LocalIssuer(tmp_path, GATEWAY)
    token = issuer.mint(
        "user-1", tenant="t1", tier="basic", scopes=["a", "b"], client_id="app", expires_in=60
    )
    jwks = issuer.jwks()
    assert jwks["keys"][0]["alg"] == "RS256" and jwks["keys"][0]["kid"] == issuer.kid
    key = jwt.algorithms.RSAAlgorithm.from_jwk(jwks["keys"][0])
    claims = jwt.decode(token, key, algorithms=["RS256"], issuer=f"{GATEWAY}/_harness/issuer")
    assert claims["custom:tenant_id"] == "t1" and claims["custom:tier"] == "basic"
    assert claims["scope"] == "a b" and claims["client_id"] == "app"
    assert claims["token_use"] == "access" and 55 <= claims["exp"] - time.time() <= 61
    assert jwt.get_unverified_header(token)["kid"] == issuer.kid
    config = issuer.openid_configuration()
    assert config["jwks_uri"] == f"{GATEWAY}/_harness/issuer/.well-known/jwks.json"


def test_token_for_a_local_issuer_stack(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sys.path.insert(0, str(Path(__file__).parents[1] / "fixtures" / "gateway"))
    from tests.fixtures.gateway.stack import build_stack

    (tmp_path / "state.json").write_text(json.dumps({"endpoints": {"gateway_url": GATEWAY}}))
    build_stack(GATEWAY, "shop").save(tmp_path)
    result = token_for_stack(tmp_path, "shop", "tenant-premium", user="alice")
    assert result.source == "local-issuer"
    claims = jwt.decode(result.token, options={"verify_signature": False})
    assert claims["sub"] == "alice" and claims["custom:tenant_id"] == "tenant-premium"
    assert claims["custom:tier"] == "premium"  # from the profile's tenants
    assert "admin" in claims["scope"].split()  # scopes the stack's routes require
    assert claims["client_id"] == "client-app"
    args = SimpleNamespace(stack="shop", tenant="t9", user=None, scope=["x"], state_dir=tmp_path)
    assert cmd_token(args) == 0
    printed = capsys.readouterr().out.strip()
    assert jwt.decode(printed, options={"verify_signature": False})["scope"] == "x"


def test_unknown_stack_is_a_config_error(tmp_path: Path) -> None:
    from harness.errors import ConfigError

    with pytest.raises(ConfigError):
        token_for_stack(tmp_path, "nope", "t1")


# -- auth.issuer: cognito, and the Cognito trigger wiring (fakes of the emulator's APIs) --------


class _NotFound(Exception):
    pass


class FakeLambda:
    """The emulator's Lambda API as far as the trigger wiring uses it."""

    exceptions = SimpleNamespace(ResourceNotFoundException=_NotFound)

    def __init__(self) -> None:
        self.functions: dict[str, dict] = {}
        self.calls: list[str] = []

    def get_function_configuration(self, FunctionName: str) -> dict:
        if FunctionName not in self.functions:
            raise _NotFound(FunctionName)
        return self.functions[FunctionName]

    def create_function(self, **kw: object) -> None:
        self.calls.append("create")
        self.functions[str(kw["FunctionName"])] = dict(kw)

    def update_function_configuration(self, **kw: object) -> None:
        self.calls.append("update")
        self.functions[str(kw["FunctionName"])].update(kw)


class FakeCognito:
    def __init__(self) -> None:
        self.pools: dict[str, dict] = {"us-east-1_p": {"Id": "us-east-1_p"}}
        self.updates = 0

    def describe_user_pool(self, UserPoolId: str) -> dict:
        return {"UserPool": dict(self.pools[UserPoolId])}

    def update_user_pool(self, UserPoolId: str, **kw: object) -> None:
        self.updates += 1
        self.pools[UserPoolId].update(kw)


def _trigger_stack(triggers: dict | None) -> object:
    from harness.model import DeployedStack, FunctionSpec, ResourceRecord

    arn = "arn:aws:lambda:us-east-1:000000000000:function:shop-Claims-1"
    pool = ResourceRecord("Pool", "AWS::Cognito::UserPool", "us-east-1_p",
                          attributes={"Triggers": triggers},
                          properties={"UserPoolTier": "ESSENTIALS"})  # fmt: skip
    fn = FunctionSpec("Claims", "shop-Claims-1", arn, "app.handler", "python3.11", "/x", timeout=5)
    return DeployedStack(name="shop", stack_dir="/stacks/shop", template_path="", deployed_at=0.0,
                         resources={"Pool": pool}, functions={"Claims": fn})  # fmt: skip


@pytest.fixture
def fakes(monkeypatch: pytest.MonkeyPatch) -> tuple[FakeCognito, FakeLambda]:
    import harness.aws

    idp, lam = FakeCognito(), FakeLambda()
    monkeypatch.setattr(
        harness.aws,
        "client_for",
        lambda ep, service, **kw: idp if service == "cognito-idp" else lam,
    )
    return idp, lam


def test_trigger_arns_reads_plain_and_versioned_triggers() -> None:
    from harness.cognito_triggers import trigger_arns

    config = {"PreSignUp": "arn:aws:lambda:r:1:function:a", "KMSKeyID": "arn:aws:kms:r:1:key/k",
              "PreTokenGenerationConfig": {"LambdaArn": "arn:aws:lambda:r:1:function:b",
                                           "LambdaVersion": "V3_0"}}  # fmt: skip
    assert sorted(trigger_arns(config)) == [
        "arn:aws:lambda:r:1:function:a", "arn:aws:lambda:r:1:function:b"
    ]  # fmt: skip
    assert list(trigger_arns(None)) == []


def test_pool_triggers_are_proxied_to_the_runtime_once(fakes: tuple) -> None:
    from harness.cognito_triggers import PROXY_ENV_VAR, wire_pool_triggers

    idp, lam = fakes
    config = {"PreTokenGenerationConfig": {
        "LambdaArn": "arn:aws:lambda:us-east-1:000000000000:function:shop-Claims-1",
        "LambdaVersion": "V3_0"}}  # fmt: skip
    endpoints = {"runtime_url": "http://127.0.0.1:9001/", "account_id": "000000000000"}
    stack = _trigger_stack(config)
    assert wire_pool_triggers(endpoints, stack) == ["shop-Claims-1"]
    proxy = lam.functions["shop-Claims-1"]
    url = "http://127.0.0.1:9001/_harness/runtime/proxy/shop-Claims-1"
    assert proxy["Environment"]["Variables"][PROXY_ENV_VAR] == url and proxy["Timeout"] == 7
    assert idp.pools["us-east-1_p"]["LambdaConfig"] == config
    assert idp.pools["us-east-1_p"]["UserPoolTier"] == "ESSENTIALS"
    wire_pool_triggers(endpoints, stack)  # idempotent: nothing re-created or re-set
    assert lam.calls == ["create"] and idp.updates == 1
    moved = {**endpoints, "runtime_url": "http://127.0.0.1:9002"}  # a new `harness up`
    wire_pool_triggers(moved, stack)
    assert lam.calls == ["create", "update"]
    assert "9002" in lam.functions["shop-Claims-1"]["Environment"]["Variables"][PROXY_ENV_VAR]


def test_a_trigger_outside_the_stack_is_an_error_and_no_runtime_wires_nothing(
    fakes: tuple,
) -> None:
    from harness.cognito_triggers import wire_pool_triggers
    from harness.errors import HarnessError

    stranger = _trigger_stack({"PreSignUp": "arn:aws:lambda:us-east-1:1:function:elsewhere"})
    with pytest.raises(HarnessError, match="none of the stack's functions"):
        wire_pool_triggers({"runtime_url": "http://127.0.0.1:1"}, stranger)
    assert wire_pool_triggers({}, stranger) == []
    assert wire_pool_triggers({"runtime_url": "http://x"}, _trigger_stack(None)) == []


def _cognito_profile_stack(tmp_path: Path, clients: dict[str, str], auth: dict) -> None:
    from harness.model import DeployedStack, ResourceRecord

    resources = {"Pool": ResourceRecord("Pool", "AWS::Cognito::UserPool", "us-east-1_p")}
    for logical, name in clients.items():
        resources[logical] = ResourceRecord(
            logical, "AWS::Cognito::UserPoolClient", f"id-{logical}",
            attributes={"ClientSecret": "s3cret"},
            properties={"UserPoolId": "us-east-1_p", "ClientName": name,
                        "AllowedOAuthFlows": ["client_credentials"]},
        )  # fmt: skip
    DeployedStack(name="shop", stack_dir=str(tmp_path), template_path="", deployed_at=0.0,
                  resources=resources, profile={"auth": auth}).save(tmp_path)  # fmt: skip
    (tmp_path / "state.json").write_text(
        json.dumps({"endpoints": {"gateway_url": GATEWAY, "aws_endpoint": "http://127.0.0.1:1"}})
    )


def test_cognito_issuer_uses_the_tenants_own_client(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import harness.auth.stack as tokens

    _cognito_profile_stack(tmp_path, {"A": "t-a", "B": "t-b"},
                           {"issuer": "cognito", "user_pool": "Pool"})  # fmt: skip
    issuer = LocalIssuer(tmp_path / "other", GATEWAY)  # a stand-in signer for the fake grant
    asked: list[tuple[str, str, list[str]]] = []

    def grant(endpoints: dict, client_id: str, secret: str, scopes: list[str]) -> dict:
        asked.append((client_id, secret, list(scopes)))
        tenant = {"id-A": "t-a", "id-B": "t-b"}[client_id]
        claims = {"custom:tenant_id": tenant} if client_id == "id-A" else {}
        return {"access_token": issuer.mint(client_id, client_id=client_id, claims=claims)}

    monkeypatch.setattr(tokens, "cognito_client_credentials", grant)
    monkeypatch.setattr(tokens, "cognito_signature_problem", lambda *a: "")
    found = token_for_stack(tmp_path, "shop", "t-a", scopes=["r"])
    assert (found.source, found.token_use) == ("cognito", "access")
    assert asked == [("id-A", "s3cret", ["r"])] and "ClientName t-a" in found.note
    # a token without the tenant claim (the trigger did not run) is asked for again, then an
    # error, not a token
    waits: list[float] = []
    monkeypatch.setattr(tokens.time, "sleep", waits.append)
    asked.clear()
    with pytest.raises(tokens.TokenError, match="not the tenant"):
        token_for_stack(tmp_path, "shop", "t-b")
    assert len(asked) == 4 and waits == [0.5, 1.0, 2.0]
    # a badly signed one too
    monkeypatch.setattr(tokens, "cognito_signature_problem", lambda *a: "Signature failed")
    with pytest.raises(tokens.TokenError, match="cryptography"):
        token_for_stack(tmp_path, "shop", "t-a")


def test_a_trigger_that_timed_out_once_is_retried(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import harness.auth.stack as tokens

    _cognito_profile_stack(tmp_path, {"A": "t-a"}, {"issuer": "cognito", "user_pool": "Pool"})
    issuer = LocalIssuer(tmp_path / "other", GATEWAY)
    calls: list[int] = []

    def grant(endpoints: dict, client_id: str, secret: str, scopes: list[str]) -> dict:
        calls.append(1)  # the first grant's trigger timed out: no tenant claim
        claims = {"custom:tenant_id": "t-a"} if len(calls) > 1 else {}
        return {"access_token": issuer.mint(client_id, client_id=client_id, claims=claims)}

    monkeypatch.setattr(tokens, "cognito_client_credentials", grant)
    monkeypatch.setattr(tokens, "cognito_signature_problem", lambda *a: "")
    monkeypatch.setattr(tokens.time, "sleep", lambda s: None)
    assert token_for_stack(tmp_path, "shop", "t-a").source == "cognito"
    assert len(calls) == 2


def test_cognito_issuer_without_a_client_for_the_tenant_is_a_config_error(tmp_path: Path) -> None:
    from harness.errors import ConfigError

    _cognito_profile_stack(tmp_path, {"A": "t-a"}, {"issuer": "cognito", "user_pool": "Pool"})
    with pytest.raises(ConfigError, match="ClientName: t-z") as info:
        token_for_stack(tmp_path, "shop", "t-z")
    assert "auth.client" in str(info.value) and "harness.yaml" in str(info.value)
    _cognito_profile_stack(tmp_path, {"A": "t-a"}, {"issuer": "cognito", "user_pool": "Nope"})
    with pytest.raises(ConfigError, match=r"auth\.user_pool"):
        token_for_stack(tmp_path, "shop", "t-a")
