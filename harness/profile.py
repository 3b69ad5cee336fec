"""A stack's test profile: ``harness.yaml`` beside its ``template.yaml``.

One file tells the harness how to exercise a stack: who the tenants are and where the tenant and
tier live in a token (``tenancy``, read by the gateway's usage plans), how clients get tokens
(``auth``), the traffic mixes load tests send (``traffic``), the SLOs and alarms gamedays
evaluate, the stack's own checks (``checks``: e.g. "no accepted job lost") and what the
isolation machine exercises (``isolation``). Validated as a whole, with line numbers::

    name: catalog
    api: CatalogApi                      # the API traffic goes to (default: the only one)
    tenancy:
      tenant_claim: custom:tenant_id
      tier_claim: custom:tier
      require_tenant: true
      tiers:
        basic: {rate: 10, burst: 20, quota: 100000, quota_period: MONTH}
    auth: {issuer: local}                # or {issuer: cognito, user_pool: Pool, client: Client}
    tenants:
      - {id: tenant-basic, tier: basic, users: 3}
    traffic:
      default: nominal
      mixes:
        nominal:
          requests:
            - {name: list, path: /catalog, auth: bearer, weight: 8}
    slos: ["p99 < 3000ms", "error_rate < 0.05"]
    alarms:
      - {name: 5xx, metric: error_rate, op: ">", threshold: 0.05}
    checks: {module: checks.py}          # functions named after expectation kinds
    isolation: {...}                     # see harness/isolation
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from harness.errors import ConfigError
from harness.yamlpos import load_with_positions, validation_error

__all__ = ["Alarm", "AuthSpec", "Profile", "TenantSpec", "load_profile"]

FIX = "correct the fields listed (the harness.yaml format is documented in harness/profile.py and the README)."


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class TierSpec(_Model):
    usage_plan: str | None = None
    rate: float | None = Field(None, gt=0)
    burst: int | None = Field(None, ge=1)
    quota: int | None = Field(None, ge=1)
    quota_period: Literal["DAY", "WEEK", "MONTH"] = "MONTH"


class TenantSpec(_Model):
    id: str = Field(min_length=1)
    tier: str = "default"
    users: list[str] | int = 1
    weight: float = Field(1.0, gt=0)
    api_key: str | None = None


class Tenancy(_Model):
    tenant_claim: str | None = None
    tier_claim: str | None = None
    user_claim: str = "sub"
    require_tenant: bool = False
    default_tier: str | None = None
    tiers: dict[str, TierSpec | str] = Field(default_factory=dict)
    tenants: list[TenantSpec] = Field(default_factory=list)


class AuthSpec(_Model):
    issuer: Literal["local", "cognito"] = "local"
    user_pool: str | None = Field(None, description="logical id of the Cognito user pool")
    client: str | None = Field(None, description="logical id of the app client")
    trust_local_issuer: bool = False
    scopes: list[str] = Field(default_factory=list)
    audience: str | None = None
    extra_claims: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _pool(self) -> AuthSpec:
        if self.issuer == "cognito" and not self.user_pool:
            raise ValueError("issuer: cognito needs 'user_pool' (the pool's logical id)")
        return self


class TrafficSpec(_Model):
    default: str | None = None
    mixes: dict[str, dict[str, Any]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _default_exists(self) -> TrafficSpec:
        if self.default and self.default not in self.mixes:
            raise ValueError(
                f"default mix '{self.default}' is not among the mixes ({', '.join(self.mixes)})"
            )
        return self


class Alarm(_Model):
    name: str
    metric: str
    op: Literal["<", "<=", ">", ">="] = ">"
    threshold: float | str
    period: str | float = "1m"
    evaluation_periods: int = Field(1, ge=1)
    scope: str = "all"


class ChecksSpec(_Model):
    module: str = Field(description="a Python file in the stack folder, e.g. checks.py")


class Profile(_Model):
    name: str | None = None
    description: str = ""
    api: str | None = None
    tenancy: Tenancy = Field(default_factory=Tenancy)
    auth: AuthSpec = Field(default_factory=AuthSpec)
    tenants: list[TenantSpec] = Field(default_factory=list)
    tier_weights: dict[str, float] | None = None
    traffic: TrafficSpec = Field(default_factory=TrafficSpec)
    slos: list[str | dict[str, Any]] = Field(default_factory=list)
    alarms: list[Alarm] = Field(default_factory=list)
    checks: ChecksSpec | None = None
    isolation: dict[str, Any] = Field(default_factory=dict)
    fixtures: dict[str, Any] = Field(default_factory=dict)
    parameters: dict[str, str] = Field(
        default_factory=dict, description="template parameter defaults"
    )

    @model_validator(mode="after")
    def _consistent(self) -> Profile:
        tiers = set(self.tenancy.tiers)
        for tenant in [*self.tenants, *self.tenancy.tenants]:
            if tiers and tenant.tier not in tiers and tenant.tier != "default":
                raise ValueError(
                    f"tenant '{tenant.id}' has tier '{tenant.tier}', not one of {sorted(tiers)}"
                )
        ids = [t.id for t in self.tenants]
        if len(ids) != len(set(ids)):
            raise ValueError("tenant ids must be unique")
        return self

    def all_tenants(self) -> list[TenantSpec]:
        """Tenants from the top-level list and from ``tenancy.tenants`` (the gateway's place)."""
        seen = {t.id: t for t in self.tenancy.tenants}
        seen.update({t.id: t for t in self.tenants})
        return list(seen.values())


def load_profile(path: Path) -> Profile:
    """Read and validate ``harness.yaml``; a missing file is an empty profile."""
    if not path.exists():
        return Profile()
    data, positions = load_with_positions(path.read_text(), str(path))
    if data is None:
        return Profile()
    if not isinstance(data, dict):
        raise ConfigError("harness.yaml must be a YAML mapping.", source=str(path), fix=FIX)
    try:
        return Profile.model_validate(data)
    except ValidationError as exc:
        raise validation_error(
            exc, positions, what="stack profile (harness.yaml)", fix=FIX
        ) from None
