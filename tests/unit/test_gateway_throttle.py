"""Which buckets a request draws from (usage plans by tier / API key, stage, route)."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest

from harness.gateway import errors
from harness.gateway.ratelimit import QUOTA_EXCEEDED, quota_window
from harness.gateway.throttle import check_api_key, resolve_tenant, throttle
from harness.model import IntegrationSpec, RouteSpec, ThrottleSpec, UsagePlanSpec
from harness.profile import Tenancy
from tests.fixtures.gateway.helpers import api_of, ctx_for

PROFILE = {
    "tenancy": {
        "tenant_claim": "custom:tenant_id",
        "tier_claim": "custom:tier",
        "default_tier": "basic",
        "tiers": {
            "basic": {"usage_plan": "Basic"},
            "premium": {"rate": 1000, "burst": 2000, "quota": 5000000, "quota_period": "MONTH"},
        },
        "tenants": [{"id": "gold", "tier": "premium"}],
    }
}
PLANS = [
    UsagePlanSpec("Basic", ThrottleSpec(10, 20), 100, "DAY"),
    UsagePlanSpec("Keyed", ThrottleSpec(5, 5), None, None, api_keys={"k-1": "id-1"}),
]


class FakeLimiter:
    def __init__(self, verdict: int = 0) -> None:
        self.verdict = verdict
        self.calls: list[tuple[list, object]] = []

    async def acquire(self, buckets, quota=None):
        self.calls.append((buckets, quota))
        return self.verdict


def _ctx(claims=None, headers=None, route_throttle=None, api_key_required=False):
    route = RouteSpec(
        "GET", "/x", IntegrationSpec(type="lambda", function="Fn"),
        throttle=route_throttle, api_key_required=api_key_required,
    )  # fmt: skip
    api = api_of(
        "http", [route], profile=PROFILE, usage_plans=PLANS, stage_throttle=ThrottleSpec(500, 1000)
    )
    ctx = ctx_for(api, "GET", "/x", headers=headers)
    ctx.claims = claims
    return ctx


def run(ctx, limiter):
    check_api_key(ctx)
    resolve_tenant(ctx)
    asyncio.run(throttle(ctx, limiter))


def test_tier_from_claim_selects_the_usage_plan_per_tenant() -> None:
    limiter = FakeLimiter()
    ctx = _ctx({"custom:tenant_id": "t1", "custom:tier": "basic"})
    run(ctx, limiter)
    buckets, quota = limiter.calls[0]
    assert ("gw:s:Api:stage", 500, 1000) in buckets
    assert ("gw:s:Api:plan:Basic:tenant:t1", 10, 20) in buckets
    assert quota[0].startswith("gw:s:Api:quota:Basic:tenant:t1:") and quota[1] == 100


def test_tier_from_profile_tenants_and_inline_plans() -> None:
    limiter = FakeLimiter()
    run(_ctx({"custom:tenant_id": "gold"}), limiter)
    buckets, quota = limiter.calls[0]
    assert ("gw:s:Api:plan:tier-premium:tenant:gold", 1000.0, 2000) in buckets
    assert quota[1] == 5000000


def test_api_key_plan_wins_and_missing_key_is_403() -> None:
    limiter = FakeLimiter()
    ctx = _ctx({"custom:tenant_id": "t1"}, headers=[("x-api-key", "k-1")], api_key_required=True)
    run(ctx, limiter)
    assert ("gw:s:Api:plan:Keyed:key:id-1", 5, 5) in limiter.calls[0][0]
    assert ctx.api_key_id == "id-1"
    for headers in ([], [("x-api-key", "wrong")]):
        with pytest.raises(errors.GatewayError) as info:
            run(_ctx(headers=headers, api_key_required=True), FakeLimiter())
        assert info.value.status == 403


def test_route_throttle_bucket() -> None:
    limiter = FakeLimiter()
    run(_ctx(route_throttle=ThrottleSpec(1, 2)), limiter)
    assert ("gw:s:Api:route:GET /x", 1, 2) in limiter.calls[0][0]


def test_verdicts_map_to_aws_429_bodies() -> None:
    with pytest.raises(errors.GatewayError) as info:
        run(_ctx({"custom:tenant_id": "t1"}), FakeLimiter(verdict=2))
    assert (info.value.status, info.value.message) == (429, "Too Many Requests")
    with pytest.raises(errors.GatewayError) as info:
        run(_ctx({"custom:tenant_id": "t1"}), FakeLimiter(verdict=QUOTA_EXCEEDED))
    assert (info.value.status, info.value.message) == (429, "Limit Exceeded")


def test_quota_windows() -> None:
    now = dt.datetime(2026, 2, 10, 12, 0, tzinfo=dt.UTC).timestamp()
    assert quota_window("MONTH", now)[0] == "202602"
    assert quota_window("DAY", now)[0] == "20260210"
    assert quota_window("WEEK", now)[0] == "w20260209"
    _suffix, ttl = quota_window("DAY", now)
    assert 12 * 3600 < ttl <= 13 * 3600 + 1


def test_tenancy_profile_parsing() -> None:
    tenancy = Tenancy.from_profile(PROFILE)
    assert tenancy.tier_plans == {"basic": "Basic"}
    assert tenancy.inline_plans["premium"].throttle == ThrottleSpec(1000.0, 2000)
    assert tenancy.tier_of("gold") == "premium" and tenancy.tier_of("other") == "basic"
    assert Tenancy.from_profile(None).tenant_claim is None


def test_usage_plan_method_throttle_replaces_the_plan_throttle_for_that_method() -> None:
    method_plan = UsagePlanSpec(
        "Keyed", ThrottleSpec(5, 5), None, None, api_keys={"k-1": "id-1"},
        method_throttles={"GET /x": ThrottleSpec(1, 1)},
    )  # fmt: skip
    route = RouteSpec("GET", "/x", IntegrationSpec(type="lambda", function="Fn"))
    other = RouteSpec("POST", "/x", IntegrationSpec(type="lambda", function="Fn"))
    api = api_of("rest", [route, other], profile=PROFILE, usage_plans=[method_plan])
    for method, expected in (
        ("GET", ("gw:s:Api:plan:Keyed:GET /x:key:id-1", 1, 1)),
        ("POST", ("gw:s:Api:plan:Keyed:key:id-1", 5, 5)),
    ):
        limiter = FakeLimiter()
        ctx = ctx_for(api, method, "/x", headers=[("x-api-key", "k-1")])
        run(ctx, limiter)
        buckets = limiter.calls[0][0]
        assert expected in buckets
        assert len([b for b in buckets if ":plan:" in b[0]]) == 1
