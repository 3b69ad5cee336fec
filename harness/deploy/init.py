"""``harness init STACK_DIR``: a starting ``harness.yaml`` (and a smoke scenario) for an app.

Read from the template as deploy reads it (includes and SAM expanded, parameters at their
defaults or ``--param``):

* the APIs and their routes (OpenAPI ``Body`` paths, HTTP API routes, REST methods), and the one
  the load goes to (``api``: the API with the most routes);
* the authorizers, and the claim that looks like the tenant: the first ``tenant``-ish name
  (``custom:tenant_id``, ``tenantId``, ``tenant``...) quoted in the functions' code, else
  ``tenant_id``; with a JWT authorizer the tokens come from the harness's local issuer;
* a traffic mix: one request per route (``{uuid}`` for path parameters, ``json: {}`` for
  bodies), reads weighted above writes, ``auth: bearer`` where the route has an authorizer;
* two tenants with a user each, for the issuer;
* a commented ``isolation`` section to fill in (harness/isolation/spec.py).

``smoke.yaml`` beside it is a scenario ``harness run STACK_DIR/smoke.yaml`` runs: a short warm-up,
12 seconds at 3 requests a second, and "no 5xx" as the expectation. Existing files are never
overwritten (``--force`` does).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from harness.errors import DeployError

__all__ = ["InitResult", "Route", "init_stack", "scan_routes", "tenant_claim"]

_METHODS = ("get", "put", "post", "delete", "patch", "head", "options")
_TENANTISH = re.compile(
    r"""["'](custom:tenant[_-]?id|tenant[_-]?id|tenantId|TenantId|custom:tenant|tenant)["']"""
)


@dataclass
class Route:
    api: str
    method: str
    path: str
    authorizer: str | None = None


@dataclass
class InitResult:
    profile_path: Path
    scenario_path: Path
    api: str | None
    routes: list[Route] = field(default_factory=list)
    tenant_claim: str = "tenant_id"
    authorizers: dict[str, str] = field(default_factory=dict)  # name -> type


def _body_routes(api: str, body: dict[str, Any]) -> tuple[list[Route], dict[str, str]]:
    schemes = (
        (body.get("components") or {}).get("securitySchemes")
        or body.get("securityDefinitions")
        or {}
    )
    kinds = {
        str(name): str((s.get("x-amazon-apigateway-authorizer") or {}).get("type", "")).lower()
        for name, s in schemes.items()
        if isinstance(s, dict) and s.get("x-amazon-apigateway-authorizer")
    }
    routes = []
    top = body.get("security") or []
    for path, item in (body.get("paths") or {}).items():
        if not isinstance(item, dict):
            continue
        for key, operation in item.items():
            if key not in (*_METHODS, "x-amazon-apigateway-any-method"):
                continue
            if not isinstance(operation, dict) or key == "options":
                continue
            security = operation.get("security", top) or []
            names = [n for req in security for n in (req or {}) if n in kinds]
            method = "GET" if key == "x-amazon-apigateway-any-method" else key.upper()
            routes.append(Route(api, method, str(path), names[0] if names else None))
    return routes, kinds


def scan_routes(template: dict[str, Any]) -> tuple[list[Route], dict[str, str]]:
    """Every route of every API in a (SAM-expanded) template, and the authorizers by type."""
    resources: dict[str, Any] = template.get("Resources") or {}
    routes: list[Route] = []
    authorizers: dict[str, str] = {}
    for logical_id, res in resources.items():
        kind = res.get("Type")
        props = res.get("Properties") or {}
        if kind in ("AWS::ApiGateway::RestApi", "AWS::ApiGatewayV2::Api") and isinstance(
            props.get("Body"), dict
        ):
            found, kinds = _body_routes(logical_id, props["Body"])
            routes += found
            authorizers.update(kinds)
        elif kind == "AWS::ApiGatewayV2::Route":
            api = (props.get("ApiId") or {}).get("Ref", "Api")
            method, _, path = str(props.get("RouteKey", "")).partition(" ")
            if path:
                auth = props.get("AuthorizerId")
                routes.append(Route(str(api), method if method != "ANY" else "GET", path,
                                    "authorizer" if auth else None))  # fmt: skip
        elif kind == "AWS::ApiGateway::Method" and props.get("HttpMethod") != "OPTIONS":
            api = (props.get("RestApiId") or {}).get("Ref", "Api")
            segments, ref = [], props.get("ResourceId")
            while isinstance(ref, dict) and "Ref" in ref and ref["Ref"] in resources:
                part = resources[ref["Ref"]].get("Properties") or {}
                segments.append(str(part.get("PathPart", "")))
                ref = part.get("ParentId")
            method = str(props.get("HttpMethod", "GET")).upper()
            auth = str(props.get("AuthorizationType", "NONE")).upper()
            routes.append(
                Route(str(api), "GET" if method == "ANY" else method,
                      "/" + "/".join(reversed(segments)), None if auth == "NONE" else auth.lower())
            )  # fmt: skip
    return routes, authorizers


def tenant_claim(code_dirs: list[Path]) -> str | None:
    """The first tenant-looking claim name quoted in the functions' code."""
    for folder in code_dirs:
        for path in sorted(folder.rglob("*.py")) + sorted(folder.rglob("*.js")):
            if any(part in (".venv", "node_modules", "__pycache__") for part in path.parts):
                continue
            match = _TENANTISH.search(path.read_text(encoding="utf-8", errors="replace"))
            if match:
                return match.group(1)
    return None


