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
    roles: {admin: [alice]}              # role -> users (named in tenants' user lists)
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
    waf:                                 # a web ACL in front of the API (harness/gateway/waf.py)
      rate_limit: {limit: 2000, window_s: 300}
      managed_rules: [sqli, xss]
    fixtures:                            # started and seeded by `harness deploy`
      module: fixtures/seed.py           # seed(env, stack, fakes) after every deploy (idempotent)
      fake_servers:
        providers:                       # a third-party fake, as a child process on loopback
          command: ["{python}", "{stack_dir}/fakes/providers.py", "--port", "{port}"]
          health: /_control/health       # GET until 2xx before the stack is deployed
          parameter: ProviderBaseUrl     # template parameter that gets http://127.0.0.1:{port}
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from harness.errors import ConfigError
from harness.model import ThrottleSpec, UsagePlanSpec
from harness.yamlpos import Positions, load_with_positions, validation_error

__all__ = [
    "PLACEHOLDERS",
    "Alarm",
    "AuthSpec",
    "FakeServerSpec",
    "FixturesSpec",
    "Profile",
    "Tenancy",
    "TenantSpec",
    "WafSpec",
    "load_fixtures",
    "load_profile",
]

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
    """The ``tenancy`` section: the claims (or Lambda-authorizer context keys) that carry the
    tenant and its tier, the tiers' usage plans, the known tenants.

    The one model of it: the profile validates it; the gateway's usage plans, ``harness token``
    and the isolation read a deployed stack's with :meth:`from_profile`. Format (see
    ``harness/gateway/README.md``)::

        tenancy:
          tenant_claim: custom:tenant_id   # claim (or context key) with the tenant id
          tier_claim: custom:tier          # claim (or context key) with the tenant's tier
          require_tenant: true             # 403 when an authorized request carries no tenant
          default_tier: basic              # tier of a tenant whose token has no tier claim
          tiers:
            basic: {usage_plan: BasicPlan}                        # a usage plan of the API
            premium: {rate: 1000, burst: 2000, quota: 5000000, quota_period: MONTH}   # inline
          tenants:                         # known tenants (``harness token`` uses their tier)
            - {id: tenant-a, tier: basic}
        auth:
          trust_local_issuer: false        # JWT/Cognito authorizers also accept the harness issuer
    """

    tenant_claim: str | None = None
    tier_claim: str | None = None
    user_claim: str = "sub"
    require_tenant: bool = False
    default_tier: str | None = None
    tiers: dict[str, TierSpec | str] = Field(default_factory=dict)
    tenants: list[TenantSpec] = Field(default_factory=list)
    _trust_local_issuer: bool = PrivateAttr(default=False)
    _tier_by_tenant: dict[str, str] | None = PrivateAttr(default=None)

    @classmethod
    def from_profile(
        cls, profile: Mapping[str, Any] | None, source: str = "harness.yaml"
    ) -> Tenancy:
        """The tenancy of a plain profile (a deployed stack's stored ``harness.yaml``): its
        ``tenancy`` section, the top-level ``tenants`` merged in (they win, as in
        :meth:`Profile.all_tenants`) and ``auth.trust_local_issuer``. A section that is not
        valid is a :class:`ConfigError` naming ``source`` and the field."""
        profile = profile or {}
        data = {"tenancy": profile.get("tenancy") or {}, "tenants": profile.get("tenants") or []}
        try:
            read = _TenancyOnly.model_validate(data)
        except ValidationError as exc:
            raise validation_error(
                exc, Positions(source), what="tenancy of the stack profile", fix=FIX
            ) from None
        tenancy = read.tenancy
        if read.tenants:
            merged = {t.id: t for t in tenancy.tenants}
            merged.update({t.id: t for t in read.tenants})
            tenancy.tenants = list(merged.values())
        tenancy._trust_local_issuer = bool((profile.get("auth") or {}).get("trust_local_issuer"))
        return tenancy

    @property
    def trust_local_issuer(self) -> bool:
        """``auth.trust_local_issuer`` of the profile (set by :meth:`from_profile`)."""
        return self._trust_local_issuer

    @property
    def tier_plans(self) -> dict[str, str]:
        """Tier -> the name of the API usage plan it uses."""
        plans = {}
        for tier, value in self.tiers.items():
            name = value if isinstance(value, str) else value.usage_plan
            if name:
                plans[tier] = name
        return plans

    @property
    def inline_plans(self) -> dict[str, UsagePlanSpec]:
        """Tier -> the usage plan its inline ``rate``/``burst``/``quota`` make."""
        plans = {}
        for tier, value in self.tiers.items():
            if isinstance(value, str) or (value.rate is None and value.quota is None):
                continue
            throttle = (
                ThrottleSpec(rate=float(value.rate), burst=int(value.burst or 1))
                if value.rate is not None
                else None
            )
            plans[tier] = UsagePlanSpec(
                name=f"tier-{tier}",
                throttle=throttle,
                quota_limit=value.quota,
                quota_period=value.quota_period if value.quota else None,
                tier=tier,
            )
        return plans

    def tier_of(self, tenant: str | None) -> str | None:
        """The tier of a known tenant (``default_tier`` for others and for "default")."""
        if self._tier_by_tenant is None:
            self._tier_by_tenant = {t.id: t.tier for t in self.tenants}
        tier = self._tier_by_tenant.get(tenant) if tenant is not None else None
        if tier and tier != "default":  # "default": a tenant listed without a tier
            return tier
        return self.default_tier


