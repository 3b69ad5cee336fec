"""Token forging and data-layer invariants, without processes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from harness.auth.claims import jwt_parts as _parts
from harness.auth.forge import CASES, forge_tokens
from harness.errors import ConfigError
from harness.isolation.datalayer import Snapshot, check_data, pattern_tenants
from harness.isolation.spec import DataRules, load_spec

KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _valid() -> str:
    claims = {"sub": "u1", "iss": "https://issuer.local", "aud": "app", "tenant_id": "acme",
              "iat": 1_000, "exp": 9_999_999_999}  # fmt: skip
    return jwt.encode(claims, KEY, algorithm="RS256", headers={"kid": "k1"})


def _verify(token: str) -> dict[str, Any]:
    return dict(
        jwt.decode(
            token,
            KEY.public_key(),
            algorithms=["RS256"],
            audience="app",
            issuer="https://issuer.local",
        )
    )


def test_every_forged_token_fails_real_verification() -> None:
    forged = forge_tokens(_valid(), KEY, tenant_claim="tenant_id", other_tenant="globex")
    assert set(forged) == set(CASES)
    assert _verify(_valid())["tenant_id"] == "acme"  # the control verifies
    for name, token in forged.items():
        with pytest.raises(jwt.PyJWTError):
            _verify(token)
        assert token != _valid(), name


def test_forged_tokens_carry_the_tampering_they_claim() -> None:
    forged = forge_tokens(_valid(), KEY, tenant_claim="tenant_id", other_tenant="globex", now=5_000)
    assert _parts(forged["alg-none"])[0]["alg"] == "none"
    assert forged["alg-none"].endswith(".")
    assert _parts(forged["hs256-public-key"])[0]["alg"] == "HS256"
    assert _parts(forged["tenant-swapped"])[1]["tenant_id"] == "globex"
    assert forged["tenant-swapped"].split(".")[2] == _valid().split(".")[2]  # signature kept
    assert _parts(forged["expired"])[1]["exp"] < 5_000
    assert _parts(forged["not-yet-valid"])[1]["nbf"] > 5_000
    assert _parts(forged["wrong-audience"])[1]["aud"] == "not-this-client"
    assert _parts(forged["other-issuer-pool"])[0]["kid"] == "other-pool-key"


def test_tenant_pattern_matches_whole_ids_only() -> None:
    tenants = ["acme", "acme-corp", "acme#x"]
    assert pattern_tenants("TENANT#{tenant}#*", "TENANT#acme-corp#ORDER", tenants) == ["acme-corp"]
    # a separator inside a tenant id makes the partition ambiguous: both match
    assert pattern_tenants("TENANT#{tenant}#*", "TENANT#acme#x#ORDER", tenants) == [
        "acme",
        "acme#x",
    ]
    assert pattern_tenants("TENANT#{tenant}#*", "ORDER#1", tenants) == []


RULES = DataRules.model_validate(
    {
        "dynamodb": [{"table": "T", "key": "PK", "pattern": "TENANT#{tenant}#*"}],
        "redis": [{"pattern": "cache:*", "must_contain": "{tenant}"}],
        "iam": {"role": "R", "table": "T", "principal_tag": "TenantId"},
    }
)
POLICY = {
    "Statement": [
        {
            "Effect": "Allow",
            "Action": ["dynamodb:GetItem", "dynamodb:PutItem"],
            "Resource": "arn:aws:dynamodb:us-east-1:000000000000:table/t",
            "Condition": {
                "ForAllValues:StringLike": {
                    "dynamodb:LeadingKeys": ["TENANT#${aws:PrincipalTag/TenantId}*"]  # no separator
                }
            },
        }
    ]
}


def _snap(items: list[tuple[str, str]], keys: list[str]) -> Snapshot:
    return Snapshot(
        {"dynamodb T.PK": set(items), "redis cache:*": {(k, "") for k in keys}},
    )


def test_data_layer_flags_cache_keys_without_tenant_and_misplaced_items() -> None:
    before = _snap([], [])
    after = _snap(
        [
            ("TENANT#acme#ORDER", json.dumps({"id": "o1"})),
            ("TENANT#globex#ORDER", json.dumps({"id": "o2"})),  # o2 was created by acme
            ("ORDER#o3", "{}"),
        ],
        ["cache:acme:o1", "cache:o9"],
    )
    figures, violations = check_data(
        RULES, before, after, ["acme", "globex"], {"o1": "acme", "o2": "acme"}
    )
    text = "\n".join(violations)
    assert "'ORDER#o3' carries no tenant's partition" in text
    assert "created by acme inside the partition of globex" in text
    assert "'cache:o9' carries no tenant's partition" in text
    assert "cache:acme:o1" not in text
    assert figures["dynamodb T.PK"] == {"new_records": 3, "violations": 2}


def test_iam_evaluator_finds_the_prefix_wildcard_bug() -> None:
    before = _snap([], [])
    after = _snap([("TENANT#acme-corp#ORDER", "{}")], [])
    arn = "arn:aws:dynamodb:us-east-1:000000000000:table/t"
    _, violations = check_data(
        RULES, before, after, ["acme", "acme-corp"], {}, policies=[POLICY], table_arn=arn
    )
    assert any("allowed for TenantId='acme'" in v for v in violations), violations
    fixed = json.loads(json.dumps(POLICY).replace("TenantId}*", "TenantId}#*"))
    _, violations = check_data(
        RULES, before, after, ["acme", "acme-corp"], {}, policies=[fixed], table_arn=arn
    )
    assert violations == []


def test_a_bad_isolation_section_names_file_line_and_field(tmp_path: Path) -> None:
    (tmp_path / "harness.yaml").write_text(
        "name: x\nisolation:\n  resources:\n    order:\n      read: {path: '/o/{id}'}\n"
        "  data:\n    dynamodb: [{table: T, key: PK, pattern: 'ORDER#*'}]\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_spec(tmp_path)
    message = str(caught.value)
    assert "harness.yaml" in message and "line" in message and "isolation" in message
    assert "{tenant}" in message
