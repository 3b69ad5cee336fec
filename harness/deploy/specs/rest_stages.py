"""A REST API's stage settings and usage plans (split from :mod:`harness.deploy.specs.apis`):
a stage's ``MethodSettings`` (the stage throttle, per-route throttles), usage plans with their
per-stage and per-method throttles and quotas, and the tier each plan serves (``tenancy.tiers``
of the stack's profile). What the gateway cannot honour is refused through the caller's
``refuse`` (property path, reason).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from harness.model import ResourceRecord, RouteSpec, ThrottleSpec, UsagePlanSpec

__all__ = ["Refuse", "method_settings", "refers", "throttle_spec", "usage_plans"]

Refuse = Callable[[str, str], None]  # (property path, reason): something not served locally


def throttle_spec(rate: Any, burst: Any) -> ThrottleSpec | None:
    if rate is None and burst is None:
        return None
    return ThrottleSpec(
        rate=float(rate if rate is not None else 10000),
        burst=int(burst if burst is not None else 5000),
    )


def refers(value: Any, rec: ResourceRecord) -> bool:
    return value in (rec.physical_id, rec.logical_id)


def _tier_for(plan_name: str, logical_id: str, profile: Mapping[str, Any]) -> str | None:
    tiers = profile.get("tiers")
    names: list[str] = []
    if isinstance(tiers, Mapping):
        for tier, spec in tiers.items():
            if isinstance(spec, Mapping) and spec.get("usage_plan") in (plan_name, logical_id):
                return str(tier)
            names.append(str(tier))
    elif isinstance(tiers, list):
        names = [str(t.get("name") if isinstance(t, Mapping) else t) for t in tiers]
    for tier in names:
        if tier.lower() in plan_name.lower() or tier.lower() in logical_id.lower():
            return tier
    return None


def _rest_setting_path(raw: Any) -> str:
    """A MethodSettings ResourcePath (``/~1orders~1{id}``, or SAM's plain ``/orders``)."""
    return str(raw).replace("~1", "/").replace("//", "/") or "/"


def method_settings(
    stage_props: Mapping[str, Any], routes: list[RouteSpec], refuse: Refuse
) -> ThrottleSpec | None:
    """A REST stage's MethodSettings: ``/*`` ``*`` is the stage throttle; one naming a resource
    path and method throttles the routes it names (refused when it names none)."""
    stage_throttle = None
    for n, setting in enumerate(stage_props.get("MethodSettings") or []):
        path = setting.get("ResourcePath", "/*")
        method = str(setting.get("HttpMethod", "*")).upper()
        if str(setting.get("CachingEnabled", "false")).lower() == "true":
            refuse(
                f"MethodSettings[{n}].CachingEnabled",
                "API Gateway response caching is not served by the local gateway",
            )
        limits = throttle_spec(
            setting.get("ThrottlingRateLimit"), setting.get("ThrottlingBurstLimit")
        )
        if path in ("/*", None) and method == "*":
            stage_throttle = limits
            continue
        if limits is None:
            continue
        wanted = _rest_setting_path(path)
        matched = [
            r
            for r in routes
            if (wanted == "/*" or r.path.strip("/") == wanted.strip("/"))
            and method in ("*", r.method)
        ]
        if not matched:
            refuse(
                f"MethodSettings[{n}]",
                f"the throttle for {method} {path} names no route of the API",
            )
        for route in matched:
            route.throttle = limits
    return stage_throttle


def _method_throttles(
    stage: Mapping[str, Any], routes: list[RouteSpec], refuse: Refuse, where: str
) -> dict[str, ThrottleSpec]:
    """A usage plan stage's ``Throttle`` (``"/orders/GET": {RateLimit, BurstLimit}``), keyed
    ``"METHOD /path"`` as the gateway matches routes."""
    out: dict[str, ThrottleSpec] = {}
    for key, limits in (stage.get("Throttle") or {}).items():
        path, _, method = str(key).rpartition("/")
        path = path or "/"
        method = method.upper()
        spec = throttle_spec((limits or {}).get("RateLimit"), (limits or {}).get("BurstLimit"))
        matched = [
            r
            for r in routes
            if r.path.strip("/") == path.strip("/") and method in ("*", r.method, "ANY")
        ]
        if spec is None or not matched:
            refuse(
                f"{where}.Throttle.{key}",
                f"the method throttle {key} names no route of the API (routes: "
                + ", ".join(f"{r.path}/{r.method}" for r in routes)
                + "), or has no RateLimit/BurstLimit",
            )
            continue
        for route in matched:  # the gateway's route key (registry.compile_api)
            out[f"{route.method.upper()} /{route.path.strip('/')}"] = spec
    return out


def usage_plans(
    api: ResourceRecord,
    records: Mapping[str, ResourceRecord],
    profile: Mapping[str, Any],
    routes: list[RouteSpec],
    refuser: Callable[[str], Refuse],
) -> list[UsagePlanSpec]:
    plans = []
    keys = {r.physical_id: r for r in records.values() if r.type == "AWS::ApiGateway::ApiKey"}
    plan_keys = [r for r in records.values() if r.type == "AWS::ApiGateway::UsagePlanKey"]
    for rec in records.values():
        if rec.type != "AWS::ApiGateway::UsagePlan":
            continue
        stages = rec.properties.get("ApiStages") or []
        if not any(refers(s.get("ApiId"), api) for s in stages):
            continue
        props = rec.properties
        method_throttles: dict[str, ThrottleSpec] = {}
        for n, stage in enumerate(stages):
            if refers(stage.get("ApiId"), api):
                method_throttles.update(
                    _method_throttles(stage, routes, refuser(rec.logical_id), f"ApiStages[{n}]")
                )
        throttle_raw = props.get("Throttle") or {}
        quota = props.get("Quota") or {}
        api_keys = {}
        for link in plan_keys:
            if link.properties.get("UsagePlanId") == rec.physical_id:
                key = keys.get(str(link.properties.get("KeyId")))
                if key is not None:
                    api_keys[str(key.attributes.get("Value"))] = key.physical_id
        name = str(props.get("UsagePlanName") or rec.logical_id)
        plans.append(
            UsagePlanSpec(
                name=name,
                throttle=throttle_spec(
                    throttle_raw.get("RateLimit"), throttle_raw.get("BurstLimit")
                ),
                quota_limit=int(quota["Limit"]) if "Limit" in quota else None,
                quota_period=quota.get("Period"),
                api_keys=api_keys,
                tier=_tier_for(name, rec.logical_id, profile),
                method_throttles=method_throttles,
            )
        )
    return plans
