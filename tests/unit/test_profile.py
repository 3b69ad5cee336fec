from pathlib import Path

import pytest

from harness.errors import ConfigError
from harness.profile import load_profile


def test_missing_file_is_an_empty_profile(tmp_path: Path) -> None:
    assert load_profile(tmp_path / "harness.yaml").tenants == []


def test_a_full_profile(tmp_path: Path) -> None:
    path = tmp_path / "harness.yaml"
    path.write_text(
        """
name: catalog
api: CatalogApi
tenancy:
  tenant_claim: custom:tenant_id
  tier_claim: custom:tier
  tiers:
    basic: {rate: 10, burst: 20, quota: 100000}
    premium: PremiumPlan
tenants:
  - {id: t-basic, tier: basic, users: 2}
  - {id: t-premium, tier: premium}
traffic:
  default: nominal
  mixes:
    nominal:
      requests:
        - {name: list, path: /catalog, auth: bearer}
slos: ["p99 < 3000ms"]
alarms:
  - {name: 5xx, metric: error_rate, op: ">", threshold: 0.05}
"""
    )
    profile = load_profile(path)
    assert [t.id for t in profile.all_tenants()] == ["t-basic", "t-premium"]
    assert profile.tenancy.tiers["premium"] == "PremiumPlan"


def test_errors_name_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "harness.yaml"
    path.write_text("name: x\nauth:\n  issuer: okta\ntenants:\n  - {tier: basic}\n")
    with pytest.raises(ConfigError) as info:
        load_profile(path)
    text = str(info.value)
    assert "line 3, field auth.issuer" in text
    assert "line 5, field tenants[0].id" in text


def test_unknown_tier_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "harness.yaml"
    path.write_text("tenancy:\n  tiers: {basic: {rate: 1}}\ntenants:\n  - {id: a, tier: gold}\n")
    with pytest.raises(ConfigError, match="tier 'gold'"):
        load_profile(path)


def test_default_mix_must_exist(tmp_path: Path) -> None:
    path = tmp_path / "harness.yaml"
    path.write_text("traffic:\n  default: peak\n  mixes: {nominal: {requests: []}}\n")
    with pytest.raises(ConfigError, match="default mix 'peak'"):
        load_profile(path)
