"""The local token issuer and ``harness token`` for local-issuer stacks."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import jwt
import pytest

from harness.tokens import LocalIssuer, jwk_thumbprint, token_for_stack
from harness.tokens_cli import cmd_token

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