def _request(route: Route) -> dict[str, Any]:
    path = re.sub(r"\{[^}]+\+\}", "smoke", route.path)
    path = re.sub(r"\{[^}]+\}", "{uuid}", path)
    name = route.method.lower() + "_" + re.sub(r"[^A-Za-z0-9]+", "_", route.path).strip("_")
    request: dict[str, Any] = {
        "name": name.rstrip("_") or route.method.lower(),
        "method": route.method,
        "path": path,
        "weight": 5 if route.method == "GET" else 1,
    }
    if route.authorizer:
        request["auth"] = "bearer"
    if route.method in ("POST", "PUT", "PATCH"):
        request["json"] = {}
    return request


ISOLATION_HINT = """\
# isolation:                      # what `harness isolation` drives (harness/isolation/spec.py):
#   resources:                    # e.g. a tenant's items, created and read through the API
#     item:
#       create: {method: POST, path: /items, json: {name: "{text}"}, id: "$.id"}
#       read: {method: GET, path: "/items/{id}"}
#       list: {method: GET, path: /items}
"""


def init_stack(
    stack_dir: Path, params: dict[str, str] | None = None, *, force: bool = False
) -> InitResult:
    """Write ``harness.yaml`` and ``smoke.yaml`` into ``stack_dir`` (see the module docstring)."""
    from harness.deploy.engine import plan_stack
    from harness.deploy.template import load_source

    stack_dir = Path(stack_dir).resolve()
    profile_path, scenario_path = stack_dir / "harness.yaml", stack_dir / "smoke.yaml"
    for path in (profile_path, scenario_path):
        if path.exists() and not force:
            raise DeployError(
                f"{path.name} already exists in {stack_dir}.",
                file=str(path),
                fix="keep it, or run `harness init --force` to write a fresh one over it.",
            )
    source = load_source(stack_dir)
    plan = plan_stack(source, params, run_lint=False, allow_unsupported=True)
    routes, authorizers = scan_routes(plan.template)
    code_dirs = sorted(
        {
            (stack_dir / str(r["Properties"]["Code"]["S3Key"])).resolve()
            for r in plan.template.get("Resources", {}).values()
            if r.get("Type") == "AWS::Lambda::Function"
            and isinstance((r.get("Properties") or {}).get("Code"), dict)
            and "S3Key" in r["Properties"]["Code"]
            and (stack_dir / str(r["Properties"]["Code"]["S3Key"])).is_dir()
        }
    )
    claim = tenant_claim(code_dirs) or "tenant_id"
    by_api: dict[str, list[Route]] = {}
    for route in routes:
        by_api.setdefault(route.api, []).append(route)
    api = max(by_api, key=lambda a: len(by_api[a])) if by_api else None
    profile: dict[str, Any] = {"name": source.name}
    if api:
        profile["api"] = api
    if any(kind in ("jwt", "cognito_user_pools") for kind in authorizers.values()):
        profile["auth"] = {"issuer": "local"}
    profile["tenancy"] = {"tenant_claim": claim}
    profile["tenants"] = [{"id": "tenant-a", "users": 1}, {"id": "tenant-b", "users": 1}]
    if api:
        requests = [_request(r) for r in by_api[api]]
        smoke = [dict(r) for r in requests if r["method"] == "GET" and "{uuid}" not in r["path"]]
        profile["traffic"] = {
            "default": "smoke" if smoke else "routes",
            "mixes": {
                "routes": {"requests": requests},
                **({"smoke": {"requests": smoke}} if smoke else {}),
            },
        }
        profile["slos"] = ["availability > 0.99"]
    header = (
        f"# Written by `harness init` from {source.template_path.name}: a start, to edit.\n"
        f"# APIs and routes: {', '.join(f'{r.method} {r.path}' for r in routes) or 'none'}.\n"
        f"# Authorizers: {', '.join(f'{k} ({v})' for k, v in authorizers.items()) or 'none'}; "
        f"the tenant claim '{claim}' was "
        + ("found in the functions' code.\n" if tenant_claim(code_dirs) else "assumed.\n")
    )
    profile_path.write_text(
        header + yaml.safe_dump(profile, sort_keys=False, width=100) + ISOLATION_HINT
    )
    scenario = {
        "title": f"{source.name} smoke (generated by harness init)",
        "seed": 1,
        "stacks": ["."],
        "warmup": {"duration": "4s", "rate": 2},
        "timeline": [{"name": "steady", "duration": "12s", "load": {"rate": 3}}],
        "expectations": [
            {"name": "no 5xx", "metric": "availability", "scope": "phase:steady", "op": ">=",
             "target": "99%"},
        ],
    }  # fmt: skip
    if not api:
        scenario.pop("warmup")
        scenario["timeline"] = [{"name": "steady", "duration": "2s"}]
        scenario["expectations"] = []
    scenario_path.write_text(
        "# Written by `harness init`: `harness run smoke.yaml` deploys the app, warms it up and\n"
        "# checks that no answer is a 5xx. Edit the load and the expectations to taste.\n"
        + yaml.safe_dump(scenario, sort_keys=False, width=100)
    )
    return InitResult(profile_path, scenario_path, api, routes, claim, authorizers)
