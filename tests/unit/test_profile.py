from pathlib import Path

import pytest
from pydantic import ValidationError

from harness.errors import ConfigError
from harness.profile import Profile, load_fixtures, load_profile


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


FIXTURES = """name: s
fixtures:
  module: fixtures/seed.py
  fake_servers:
    providers:
      command: ["{python}", "{stack_dir}/fakes/p.py", "--port", "{port}"]
      health: /_control/health
      parameter: ProviderBaseUrl
      env: {LOG_DIR: "{stack_dir}/logs"}
"""


def test_fixtures_are_typed(tmp_path: Path) -> None:
    path = tmp_path / "harness.yaml"
    path.write_text(FIXTURES)
    fixtures = load_profile(path).fixtures
    assert fixtures.module == "fixtures/seed.py" and fixtures.function == "seed"
    server = fixtures.fake_servers["providers"]
    assert server.parameter == "ProviderBaseUrl" and server.startup_timeout == 15.0
    assert load_fixtures(path) == fixtures


@pytest.mark.parametrize(
    ("old", "new", "line", "field", "words"),
    [
        ('"--port", "{port}"', '"--port", "{prot}"', 6, "command", ["{prot}", "{port}"]),
        ('"--port", "{port}"', '"--port", "8080"', 6, "command", ["add '{port}'"]),
        ("/_control/health", "_control/health", 7, "health", ["start it with '/'"]),
        ("fixtures/seed.py", "../seed.py", 3, "module", ["inside the stack folder"]),
        ("fixtures/seed.py", "fixtures/seed.txt", 3, "module", [".py file"]),
        ('"{stack_dir}/logs"', '"{home}/logs"', 9, "env", ["{home}"]),
        ("    providers:", "    bad name:", 4, "fake_servers", ["letters, digits"]),
        ("      env:", "      startup: 3\n      env:", 9, "providers.startup", ["Extra inputs"]),
    ],
)
def test_fixture_errors_name_line_and_field(
    tmp_path: Path, old: str, new: str, line: int, field: str, words: list[str]
) -> None:
    path = tmp_path / "harness.yaml"
    path.write_text(FIXTURES.replace(old, new))
    with pytest.raises(ConfigError) as info:
        load_fixtures(path)
    text = str(info.value)
    assert str(path) in text and f"line {line}, field fixtures." in text
    assert field in text.split(f"line {line}, field ")[1].split(":")[0]
    for word in words:
        assert word in text


def test_fixtures_alone_ignore_other_sections(tmp_path: Path) -> None:
    """Deploy reads only ``fixtures``: a section another tool validates does not stop it."""
    path = tmp_path / "harness.yaml"
    path.write_text(FIXTURES + "isolation: {anything: goes}\nnot_a_section: 1\n")
    assert load_fixtures(path).fake_servers["providers"].health == "/_control/health"
    assert load_fixtures(tmp_path / "missing.yaml").fake_servers == {}


def test_roles_name_users_of_the_tenants() -> None:
    base = {"tenants": [{"id": "acme", "users": ["alice", "bob"]}]}
    profile = Profile.model_validate({**base, "roles": {"admin": ["alice"], "member": ["bob"]}})
    assert profile.roles == {"admin": ["alice"], "member": ["bob"]}
    with pytest.raises(ValidationError, match="role 'admin' names mallory"):
        Profile.model_validate({**base, "roles": {"admin": ["alice", "mallory"]}})


def test_one_tenancy_model_reads_a_stored_profile() -> None:
    """``Tenancy.from_profile`` (gateway, ``harness token``, isolation) is the profile's model:
    top-level tenants win, ``auth.trust_local_issuer`` rides along, bad fields are refused."""
    from harness.profile import Tenancy

    stored = {
        "tenancy": {"tenant_claim": "tid", "default_tier": "basic",
                    "tiers": {"basic": "BasicPlan", "gold": {"rate": 5, "quota": 10}},
                    "tenants": [{"id": "a", "tier": "gold"}, {"id": "b", "tier": "gold"}]},
        "tenants": [{"id": "b", "tier": "basic"}, {"id": "c"}],
        "auth": {"trust_local_issuer": True},
    }  # fmt: skip
    tenancy = Tenancy.from_profile(stored)
    assert [t.id for t in tenancy.tenants] == ["a", "b", "c"]
    assert (tenancy.tier_of("a"), tenancy.tier_of("b"), tenancy.tier_of("c")) == (
        "gold", "basic", "basic"
    )  # fmt: skip
    assert tenancy.trust_local_issuer and tenancy.tier_plans == {"basic": "BasicPlan"}
    gold = tenancy.inline_plans["gold"]
    assert gold.throttle is not None and (gold.throttle.rate, gold.throttle.burst) == (5.0, 1)
    assert (gold.quota_limit, gold.quota_period) == (10, "MONTH")
    assert not Tenancy.from_profile(None).trust_local_issuer
    with pytest.raises(
        ConfigError, match=r"(?s)stacks/x/harness.yaml.*tenancy.require_tenant"
    ) as info:
        Tenancy.from_profile({"tenancy": {"require_tenant": "maybe"}}, "stacks/x/harness.yaml")
    assert info.value.field == "tenancy.require_tenant"
    with pytest.raises(ConfigError, match=r"field tenants\[0\]\.id"):
        Tenancy.from_profile({"tenants": [{"tier": "basic"}]})
