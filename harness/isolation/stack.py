"""A deployed stack as the isolation machine sees it: its spec, base URL, tenants, users and
tokens.

Tokens come from :func:`harness.auth.token_for_stack` (what ``harness token`` prints: the
local issuer, or the emulator's Cognito pool). When the spec sets ``token_tier`` and the stack
trusts the local issuer, the local issuer mints them with that tier instead (usage plans are not
what isolation tests, and their 429s slow a run down).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from harness.errors import ConfigError
from harness.isolation.model import MachineConfig
from harness.isolation.spec import SPEC_FIX, IsolationSpec
from harness.yamlpos import validation_problems

__all__ = ["api_of", "cached", "machine_config", "spec_of", "stack_tokens", "trusts_local_issuer"]

logger = logging.getLogger(__name__)

TokenFactory = Callable[[str, str], str]


def spec_of(stack: Any) -> IsolationSpec:
    """The stack's ``isolation`` spec, or a ConfigError naming harness.yaml and the field."""
    source = str(Path(stack.stack_dir) / "harness.yaml")
    section = (stack.profile or {}).get("isolation")
    if not section:
        error = ConfigError(
            f"{source}: no `isolation` section, so there is nothing for the isolation machine "
            "to drive.",
            fix="declare the resources and endpoints under `isolation:` "
            "(see stacks/catalog/harness.yaml).",
        )
        error.source, error.field = source, "isolation"
        raise error
    try:
        return IsolationSpec.model_validate(section)
    except ValidationError as exc:
        first = validation_problems(exc, prefix=("isolation",))[0]
        error = ConfigError(f"{source}: {first}.", fix=SPEC_FIX)
        error.source, error.field = source, first.field
        raise error from None


def api_of(stack: Any) -> Any:
    name = (stack.profile or {}).get("api")
    if name and name in stack.apis:
        return stack.apis[name]
    if len(stack.apis) == 1:
        return next(iter(stack.apis.values()))
    known = ", ".join(sorted(stack.apis)) or "none"
    raise ConfigError(
        f"stack {stack.name}: cannot tell which API to test (APIs: {known}).",
        fix="set `api: LOGICAL_ID` in harness.yaml.",
    )


def stack_tokens(env: Any, stack: Any, spec: IsolationSpec) -> TokenFactory:
    """``(tenant, user) -> token`` the stack's authorizer accepts."""
    from harness.auth import LocalIssuer, token_for_stack
    from harness.profile import Tenancy

    state_dir = Path(env.state_dir)
    if spec.token_tier is None or not trusts_local_issuer(stack):
        if spec.token_tier is not None:
            logger.warning(
                "isolation.token_tier ignored: stack %s does not trust the local issuer", stack.name
            )
        return lambda tenant, user: token_for_stack(state_dir, stack.name, tenant, user=user).token
    tenancy = Tenancy.from_profile(stack.profile, f"{stack.stack_dir}/harness.yaml")
    profile_auth = dict((stack.profile or {}).get("auth") or {})
    scopes = list(profile_auth.get("scopes") or [])
    if not scopes:
        for api in stack.apis.values():
            for route in api.routes:
                scopes.extend(s for s in route.scopes if s not in scopes)
    audience = profile_auth.get("audience")
    if audience is None:
        for api in stack.apis.values():
            for auth in api.authorizers.values():
                if auth.audience:
                    audience = auth.audience[0]
                    break
    issuer = LocalIssuer(state_dir, env.endpoints.get("gateway_url"))
    tier = spec.token_tier

    def mint(tenant: str, user: str) -> str:
        return issuer.mint(
            user,
            tenant=tenant,
            tier=tier,
            scopes=scopes,
            client_id=audience,
            tenant_claim=tenancy.tenant_claim or "custom:tenant_id",
            tier_claim=tenancy.tier_claim or "custom:tier",
            claims=dict(profile_auth.get("extra_claims") or {}),
        )

    return mint


def trusts_local_issuer(stack: Any) -> bool:
    auth = (stack.profile or {}).get("auth") or {}
    return bool(auth.get("trust_local_issuer")) or auth.get("issuer", "local") == "local"


def cached(tokens: TokenFactory) -> TokenFactory:
    """Remember each (tenant, user)'s token, or the error minting it, for the whole run (tokens
    live an hour; a run is minutes): a Cognito grant per principal per example is slow."""
    memo: dict[tuple[str, str], str | Exception] = {}

    def get(tenant: str, user: str) -> str:
        key = (tenant, user)
        if key not in memo:
            try:
                memo[key] = tokens(tenant, user)
            except Exception as exc:
                memo[key] = exc
        value = memo[key]
        if isinstance(value, Exception):
            raise value
        return value

    return get


def machine_config(env: Any, stack: Any, spec: IsolationSpec | None = None) -> MachineConfig:
    """The machine's configuration for a deployed stack: its API, tenants and their users."""
    spec = spec or spec_of(stack)
    tenants: list[str] = list(spec.tenants)
    users: dict[str, list[str]] = {}
    for entry in (stack.profile or {}).get("tenants") or []:
        tenant = str(entry["id"])
        if not spec.tenants:
            tenants.append(tenant)
        names = entry.get("users", 1)
        if isinstance(names, list) and names:
            users[tenant] = [str(u) for u in names][: spec.users_per_tenant]
    if not tenants:
        raise ConfigError(
            f"{Path(stack.stack_dir) / 'harness.yaml'}: no tenants to test with.",
            fix="list tenants under `tenants:` or `isolation.tenants`.",
        )
    return MachineConfig(
        base_url=api_of(stack).base_url,
        spec=spec,
        tokens=cached(stack_tokens(env, stack, spec)),
        tenants=tenants,
        generated=spec.generated_tenants,
        users=users,
    )
