"""A load plan file (``harness load URL --profile FILE.yaml``): everything ``run_load`` takes.

.. code-block:: yaml

    profile:
      mode: open
      max_users: 400
      stages:
        - {name: warm-up, duration: 30s, target: 100, shape: ramp}
        - {name: peak, duration: 2m, target: 1000}
    mix:
      requests:
        - {name: list-orders, path: "/tenants/{tenant}/orders", auth: bearer, weight: 3}
        - {name: create-order, method: POST, path: /orders, auth: bearer,
           json: {id: "{uuid}", item: "{choice:apple|pear}"}, expect: [201]}
    tenants:
      tier_weights: {premium: 3, basic: 1}
      tenants:
        - {id: t1, tier: premium, users: 5}
        - {id: t2, tier: basic, users: [alice, bob]}
    tokens:
      command: "harness token catalog --tenant {tenant} --user {user}"
    slos: ["p99<500ms", "error_rate<1%", {metric: p95, scope: "tenant:t1", op: "<", target: 300}]
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from harness.auth.providers import (
    CommandTokens,
    OAuth2ClientCredentials,
    StaticTokens,
    TokenProvider,
)
from harness.errors import ConfigError
from harness.load.profile import LoadProfile, Tenant, Tenants, TrafficMix
from harness.load.slo import SloSpec, parse_slo

__all__ = ["LoadPlan", "OAuth2Config", "TokensConfig", "load_plan"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class OAuth2Config(_Model):
    token_url: str
    client_id: str
    client_secret: str
    scope: str | None = None
    auth_method: str = Field("basic", pattern="^(basic|post)$")


class TokensConfig(_Model):
    """Exactly one of: ``static`` tokens, a token ``file``, a ``command``, ``oauth2``."""

    static: dict[str, str | dict[str, str]] | None = None
    file: str | None = None
    command: str | list[str] | None = None
    ttl: float | None = Field(3600.0, description="command: lifetime when the token has no exp")
    oauth2: OAuth2Config | None = None

    @model_validator(mode="after")
    def _one(self) -> TokensConfig:
        given = [k for k in ("static", "file", "command", "oauth2") if getattr(self, k)]
        if len(given) != 1:
            raise ValueError("give exactly one of static, file, command or oauth2")
        return self

    def provider(self, base: Path | None = None) -> TokenProvider:
        if self.static is not None:
            return StaticTokens(self.static)
        if self.file is not None:
            path = Path(self.file)
            if not path.is_absolute() and base is not None:
                path = base / path
            return StaticTokens.from_file(path)
        if self.command is not None:
            return CommandTokens(self.command, ttl=self.ttl)
        assert self.oauth2 is not None
        o = self.oauth2
        return OAuth2ClientCredentials(
            o.token_url, o.client_id, o.client_secret, scope=o.scope, auth_method=o.auth_method
        )


class LoadPlan(_Model):
    profile: LoadProfile | None = None
    mix: TrafficMix | None = None
    tenants: Tenants | None = None
    tokens: TokensConfig | None = None
    slos: list[SloSpec] = Field(default_factory=list)
    processes: int | None = Field(None, ge=1)
    seed: int | None = None

    @model_validator(mode="before")
    @classmethod
    def _shorthands(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        if isinstance(data.get("mix"), list):
            data["mix"] = {"requests": data["mix"]}
        if isinstance(data.get("tenants"), list):
            data["tenants"] = {"tenants": data["tenants"]}
        if isinstance(data.get("slos"), list):
            data["slos"] = [parse_slo(s) if isinstance(s, str) else s for s in data["slos"]]
        return data

    def tenant_set(self) -> Tenants:
        return self.tenants or Tenants(tenants=[Tenant(id="default")])


def load_plan(path: str | Path) -> LoadPlan:
    """Read and validate a plan; errors name the file, the line and the field."""
    from harness.yamlpos import load_with_positions, validation_error

    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read the load plan: {exc}", source=str(path)) from None
    data, positions = load_with_positions(text, str(path))
    # the shorthands (a list for mix / tenants) sit one level up from where pydantic looks
    for short, full in (("mix", "requests"), ("tenants", "tenants")):
        if isinstance(data, dict) and isinstance(data.get(short), list):
            for loc, line in list(positions.lines.items()):
                if loc[:1] == (short,) and len(loc) > 1:
                    positions.lines[(short, full, *loc[1:])] = line
    try:
        return LoadPlan.model_validate(data or {})
    except ValidationError as exc:
        raise validation_error(
            exc, positions, what="load plan", fix="see harness/load/plan.py for the format."
        ) from None
    except ValueError as exc:  # a short SLO that does not parse
        raise ConfigError(str(exc), source=str(path), field="slos") from None
