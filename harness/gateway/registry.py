"""What the gateway serves: every deployed stack's APIs, compiled once per reload.

Stacks are read from ``<state_dir>/stacks/*.json`` (written by ``harness deploy``) and the
endpoints from ``<state_dir>/state.json``. :class:`Registry` re-reads them when asked to
(``POST /_harness/gateway/reload``, which reaches one worker only) and when they change: every
request compares the stacks folder's modification time (one ``stat``, ~1 us) with the last
reload's, so the first request after a deploy or destroy is served by the new stacks; a full
comparison of every file's size and time runs once a second, and on every request while the
folder's time is too recent to tell a later change apart (file times tick coarsely).

An API is served under the path of its ``ApiSpec.base_url`` (``/{stack}/{api}`` plus ``/{stage}``
for REST APIs whose stage is not ``$default``); when ``base_url`` is empty that path is derived
the same way.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from harness.gateway.router import CompiledRoute, Router
from harness.gateway.waf import Waf
from harness.model import (
    ApiSpec,
    AuthorizerSpec,
    DeployedStack,
    IntegrationSpec,
    RouteSpec,
    ThrottleSpec,
    UsagePlanSpec,
    load_stacks,
)
from harness.profile import Tenancy

__all__ = ["CompiledApi", "Registry", "RouteTarget", "api_prefix"]

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT_MS = {"http": 30000, "rest": 29000}


@dataclass(slots=True)
class RouteTarget:
    """A route with everything resolved that a request needs (hangs off ``CompiledRoute``)."""

    spec: RouteSpec
    integration: IntegrationSpec
    function_name: str | None  # physical name of the integration's function
    authorizer: AuthorizerSpec | None
    timeout_s: float
    payload_format: str
    throttle: ThrottleSpec | None
    bucket_key: str  # Redis key prefix of this route's own throttle
    route_key: str = ""  # "METHOD /path" or "$default" (usage plans' method throttles)


@dataclass(slots=True)
class CompiledApi:
    stack: DeployedStack
    spec: ApiSpec
    prefix: str  # request-path prefix, "/{stack}/{api}" [+ "/{stage}"]
    stage_segment: str  # "/{stage}" for HTTP APIs' rawPath when the stage is in the URL
    router: Router
    tenancy: Tenancy
    account_id: str = "000000000000"
    region: str = "us-east-1"
    authorizer_functions: dict[str, str] = field(default_factory=dict)  # name -> physical name
    plans_by_key: dict[str, tuple[UsagePlanSpec, str]] = field(default_factory=dict)
    plans_by_tier: dict[str, UsagePlanSpec] = field(default_factory=dict)
    waf: Waf | None = None  # the stack's web ACL (harness.yaml ``waf``)
    metric_api: str = ""  # CloudWatch's API dimension: ApiName (REST) or ApiId (HTTP)

    @property
    def is_rest(self) -> bool:
        return self.spec.kind == "rest"

    @property
    def name(self) -> str:
        return f"{self.stack.name}/{self.spec.logical_id}"


def api_prefix(stack: DeployedStack, api: ApiSpec) -> str:
    if api.base_url:
        path = urlsplit(api.base_url).path.rstrip("/")
        if path:
            return path
    prefix = f"/{stack.name}/{api.logical_id}"
    if api.kind == "rest" and api.stage and api.stage != "$default":
        prefix += f"/{api.stage}"
    return prefix


def _function_name(stack: DeployedStack, ref: str | None) -> str | None:
    if not ref:
        return None
    spec = stack.functions.get(ref)
    if spec is not None:
        return spec.name
    for fn in stack.functions.values():  # already a physical name or an ARN
        if ref in (fn.name, fn.arn):
            return fn.name
    if ref.startswith("arn:"):
        return ref.rsplit(":", 1)[-1] if ":function:" not in ref else ref.split(":function:")[1]
    return ref


def _metric_api(stack: DeployedStack, api: ApiSpec) -> str:
    """REST APIs' metrics carry ApiName (the RestApi's Name), HTTP APIs' carry ApiId."""
    if api.kind == "rest":
        rec = stack.resources.get(api.logical_id)
        name = rec.properties.get("Name") if rec is not None else None
        return str(name or api.logical_id)
    return api.api_id


