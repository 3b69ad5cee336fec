"""Usage plans, API keys and throttling (the step after authorization).

Buckets a request draws from, all checked at once in Redis (see ``ratelimit``):

* the stage throttle (``ApiSpec.stage_throttle``), shared by every caller of the API;
* the route throttle (``RouteSpec.throttle``), shared by every caller of the route;
* the usage plan of the caller: the plan of its API key (``x-api-key``), else the plan of its
  tenant's tier (``tenancy`` in the stack's ``harness.yaml``), one bucket per key / tenant, plus
  the plan's quota per key / tenant and period.

Over a bucket: 429 ``{"message":"Too Many Requests"}``; over the quota: 429
``{"message":"Limit Exceeded"}``. A route with ``api_key_required`` and no valid key: 403.
"""

from __future__ import annotations

from typing import Any

from harness.gateway import errors
from harness.gateway.context import RequestContext
from harness.gateway.ratelimit import QUOTA_EXCEEDED, RateLimiter, quota_window

__all__ = ["check_api_key", "resolve_tenant", "throttle"]


def check_api_key(ctx: RequestContext) -> None:
    api, target = ctx.api, ctx.target
    assert api is not None and target is not None
    if ctx.api_key is None and api.spec.api_key_source == "HEADER":
        ctx.api_key = ctx.header("x-api-key")
    if ctx.api_key is not None and ctx.api_key in api.plans_by_key:
        ctx.api_key_id = api.plans_by_key[ctx.api_key][1]
    if target.spec.api_key_required and ctx.api_key_id is None:
        ctx.authorizer_error = "missing or invalid API key"
        raise errors.forbidden()


def _claim(ctx: RequestContext, name: str | None) -> Any:
    if not name:
        return None
    if ctx.claims is not None and name in ctx.claims:
        return ctx.claims[name]
    auth = ctx.authorizer
    if isinstance(auth, dict):
        lam = auth.get("lambda")
        if isinstance(lam, dict) and name in lam:
            return lam[name]
        if name in auth and name not in ("claims", "principalId", "integrationLatency"):
            return auth[name]
    return None


def resolve_tenant(ctx: RequestContext) -> None:
    """Tenant and tier of an authorized caller (403 when the profile requires a tenant)."""
    api = ctx.api
    assert api is not None
    tenancy = api.tenancy
    tenant = _claim(ctx, tenancy.tenant_claim)
    if tenant is not None:
        ctx.tenant = str(tenant)
    tier = _claim(ctx, tenancy.tier_claim)
    if tier is not None:
        ctx.tier = str(tier)
    elif ctx.tenant is not None or ctx.authorizer is not None:
        ctx.tier = tenancy.tier_of(ctx.tenant)  # anonymous callers get no tier, no plan
    if (
        tenancy.require_tenant
        and ctx.tenant is None
        and ctx.target is not None
        and ctx.target.authorizer is not None
    ):
        ctx.authorizer_error = f"no {tenancy.tenant_claim} claim"
        raise errors.forbidden()


async def throttle(ctx: RequestContext, limiter: RateLimiter) -> None:
    api, target = ctx.api, ctx.target
    assert api is not None and target is not None
    base = f"gw:{api.stack.name}:{api.spec.logical_id}"
    buckets: list[tuple[str, float, int]] = []
    if api.spec.stage_throttle is not None:
        t = api.spec.stage_throttle
        buckets.append((f"{base}:stage", t.rate, t.burst))
    if target.throttle is not None:
        buckets.append((target.bucket_key, target.throttle.rate, target.throttle.burst))
    plan = None
    who = None
    if ctx.api_key_id is not None and ctx.api_key is not None:
        plan = api.plans_by_key[ctx.api_key][0]
        who = f"key:{ctx.api_key_id}"
    elif ctx.tier is not None:
        plan = api.plans_by_tier.get(ctx.tier)
        who = f"tenant:{ctx.tenant or ctx.principal_id or ctx.source_ip}"
    quota = None
    if plan is not None:
        method = plan.method_throttles.get(target.route_key) if plan.method_throttles else None
        if method is not None:  # ApiStages[].Throttle for this method replaces the plan's
            buckets.append(
                (f"{base}:plan:{plan.name}:{target.route_key}:{who}", method.rate, method.burst)
            )
        elif plan.throttle is not None:
            buckets.append(
                (f"{base}:plan:{plan.name}:{who}", plan.throttle.rate, plan.throttle.burst)
            )
        if plan.quota_limit:
            suffix, ttl = quota_window(plan.quota_period)
            quota = (f"{base}:quota:{plan.name}:{who}:{suffix}", int(plan.quota_limit), ttl)
    if not buckets and quota is None:
        return
    verdict = await limiter.acquire(buckets, quota)
    if verdict == 0:
        return
    if verdict == QUOTA_EXCEEDED:
        ctx.error_type = "quota"
        raise errors.limit_exceeded()
    ctx.error_type = "throttle"
    raise errors.throttled()
