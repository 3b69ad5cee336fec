"""ApiSpec for each HTTP API (AWS::ApiGatewayV2::Api) and REST API (AWS::ApiGateway::RestApi).

Routes come from the OpenAPI ``Body`` SAM generates (``x-amazon-apigateway-integration``,
``security``, ``securitySchemes``/``securityDefinitions`` with ``x-amazon-apigateway-authorizer``
of type jwt / request / token / cognito_user_pools, ``x-amazon-apigateway-cors``), or, for plain
CloudFormation, from Route/Integration/Authorizer and Resource/Method resources. Stages give the
stage name, throttling and variables; usage plans, API keys and their keys give UsagePlanSpec.

``base_url`` is ``{gateway_url}/{stack}/{ApiLogicalId}``, plus ``/{stage}`` for REST APIs (the
convention the gateway serves; an HTTP API's named stage is not part of its local URL).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from harness.deploy.specs.functions import FunctionIndex
from harness.model import (
    ApiSpec,
    AuthorizerSpec,
    CorsSpec,
    IntegrationSpec,
    ResourceRecord,
    RouteSpec,
    ThrottleSpec,
    UsagePlanSpec,
)

__all__ = ["build_apis"]

logger = logging.getLogger(__name__)

_METHODS = (
    "get",
    "put",
    "post",
    "delete",
    "options",
    "head",
    "patch",
    "x-amazon-apigateway-any-method",
)


def _list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return [str(v) for v in value]


def _integration(raw: Mapping[str, Any], index: FunctionIndex, rest: bool) -> IntegrationSpec:
    kind = str(raw.get("type", "aws_proxy")).lower()
    uri = raw.get("uri")
    subtype = raw.get("integrationSubtype")
    timeout = int(raw.get("timeoutInMillis", 29000 if rest else 30000))
    if kind == "aws_proxy" and not subtype:
        return IntegrationSpec(
            type="lambda",
            function=index.find(uri),
            payload_format=str(raw.get("payloadFormatVersion", "1.0" if rest else "2.0")),
            timeout_ms=timeout,
        )
    if kind == "mock":
        return IntegrationSpec(
            type="mock",
            request_templates=dict(raw.get("requestTemplates") or {}),
            response=dict(raw.get("responses") or {}),
        )
    if kind in ("http", "http_proxy"):
        return IntegrationSpec(type="http", parameters={"uri": str(uri)}, timeout_ms=timeout)
    text = f"{subtype or ''} {uri or ''}".lower()
    target = (
        "sqs"
        if "sqs" in text
        else "eventbridge"
        if ("events" in text or "eventbridge" in text)
        else None
    )
    if target is None:
        logger.warning("integration %r is not served locally; recorded as mock", raw)
        target = "mock"
    return IntegrationSpec(
        type=target,  # type: ignore[arg-type]
        subtype=subtype,
        parameters={str(k): str(v) for k, v in (raw.get("requestParameters") or {}).items()},
        request_templates={str(k): str(v) for k, v in (raw.get("requestTemplates") or {}).items()},
        response=dict(raw.get("responses") or {}),
        timeout_ms=timeout,
        payload_format=str(raw.get("payloadFormatVersion", "1.0")),
    )


def _authorizer(
    name: str, scheme: Mapping[str, Any], index: FunctionIndex
) -> AuthorizerSpec | None:
    raw = scheme.get("x-amazon-apigateway-authorizer")
    if not isinstance(raw, Mapping):
        return None
    kind = str(raw.get("type", "")).lower()
    sources = _list(raw.get("identitySource"))
    ttl = int(raw.get("authorizerResultTtlInSeconds", 300 if kind in ("token", "request") else 0))
    if kind == "jwt":
        jwt = raw.get("jwtConfiguration") or {}
        issuer = jwt.get("issuer")
        return AuthorizerSpec(
            name=name,
            type="jwt",
            issuer=issuer,
            audience=_list(jwt.get("audience")),
            identity_sources=sources or ["$request.header.Authorization"],
        )
    if kind == "cognito_user_pools":
        arns = _list(raw.get("providerARNs"))
        issuers = [_cognito_issuer(a) for a in arns]
        return AuthorizerSpec(
            name=name,
            type="cognito",
            issuer=issuers[0] if issuers else None,
            identity_sources=sources
            or [f"method.request.header.{scheme.get('name', 'Authorization')}"],
            user_pool_arns=arns,
            payload_format="1.0",
        )
    if kind in ("token", "request"):
        header = scheme.get("name", "Authorization")
        default = [f"method.request.header.{header}"] if kind == "token" else []
        return AuthorizerSpec(
            name=name,
            type="lambda_token" if kind == "token" else "lambda_request",
            identity_sources=sources or default,
            function=index.find(raw.get("authorizerUri")),
            result_ttl_s=ttl,
            payload_format=str(raw.get("authorizerPayloadFormatVersion", "1.0")),
            simple_responses=bool(raw.get("enableSimpleResponses", False)),
        )
    logger.warning("authorizer %s of type %s is not served locally", name, kind)
    return None


def _cognito_issuer(arn: str) -> str:
    # arn:aws:cognito-idp:region:account:userpool/POOL_ID
    parts = arn.split(":")
    region = parts[3] if len(parts) > 3 else "us-east-1"
    return f"https://cognito-idp.{region}.amazonaws.com/{arn.rsplit('/', 1)[-1]}"


def _cors(raw: Any) -> CorsSpec | None:
    if not isinstance(raw, Mapping):
        return None
    get = {k.lower(): v for k, v in raw.items()}
    max_age = get.get("maxage")
    return CorsSpec(
        allow_origins=_list(get.get("alloworigins")),
        allow_methods=_list(get.get("allowmethods")),
        allow_headers=_list(get.get("allowheaders")),
        expose_headers=_list(get.get("exposeheaders")),
        allow_credentials=str(get.get("allowcredentials", False)).lower() == "true",
        max_age=int(max_age) if max_age is not None else None,
    )


def _routes_from_body(
    body: Mapping[str, Any],
    index: FunctionIndex,
    rest: bool,
    authorizers: dict[str, AuthorizerSpec],
) -> list[RouteSpec]:
    routes = []
    top_security = body.get("security")
    for path, item in (body.get("paths") or {}).items():
        if not isinstance(item, Mapping):
            continue
        for method_key, operation in item.items():
            if method_key.lower() not in _METHODS or not isinstance(operation, Mapping):
                continue
            method = "ANY" if method_key == "x-amazon-apigateway-any-method" else method_key.upper()
            raw = operation.get("x-amazon-apigateway-integration") or {}
            security = operation.get("security", top_security) or []
            authorizer, scopes, api_key = None, [], False
            for requirement in security:
                for name, req_scopes in (requirement or {}).items():
                    if name == "api_key":
                        api_key = True
                    elif name in authorizers:
                        authorizer, scopes = name, list(req_scopes or [])
            routes.append(
                RouteSpec(
                    method=method,
                    path="$default"
                    if operation.get("isDefaultRoute") or path == "$default"
                    else path,
                    integration=_integration(raw, index, rest),
                    authorizer=authorizer,
                    scopes=scopes,
                    api_key_required=api_key,
                )
            )
    return routes


def _throttle(rate: Any, burst: Any) -> ThrottleSpec | None:
    if rate is None and burst is None:
        return None
    return ThrottleSpec(
        rate=float(rate if rate is not None else 10000),
        burst=int(burst if burst is not None else 5000),
    )


def _refers(value: Any, rec: ResourceRecord) -> bool:
    return value in (rec.physical_id, rec.logical_id)


def build_apis(
    records: Mapping[str, ResourceRecord],
    profile: Mapping[str, Any] | None = None,
) -> dict[str, ApiSpec]:
    index = FunctionIndex(records)
    apis: dict[str, ApiSpec] = {}
    for logical_id, rec in records.items():
        if rec.type not in ("AWS::ApiGatewayV2::Api", "AWS::ApiGateway::RestApi"):
            continue
        rest = rec.type == "AWS::ApiGateway::RestApi"
        props = rec.properties
        raw_body = props.get("Body")
        body: Mapping[str, Any] = raw_body if isinstance(raw_body, Mapping) else {}
        schemes = (
            (body.get("components") or {}).get("securitySchemes")
            or body.get("securityDefinitions")
            or {}
        )
        authorizers: dict[str, AuthorizerSpec] = {}
        for name, scheme in schemes.items():
            spec = _authorizer(name, scheme, index)
            if spec:
                authorizers[name] = spec
        parts = [
            r
            for r in records.values()
            if _refers(r.properties.get("ApiId") or r.properties.get("RestApiId"), rec)
        ]
        for part in parts:
            if part.type in ("AWS::ApiGatewayV2::Authorizer", "AWS::ApiGateway::Authorizer"):
                spec = _authorizer_resource(part, index)
                if spec:
                    authorizers[spec.name] = spec
        routes = _routes_from_body(body, index, rest, authorizers)
        routes += _routes_from_resources(parts, records, index, rest, authorizers, rec)
        stages = [
            p for p in parts if p.type in ("AWS::ApiGatewayV2::Stage", "AWS::ApiGateway::Stage")
        ]
        stage = stages[0] if stages else None
        stage_name = stage.physical_id if stage else ("$default" if not rest else "prod")
        stage_props = stage.properties if stage else {}
        stage_throttle = None
        if rest:
            for setting in stage_props.get("MethodSettings") or []:
                if setting.get("ResourcePath") in ("/*", None) and setting.get("HttpMethod") in (
                    "*",
                    None,
                ):
                    stage_throttle = _throttle(
                        setting.get("ThrottlingRateLimit"), setting.get("ThrottlingBurstLimit")
                    )
            variables = stage_props.get("Variables") or {}
        else:
            default = stage_props.get("DefaultRouteSettings") or {}
            stage_throttle = _throttle(
                default.get("ThrottlingRateLimit"), default.get("ThrottlingBurstLimit")
            )
            for route_key, setting in (stage_props.get("RouteSettings") or {}).items():
                method, _, path = route_key.partition(" ")
                for route in routes:
                    if (route.method, route.path) == (method, path) or route_key == route.path:
                        route.throttle = _throttle(
                            setting.get("ThrottlingRateLimit"), setting.get("ThrottlingBurstLimit")
                        )
            variables = stage_props.get("StageVariables") or {}
        base = str(rec.attributes.get("ApiEndpoint", ""))
        base_url = f"{base}/{stage_name}" if rest and stage_name != "$default" else base
        apis[logical_id] = ApiSpec(
            logical_id=logical_id,
            kind="rest" if rest else "http",
            api_id=rec.physical_id,
            stage=stage_name,
            base_url=base_url,
            routes=routes,
            authorizers=authorizers,
            default_authorizer=None,  # every route names its authorizer (None: open)
            cors=_cors(body.get("x-amazon-apigateway-cors") or props.get("CorsConfiguration")),
            stage_throttle=stage_throttle,
            stage_variables={str(k): str(v) for k, v in variables.items()},
            binary_media_types=list(
                body.get("x-amazon-apigateway-binary-media-types")
                or props.get("BinaryMediaTypes")
                or []
            ),
            usage_plans=_usage_plans(rec, records, profile or {}),
            api_key_source=str(
                body.get("x-amazon-apigateway-api-key-source")
                or props.get("ApiKeySourceType")
                or "HEADER"
            ).upper(),  # type: ignore[arg-type]
            disable_execute_api_endpoint=bool(props.get("DisableExecuteApiEndpoint", False)),
        )
    return apis


def _authorizer_resource(part: ResourceRecord, index: FunctionIndex) -> AuthorizerSpec | None:
    props = part.properties
    kind = str(props.get("AuthorizerType") or props.get("Type") or "").upper()
    name = str(props.get("Name") or part.logical_id)
    sources = _list(props.get("IdentitySource"))
    if kind == "JWT":
        jwt = props.get("JwtConfiguration") or {}
        issuer = jwt.get("Issuer")
        return AuthorizerSpec(
            name=name,
            type="jwt",
            issuer=issuer,
            audience=_list(jwt.get("Audience")),
            identity_sources=sources or ["$request.header.Authorization"],
        )
    if kind == "COGNITO_USER_POOLS":
        arns = _list(props.get("ProviderARNs"))
        issuer = _cognito_issuer(arns[0]) if arns else None
        return AuthorizerSpec(
            name=name,
            type="cognito",
            issuer=issuer,
            identity_sources=sources,
            user_pool_arns=arns,
            payload_format="1.0",
        )
    if kind in ("REQUEST", "TOKEN"):
        return AuthorizerSpec(
            name=name,
            type="lambda_token" if kind == "TOKEN" else "lambda_request",
            identity_sources=sources,
            function=index.find(props.get("AuthorizerUri")),
            result_ttl_s=int(props.get("AuthorizerResultTtlInSeconds", 300)),
            payload_format=str(props.get("AuthorizerPayloadFormatVersion", "1.0")),
            simple_responses=str(props.get("EnableSimpleResponses", False)).lower() == "true",
        )
    return None


def _routes_from_resources(
    parts: list[ResourceRecord],
    records: Mapping[str, ResourceRecord],
    index: FunctionIndex,
    rest: bool,
    authorizers: dict[str, AuthorizerSpec],
    api: ResourceRecord,
) -> list[RouteSpec]:
    by_id = {p.physical_id: p for p in parts}
    auth_names = {
        p.physical_id: str(p.properties.get("Name") or p.logical_id)
        for p in parts
        if p.type.endswith("::Authorizer")
    }
    routes = []
    for part in parts:
        props = part.properties
        if part.type == "AWS::ApiGatewayV2::Route":
            method, _, path = str(props.get("RouteKey", "$default")).partition(" ")
            target = str(props.get("Target", "")).split("/", 1)[-1]
            integration_rec = by_id.get(target)
            integration = (
                _v2_integration(integration_rec, index)
                if integration_rec
                else IntegrationSpec(type="mock")
            )
            routes.append(
                RouteSpec(
                    method="ANY" if method == "$default" else method,
                    path=path or "$default",
                    integration=integration,
                    authorizer=auth_names.get(props.get("AuthorizerId", "")),
                    scopes=_list(props.get("AuthorizationScopes")),
                    api_key_required=bool(props.get("ApiKeyRequired", False)),
                )
            )
        elif part.type == "AWS::ApiGateway::Method":
            raw = props.get("Integration") or {}
            integration = _integration(
                {k[0].lower() + k[1:]: v for k, v in raw.items()}, index, True
            )
            routes.append(
                RouteSpec(
                    method=str(props.get("HttpMethod", "ANY")).upper(),
                    path=_rest_path(props.get("ResourceId"), parts, api),
                    integration=integration,
                    authorizer=auth_names.get(props.get("AuthorizerId", "")),
                    scopes=_list(props.get("AuthorizationScopes")),
                    api_key_required=str(props.get("ApiKeyRequired", False)).lower() == "true",
                )
            )
    return routes


def _v2_integration(rec: ResourceRecord, index: FunctionIndex) -> IntegrationSpec:
    props = rec.properties
    raw = {
        "type": props.get("IntegrationType", "AWS_PROXY"),
        "uri": props.get("IntegrationUri"),
        "integrationSubtype": props.get("IntegrationSubtype"),
        "payloadFormatVersion": props.get("PayloadFormatVersion", "2.0"),
        "timeoutInMillis": props.get("TimeoutInMillis", 30000),
        "requestParameters": props.get("RequestParameters"),
    }
    return _integration(raw, index, False)


def _rest_path(resource_id: Any, parts: list[ResourceRecord], api: ResourceRecord) -> str:
    resources = {p.physical_id: p for p in parts if p.type == "AWS::ApiGateway::Resource"}
    segments: list[str] = []
    current = resource_id
    while current in resources and len(segments) < 50:
        segments.append(str(resources[current].properties.get("PathPart", "")))
        current = resources[current].properties.get("ParentId")
    return "/" + "/".join(reversed(segments))


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


def _usage_plans(
    api: ResourceRecord, records: Mapping[str, ResourceRecord], profile: Mapping[str, Any]
) -> list[UsagePlanSpec]:
    plans = []
    keys = {r.physical_id: r for r in records.values() if r.type == "AWS::ApiGateway::ApiKey"}
    plan_keys = [r for r in records.values() if r.type == "AWS::ApiGateway::UsagePlanKey"]
    for rec in records.values():
        if rec.type != "AWS::ApiGateway::UsagePlan":
            continue
        stages = rec.properties.get("ApiStages") or []
        if not any(_refers(s.get("ApiId"), api) for s in stages):
            continue
        props = rec.properties
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
                throttle=_throttle(throttle_raw.get("RateLimit"), throttle_raw.get("BurstLimit")),
                quota_limit=int(quota["Limit"]) if "Limit" in quota else None,
                quota_period=quota.get("Period"),
                api_keys=api_keys,
                tier=_tier_for(name, rec.logical_id, profile),
            )
        )
    return plans