def compile_api(stack: DeployedStack, api: ApiSpec) -> CompiledApi:
    routes: list[CompiledRoute] = []
    tenancy = Tenancy.from_profile(stack.profile, f"{stack.stack_dir}/harness.yaml")
    for spec in api.routes:
        method = spec.method.upper()
        path = spec.path if spec.path == "$default" else "/" + spec.path.strip("/")
        route_key = "$default" if path == "$default" else f"{method} {path}"
        auth_name = spec.authorizer if spec.authorizer is not None else api.default_authorizer
        if auth_name in (None, "", "NONE", "none"):
            authorizer = None
        else:
            authorizer = api.authorizers.get(auth_name)
            if authorizer is None:
                logger.warning(
                    "%s/%s: route %s names unknown authorizer %r; the route will answer 500",
                    stack.name, api.logical_id, route_key, auth_name,
                )  # fmt: skip
                authorizer = AuthorizerSpec(name=auth_name, type="none")
                authorizer.result_ttl_s = -1  # marks "misconfigured"
            elif authorizer.type in ("none", "iam"):
                authorizer = None
        integration = spec.integration
        default_timeout = DEFAULT_TIMEOUT_MS[api.kind]
        timeout_ms = integration.timeout_ms or default_timeout
        if api.kind == "rest":
            timeout_ms = min(timeout_ms, default_timeout)
        payload = integration.payload_format or ("1.0" if api.kind == "rest" else "2.0")
        if api.kind == "rest":
            payload = "1.0"
        target = RouteTarget(
            spec=spec,
            integration=integration,
            function_name=_function_name(stack, integration.function),
            authorizer=authorizer,
            timeout_s=timeout_ms / 1000.0,
            payload_format=payload,
            throttle=spec.throttle,
            bucket_key=f"gw:{stack.name}:{api.logical_id}:route:{route_key}",
            route_key=route_key,
        )
        routes.append(CompiledRoute(method=method, path=path, route_key=route_key, payload=target))
    prefix = api_prefix(stack, api)
    stage_segment = ""
    if api.kind == "http" and api.stage and api.stage != "$default":
        stage_segment = f"/{api.stage}" if prefix.endswith(f"/{api.stage}") else ""
    compiled = CompiledApi(
        stack=stack,
        spec=api,
        prefix=prefix,
        stage_segment=stage_segment,
        router=Router(routes),
        tenancy=tenancy,
        waf=Waf.from_profile(stack.profile),
        metric_api=_metric_api(stack, api),
    )
    for fn in stack.functions.values():
        parts = fn.arn.split(":")
        if len(parts) > 4 and parts[4]:
            compiled.account_id = parts[4]
            break
    for name, auth in api.authorizers.items():
        auth_fn = _function_name(stack, auth.function)
        if auth_fn:
            compiled.authorizer_functions[name] = auth_fn
    for plan in api.usage_plans:
        for key_value, key_id in plan.api_keys.items():
            compiled.plans_by_key[key_value] = (plan, key_id)
        if plan.tier:
            compiled.plans_by_tier[plan.tier] = plan
    for tier, plan_name in tenancy.tier_plans.items():
        for plan in api.usage_plans:
            if plan.name == plan_name:
                compiled.plans_by_tier.setdefault(tier, plan)
    for tier, inline in tenancy.inline_plans.items():
        compiled.plans_by_tier.setdefault(tier, inline)
    return compiled


FOLDER_SETTLE_NS = 50_000_000  # 50 ms: far above a file-time tick (1-10 ms)


