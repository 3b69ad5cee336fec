"""The catalog stack's ``harness.yaml`` and template, checked without a backend.

The profile validates, its tiers are the seed's usage plans, its traffic mixes are valid load
mixes whose rendered requests hit the template's routes and get the expected answers from the
handlers (in-process, against the seed data), and the template passes every deploy check.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from harness.deploy import plan_stack
from harness.deploy.template import load_source
from harness.load.profile import Tenant, Tenants, TrafficMix
from harness.load.traffic import RequestFactory
from harness.profile import Tenancy, load_profile
from tests.unit.test_catalog_handlers import STACK, LambdaContext, db, http_event  # noqa: F401

from catalog_app import orders, products  # isort: skip

ROUTES = [
    ("GET", re.compile(r"^/catalog$"), "/catalog", products),
    ("GET", re.compile(r"^/catalog/(?P<id>[^/]+)$"), "/catalog/{id}", products),
    ("POST", re.compile(r"^/orders$"), "/orders", orders),
    ("GET", re.compile(r"^/orders$"), "/orders", orders),
    ("GET", re.compile(r"^/orders/(?P<id>[^/]+)$"), "/orders/{id}", orders),
]


@pytest.fixture(scope="module")
def profile() -> Any:
    return load_profile(STACK / "harness.yaml")


def test_profile_validates_and_names_the_stack(profile: Any) -> None:
    assert profile.name == "catalog" and profile.api == "CatalogApi"
    assert profile.auth.issuer == "cognito" and profile.auth.user_pool == "UserPool"
    assert not profile.auth.trust_local_issuer  # only the pool's own tokens are accepted
    assert profile.tenancy.tenant_claim == "tenant_id" and profile.tenancy.require_tenant
    tenants = {t.id: t for t in profile.all_tenants()}
    assert {t.tier for t in tenants.values()} == {"basic", "standard", "premium"}
    assert all(isinstance(t.users, list) and len(t.users) >= 3 for t in tenants.values())


def test_tiers_are_the_seeds_usage_plans(profile: Any) -> None:
    expected = {
        "basic": (10, 20, 100_000),
        "standard": (100, 200, 1_000_000),
        "premium": (1000, 2000, 10_000_000),
    }
    for tier, (rate, burst, quota) in expected.items():
        spec = profile.tenancy.tiers[tier]
        assert (spec.rate, spec.burst, spec.quota, spec.quota_period) == (
            rate, burst, quota, "MONTH"
        )  # fmt: skip
    # and the gateway reads them as inline plans, tier per tenant
    tenancy = Tenancy.from_profile(json.loads(json.dumps(profile.model_dump())))
    plan = tenancy.inline_plans["basic"]
    assert plan.throttle is not None and (plan.throttle.rate, plan.throttle.burst) == (10, 20)
    assert plan.quota_limit == 100_000 and plan.quota_period == "MONTH"
    assert tenancy.tier_of("tenant-premium") == "premium"


def test_slos_and_alarms_are_the_seeds(profile: Any) -> None:
    from harness.load.slo import parse_slo

    slos = {parse_slo(s).label for s in profile.slos}
    assert "p99<3000ms" in slos and "error_rate<0.05" in slos
    alarms = {a.name: a for a in profile.alarms}
    assert alarms["high-5xx-rate"].threshold == 0.05 and alarms["high-5xx-rate"].op == ">"
    assert alarms["high-latency-p99"].threshold == "3000ms"


def _route(method: str, path: str) -> tuple[str, dict[str, str], Any]:
    for m, pattern, route, module in ROUTES:
        match = pattern.match(path)
        if m == method and match:
            return route, match.groupdict(), module
    raise AssertionError(f"{method} {path} matches no route of the template")


@pytest.mark.usefixtures("db")
@pytest.mark.parametrize("mix_name", ["nominal", "browse", "invalid"])
def test_traffic_mixes_render_to_requests_the_handlers_answer_as_expected(
    profile: Any, mix_name: str
) -> None:
    mix = TrafficMix.model_validate(profile.traffic.mixes[mix_name])
    tenants = Tenants(
        tenants=[Tenant.model_validate(t.model_dump()) for t in profile.tenants],
        tier_weights=profile.tier_weights,
    )
    factory = RequestFactory(mix, tenants, seed=7)
    statuses: dict[str, set[int]] = {}
    for planned in factory.plan(150):
        url = urlsplit(planned.path)
        route, params, module = _route(planned.method, url.path)
        event = http_event(
            planned.method, route, url.path, tenant=planned.tenant, path_params=params,
            query=dict(parse_qsl(url.query, keep_blank_values=True)),
            headers=planned.headers, raw_body=planned.body,
        )  # fmt: skip
        result = module.handler(event, LambdaContext())
        template = mix.requests[planned.template]
        assert template.is_success(result["statusCode"]), (planned, result["body"])
        body = json.loads(result["body"])
        assert body["tenant_id"] == planned.tenant and body["request_id"]
        statuses.setdefault(planned.endpoint, set()).add(result["statusCode"])
    assert set(statuses) == {r.name for r in mix.requests}


def test_isolation_section_describes_resources(profile: Any) -> None:
    from harness.isolation.spec import IsolationSpec

    iso = IsolationSpec.model_validate(profile.isolation)  # the isolation machine's format
    assert set(iso.resources) == {"product", "order"}
    assert iso.resources["order"].create is not None
    assert iso.resources["order"].create.path == "/orders"
    assert iso.data.dynamodb[0].pattern == "TENANT#{tenant}#*"
    assert iso.data.iam is not None and iso.data.iam.role == "TenantAccessRole"


def test_template_passes_every_deploy_check() -> None:
    plan = plan_stack(load_source(Path(STACK)))
    resources = plan.resources()
    assert resources["CatalogTable"]["Type"] == "AWS::DynamoDB::Table"
    types = {r["Type"] for r in resources.values()}
    assert {"AWS::Cognito::UserPool", "AWS::Cognito::UserPoolResourceServer",
            "AWS::Cognito::UserPoolClient", "AWS::IAM::Role",
            "AWS::CloudWatch::Alarm"} <= types  # fmt: skip
    clients = [r for r in resources.values() if r["Type"] == "AWS::Cognito::UserPoolClient"]
    assert len(clients) == 3
    assert all(c["Properties"]["AllowedOAuthFlows"] == ["client_credentials"] for c in clients)
    assert all(c["Properties"]["GenerateSecret"] is True for c in clients)
    assert all(c["Properties"]["AccessTokenValidity"] == 60 for c in clients)
    role = resources["TenantAccessRole"]["Properties"]["Policies"][0]["PolicyDocument"]
    condition = role["Statement"][0]["Condition"]["ForAllValues:StringLike"]
    assert condition["dynamodb:LeadingKeys"] == ["TENANT#${aws:PrincipalTag/TenantId}#*"]