class _TenancyOnly(BaseModel):
    """harness.yaml read for ``tenancy`` and the top-level ``tenants`` alone."""

    model_config = ConfigDict(extra="ignore")
    tenancy: Tenancy = Field(default_factory=Tenancy)
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


PLACEHOLDERS = ("python", "stack_dir", "port")
"""What a fake server's ``command`` and ``env`` may contain: ``{python}`` (the harness's own
interpreter), ``{stack_dir}`` (the stack folder, absolute) and ``{port}`` (the free loopback port
chosen for it). ``{{`` and ``}}`` are literal braces."""

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")


def _check_placeholders(text: str) -> str:
    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(text) if f is not None]
    except ValueError as exc:
        raise ValueError(f"'{text}': {exc} (write {{{{ and }}}} for literal braces)") from None
    for name in fields:
        if name not in PLACEHOLDERS:
            raise ValueError(
                f"'{text}' uses unknown placeholder {{{name}}}; known: "
                + ", ".join(f"{{{p}}}" for p in PLACEHOLDERS)
            )
    return text


class FakeServerSpec(_Model):
    """A fake of a third party the stack calls, started by ``harness deploy`` before the stack."""

    command: list[str] = Field(min_length=1, description="argv; {python} {stack_dir} {port}")
    health: str = Field("/", description="path answered with a 2xx once the server is ready")
    parameter: str | None = Field(
        None, description="template parameter receiving the server's base URL"
    )
    env: dict[str, str] = Field(default_factory=dict, description="extra environment variables")
    startup_timeout: float = Field(15.0, gt=0, le=300, description="seconds to become healthy")

    @field_validator("command")
    @classmethod
    def _command(cls, value: list[str]) -> list[str]:
        for part in value:
            _check_placeholders(part)
        if not any("{port}" in part for part in value):
            raise ValueError("the command must pass the server its port: add '{port}' to it")
        return value

    @field_validator("env")
    @classmethod
    def _env(cls, value: dict[str, str]) -> dict[str, str]:
        for text in value.values():
            _check_placeholders(text)
        return value

    @field_validator("health")
    @classmethod
    def _health(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError(f"'{value}' is not a path: start it with '/', e.g. /health")
        return value


class FixturesSpec(_Model):
    """``fixtures``: what ``harness deploy`` sets up around a stack (see the README)."""

    module: str | None = Field(
        None, description="a Python file in the stack folder holding the seed hook"
    )
    function: str = Field("seed", description="the hook's name in that file")
    fake_servers: dict[str, FakeServerSpec] = Field(default_factory=dict)

    @field_validator("module")
    @classmethod
    def _module(cls, value: str | None) -> str | None:
        if value is not None and (not value.endswith(".py") or Path(value).is_absolute()):
            raise ValueError(
                f"'{value}' must be a .py file relative to the stack folder, e.g. fixtures/seed.py"
            )
        if value is not None and ".." in Path(value).parts:
            raise ValueError(f"'{value}' must stay inside the stack folder (no '..')")
        return value

    @field_validator("function")
    @classmethod
    def _function(cls, value: str) -> str:
        if not value.isidentifier():
            raise ValueError(f"'{value}' is not a Python function name")
        return value

    @field_validator("fake_servers")
    @classmethod
    def _names(cls, value: dict[str, FakeServerSpec]) -> dict[str, FakeServerSpec]:
        for name in value:
            if not _NAME.match(name):
                raise ValueError(
                    f"fake server name '{name}' must be letters, digits, '-' or '_' "
                    "(it names the log file)"
                )
        bound = [s.parameter for s in value.values() if s.parameter]
        twice = sorted({p for p in bound if bound.count(p) > 1})
        if twice:
            raise ValueError(f"parameter {', '.join(twice)} is bound by more than one fake server")
        return value


class WafRateLimit(_Model):
    """A rate-based rule: at most ``limit`` requests per ``window_s`` from one client IP."""

    limit: int = Field(gt=0, description="requests per window and client IP")
    window_s: Literal[60, 120, 300, 600] = Field(300, description="AWS WAF's windows")
    forwarded_ip_header: str | None = Field(
        None, description="aggregate on this header's first IP (e.g. x-forwarded-for)"
    )


class WafSpec(_Model):
    """``waf``: the web ACL the gateway runs before the API (see ``harness/gateway/waf.py``)."""

    allowed_ips: list[str] = Field(default_factory=list, description="CIDRs that skip the rules")
    blocked_ips: list[str] = Field(default_factory=list, description="CIDRs always refused")
    rate_limit: WafRateLimit | None = None
    managed_rules: list[Literal["sqli", "xss"]] = Field(default_factory=list)

    @field_validator("allowed_ips", "blocked_ips")
    @classmethod
    def _cidrs(cls, value: list[str]) -> list[str]:
        import ipaddress

        for cidr in value:
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError:
                raise ValueError(f"'{cidr}' is not an IP address or CIDR block") from None
        return value


class _FixturesOnly(BaseModel):
    """harness.yaml read for ``fixtures`` alone (deploy must not fail on other sections)."""

    model_config = ConfigDict(extra="ignore")
    fixtures: FixturesSpec = Field(default_factory=FixturesSpec)


class Profile(_Model):
    name: str | None = None
    description: str = ""
    api: str | None = None
    tenancy: Tenancy = Field(default_factory=Tenancy)
    auth: AuthSpec = Field(default_factory=AuthSpec)
    tenants: list[TenantSpec] = Field(default_factory=list)
    roles: dict[str, list[str]] = Field(
        default_factory=dict,
        description="role -> the tenants' users who have it (the stack's seed applies them, "
        "e.g. as Cognito groups)",
    )
    tier_weights: dict[str, float] | None = None
    traffic: TrafficSpec = Field(default_factory=TrafficSpec)
    slos: list[str | dict[str, Any]] = Field(default_factory=list)
    alarms: list[Alarm] = Field(default_factory=list)
    checks: ChecksSpec | None = None
    isolation: dict[str, Any] = Field(default_factory=dict)
    waf: WafSpec | None = None
    fixtures: FixturesSpec = Field(default_factory=FixturesSpec)
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
        named = {u for t in self.all_tenants() if isinstance(t.users, list) for u in t.users}
        for role, members in self.roles.items():
            unknown = sorted(set(members) - named)
            if unknown:
                raise ValueError(
                    f"role '{role}' names {', '.join(unknown)}, not a user of any tenant"
                )
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


def load_fixtures(path: Path) -> FixturesSpec:
    """The ``fixtures`` section of ``harness.yaml``, validated with line numbers (the rest of the
    file is not checked here); a missing file or section means no fixtures."""
    if not path.exists():
        return FixturesSpec()
    data, positions = load_with_positions(path.read_text(), str(path))
    if data is None:
        return FixturesSpec()
    if not isinstance(data, dict):
        raise ConfigError("harness.yaml must be a YAML mapping.", source=str(path), fix=FIX)
    try:
        return _FixturesOnly.model_validate(data).fixtures
    except ValidationError as exc:
        raise validation_error(
            exc, positions, what="stack profile (harness.yaml)", fix=FIX
        ) from None