class Registry:
    """The compiled APIs of every deployed stack, reloaded when the stacks folder changes."""

    def __init__(self, state_dir: Path, check_interval: float = 1.0) -> None:
        self.state_dir = Path(state_dir)
        self.check_interval = check_interval
        self.apis: dict[str, CompiledApi] = {}  # prefix -> api
        self.by_head: dict[str, list[CompiledApi]] = {}  # "/stack/api" -> apis (longest first)
        self.stacks: dict[str, DeployedStack] = {}
        self.endpoints: dict[str, Any] = {}
        self.errors: list[str] = []
        self.generation = 0
        self.loaded_at = 0.0
        self._signature: tuple[Any, ...] | None = None
        self._next_check = 0.0
        self._folder_mtime: int | None = None  # of the stacks folder, once settled

    # -- loading -------------------------------------------------------------------------

    def _current_signature(self) -> tuple[Any, ...]:
        entries: list[tuple[str, int, int]] = []
        folder = self.state_dir / "stacks"
        try:
            with os.scandir(folder) as it:
                for entry in it:
                    if entry.name.endswith(".json"):
                        st = entry.stat()
                        entries.append((entry.name, st.st_mtime_ns, st.st_size))
        except FileNotFoundError:
            pass
        try:
            st = (self.state_dir / "state.json").stat()
            state_sig: tuple[int, int] = (st.st_mtime_ns, st.st_size)
        except FileNotFoundError:
            state_sig = (0, 0)
        return (tuple(sorted(entries)), state_sig)

    def _folder_time(self) -> int:
        try:
            return os.stat(self.state_dir / "stacks").st_mtime_ns
        except FileNotFoundError:
            return 0

    def maybe_reload(self) -> bool:
        """Reload if the stacks folder changed (its time, on every call) or any stack file or
        the state file did (their sizes and times, at most once a second)."""
        now = time.monotonic()
        folder = self._folder_time()
        if folder == self._folder_mtime and now < self._next_check:
            return False
        self._next_check = now + self.check_interval
        signature = self._current_signature()
        changed = signature != self._signature
        if changed:
            self.reload(signature)
        # Trust the folder's time as the change marker only once it lies further back than the
        # clock's tick: a change within the same tick would leave it equal.
        settled = time.time_ns() - folder > FOLDER_SETTLE_NS
        self._folder_mtime = folder if settled else None
        return changed

    def reload(self, signature: tuple[Any, ...] | None = None) -> None:
        signature = signature or self._current_signature()
        errors: list[str] = []
        try:
            state = json.loads((self.state_dir / "state.json").read_text())
            endpoints = dict(state.get("endpoints", {}))
        except FileNotFoundError:
            endpoints = {}
        except (OSError, ValueError) as exc:
            errors.append(f"state.json: {exc}")
            endpoints = dict(self.endpoints)
        try:
            stacks = load_stacks(self.state_dir)
        except Exception as exc:  # a half-written or invalid stack file: keep serving the rest
            errors.append(f"stacks: {exc}")
            stacks = self._load_each(errors)
        apis: dict[str, CompiledApi] = {}
        for stack in stacks.values():
            for api in stack.apis.values():
                try:
                    compiled = compile_api(stack, api)
                except Exception as exc:
                    errors.append(f"{stack.name}/{api.logical_id}: {exc}")
                    logger.warning(
                        "gateway: cannot serve %s/%s: %s", stack.name, api.logical_id, exc
                    )
                    continue
                compiled.region = str(endpoints.get("region") or "us-east-1")
                if compiled.account_id == "000000000000" and endpoints.get("account_id"):
                    compiled.account_id = str(endpoints["account_id"])
                apis[compiled.prefix] = compiled
        by_head: dict[str, list[CompiledApi]] = {}
        for compiled in apis.values():
            head = "/".join(compiled.prefix.split("/")[:3])
            by_head.setdefault(head, []).append(compiled)
        for group in by_head.values():
            group.sort(key=lambda a: len(a.prefix), reverse=True)
        self.apis, self.by_head, self.stacks = apis, by_head, stacks
        self.endpoints = endpoints
        self.errors = errors
        self._signature = signature
        self.generation += 1
        self.loaded_at = time.time()
        for error in errors:
            logger.warning("gateway reload: %s", error)

    def _load_each(self, errors: list[str]) -> dict[str, DeployedStack]:
        stacks: dict[str, DeployedStack] = {}
        for path in sorted((self.state_dir / "stacks").glob("*.json")):
            try:
                stack = DeployedStack.from_json(json.loads(path.read_text()))
            except Exception as exc:
                errors.append(f"{path.name}: {exc}")
                continue
            stacks[stack.name] = stack
        return stacks

    # -- lookup --------------------------------------------------------------------------

    def find(self, path: str) -> tuple[CompiledApi | None, str]:
        """The API serving ``path`` and the rest of the path after its prefix."""
        second = path.find("/", 1)
        if second < 0:
            return None, ""
        third = path.find("/", second + 1)
        head = path if third < 0 else path[:third]
        group = self.by_head.get(head)
        if not group:
            return None, ""
        for api in group:
            prefix = api.prefix
            if path == prefix:
                return api, "/"
            if path.startswith(prefix) and path[len(prefix)] == "/":
                return api, path[len(prefix) :]
        return None, ""
