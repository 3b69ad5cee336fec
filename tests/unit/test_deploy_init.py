"""``harness init``: routes, authorizers, the tenant claim and a loadable profile and scenario."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from harness.deploy.init import init_stack
from harness.errors import DeployError
from harness.load.profile import TrafficMix
from harness.profile import load_profile
from harness.scenario.loader import load_scenario

SAMAPP = Path(__file__).resolve().parents[1] / "fixtures" / "deploy" / "samapp"


def _copy(tmp_path: Path, source: Path) -> Path:
    target = tmp_path / source.name
    shutil.copytree(source, target)
    (target / "harness.yaml").unlink(missing_ok=True)
    return target


def test_init_reads_routes_authorizer_and_the_tenant_claim(tmp_path: Path) -> None:
    folder = _copy(tmp_path, SAMAPP)
    (folder / "src" / "api" / "tenancy.py").write_text(
        'def tenant(event):\n    return event["requestContext"]["authorizer"]["jwt"]'
        '["claims"]["custom:tenant_id"]\n'
    )
    result = init_stack(folder)
    assert result.api == "OrdersApi"
    assert {(r.method, r.path) for r in result.routes} >= {
        ("GET", "/orders/{id}"),
        ("POST", "/orders"),
    }
    assert result.authorizers == {"OrdersJwt": "jwt"}
    assert result.tenant_claim == "custom:tenant_id"
    profile = load_profile(folder / "harness.yaml")  # valid as written
    assert profile.api == "OrdersApi" and profile.auth.issuer == "local"
    mix = TrafficMix.model_validate(profile.traffic.mixes["routes"])  # as the load reads it
    requests = {r.name: r for r in mix.requests}
    get = requests["get_orders_id"]
    assert (get.path, get.auth, get.weight) == ("/orders/{uuid}", "bearer", 5)
    assert requests["post_orders"].json_body == {}
    assert "# isolation:" in (folder / "harness.yaml").read_text()
    scenario = load_scenario(folder / "smoke.yaml")
    assert scenario.stacks == ["."]


def test_init_never_overwrites_without_force(tmp_path: Path) -> None:
    folder = _copy(tmp_path, SAMAPP)
    (folder / "harness.yaml").write_text("name: mine\n")
    with pytest.raises(DeployError, match="already exists"):
        init_stack(folder)
    assert (folder / "harness.yaml").read_text() == "name: mine\n"
    init_stack(folder, force=True)
    assert "Written by `harness init`" in (folder / "harness.yaml").read_text()
