"""The ``tenancy`` (and ``auth``) sections of a stack's ``harness.yaml``, as the gateway reads them.

The same format as ``harness.profile.Profile`` validates (``Tenancy``, ``TierSpec``,
``TenantSpec``, ``AuthSpec.trust_local_issuer``); this reads the plain dict stored in
``DeployedStack.profile`` so that the request path does not depend on pydantic.

See ``harness/gateway/README.md`` for the format. In short::

    tenancy:
      tenant_claim: custom:tenant_id   # claim (or Lambda-authorizer context key) with the tenant id
      tier_claim: custom:tier          # claim (or context key) with the tenant's tier
      require_tenant: true             # 403 when an authorized request carries no tenant
      default_tier: basic              # tier of a tenant whose token has no tier claim
      tiers:
        basic: {usage_plan: BasicPlan}                        # a usage plan of the API, by name
        premium: {rate: 1000, burst: 2000, quota: 5000000, quota_period: MONTH}   # or inline
      tenants:                         # known tenants (``harness token`` uses their tier)
        - {id: tenant-a, tier: basic}
    auth:
      trust_local_issuer: false        # JWT/Cognito authorizers also accept the harness issuer
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from harness.model import ThrottleSpec, UsagePlanSpec

__all__ = ["Tenancy"]


@dataclass(slots=True)
class Tenancy:
    tenant_claim: str | None = None
    tier_claim: str | None = None
    require_tenant: bool = False
    default_tier: str | None = None
    tier_plans: dict[str, str] = field(default_factory=dict)  # tier -> usage plan name
    inline_plans: dict[str, UsagePlanSpec] = field(default_factory=dict)
    tenants: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> {tier, ...}
    trust_local_issuer: bool = False

    @classmethod
    def from_profile(cls, profile: dict[str, Any] | None) -> Tenancy:
        profile = profile or {}
        section = profile.get("tenancy") or {}
        tenancy = cls(
            tenant_claim=section.get("tenant_claim"),
            tier_claim=section.get("tier_claim"),
            require_tenant=bool(section.get("require_tenant", False)),
            default_tier=section.get("default_tier"),
            trust_local_issuer=bool((profile.get("auth") or {}).get("trust_local_issuer", False)),
        )
        for tier, value in (section.get("tiers") or {}).items():
            if isinstance(value, str):
                tenancy.tier_plans[tier] = value
            elif isinstance(value, dict):
                if value.get("usage_plan"):
                    tenancy.tier_plans[tier] = str(value["usage_plan"])
                if value.get("rate") is not None or value.get("quota") is not None:
                    throttle = (
                        ThrottleSpec(rate=float(value["rate"]), burst=int(value.get("burst") or 1))
                        if value.get("rate") is not None
                        else None
                    )
                    tenancy.inline_plans[tier] = UsagePlanSpec(
                        name=f"tier-{tier}",
                        throttle=throttle,
                        quota_limit=value.get("quota"),
                        quota_period=value.get("quota_period", "MONTH")
                        if value.get("quota")
                        else None,
                        tier=tier,
                    )
        # Tenants from ``tenancy.tenants`` and the top-level ``tenants`` (the latter win, as in
        # harness.profile.Profile.all_tenants).
        for tenants in (section.get("tenants"), profile.get("tenants")):
            if isinstance(tenants, dict):
                tenants = [{"id": k, **(v or {})} for k, v in tenants.items()]
            for entry in tenants or []:
                if isinstance(entry, dict) and entry.get("id") is not None:
                    tenancy.tenants[str(entry["id"])] = entry
        return tenancy

    def tier_of(self, tenant: str | None) -> str | None:
        if tenant is not None and tenant in self.tenants:
            tier = self.tenants[tenant].get("tier")
            if tier and tier != "default":  # "default": the profile model's "no tier given"
                return str(tier)
        return self.default_tier
