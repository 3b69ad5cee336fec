"""ApiSpec for each HTTP API (AWS::ApiGatewayV2::Api) and REST API (AWS::ApiGateway::RestApi).

Routes come from the OpenAPI ``Body`` SAM generates (``x-amazon-apigateway-integration``,
``security``, ``securitySchemes``/``securityDefinitions`` with ``x-amazon-apigateway-authorizer``
of type jwt / request / token / cognito_user_pools, ``x-amazon-apigateway-cors``), or, for plain
CloudFormation, from Route/Integration/Authorizer and Resource/Method resources. Stages give the
stage name, throttling and variables; usage plans, API keys and their keys give UsagePlanSpec.

``base_url`` is ``{gateway_url}/{stack}/{ApiLogicalId}``, plus ``/{stage}`` for a named stage
(REST or HTTP: the path the stack's own output URL has on AWS; ``$default`` adds nothing).
Whatever the gateway cannot serve (an integration or authorizer type, response caching, a method
throttle naming no route) is reported to the caller's ``unsupported`` list.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from harness.deploy.specs.functions import FunctionIndex
from harness.deploy.specs.rest_stages import (
    Refuse,
    method_settings,
    refers,
    throttle_spec,
    usage_plans,
)
from harness.deploy.unsupported import Unsupported
from harness.model import (
    ApiSpec,
    AuthorizerSpec,
    CorsSpec,
    IntegrationSpec,
    ResourceRecord,
    RouteSpec,
)

__all__ = ["build_apis"]

logger = logging.getLogger(__name__)

BACKEND = "harness gateway"

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


def _ignore(where: str, reason: str) -> None:
    logger.warning("%s: %s", where, reason)


def _at(refuse: Refuse, where: str) -> Refuse:
    """``refuse`` with every refusal placed at ``where``."""

    def placed(_: str, reason: str) -> None:
        refuse(where, reason)

    return placed


def _lambda_arn(uri: Any) -> str | None:
    """``arn:aws:lambda:...:function:NAME`` inside an integration URI, or None."""
    if not isinstance(uri, str) or "arn:aws:lambda:" not in uri or ":function:" not in uri:
        return None
    return uri[uri.index("arn:aws:lambda:") :].split("/", 1)[0]


def _qualified(uri: Any) -> str | None:
    """The function ARN when it names a version or an alias (``...:function:NAME:live``)."""
    arn = _lambda_arn(uri)
    return arn if arn is not None and len(arn.split(":")) == 8 else None


def _integration(
    raw: Mapping[str, Any], index: FunctionIndex, rest: bool, refuse: Refuse = _ignore
) -> IntegrationSpec:
    kind = str(raw.get("type", "aws_proxy")).lower()
    uri = raw.get("uri")
    subtype = raw.get("integrationSubtype")
    timeout = int(raw.get("timeoutInMillis", 29000 if rest else 30000))
    if kind == "aws_proxy" and not subtype:
        return IntegrationSpec(
            type="lambda",
            # a version or alias (qualified ARN), or another stack's function (a nested stack's
            # output), is found by its ARN at run time
            function=_qualified(uri) or index.find(uri) or _lambda_arn(uri),
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
        refuse(
            "x-amazon-apigateway-integration",
            f"integration type {kind.upper()} ({uri or subtype}) is not served by the local "
            "gateway (it serves AWS_PROXY Lambda, HTTP/HTTP_PROXY, MOCK, and the SQS and "
            "EventBridge service integrations); it would answer as a mock",
        )
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
    name: str, scheme: Mapping[str, Any], index: FunctionIndex, refuse: Refuse = _ignore
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
    refuse(
        f"securitySchemes.{name}",
        f"authorizer {name} of type {kind or '?'} is not served locally; its routes would be open",
    )
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
    refuse: Refuse = _ignore,
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
                    integration=_integration(
                        raw, index, rest, _at(refuse, f"Body.paths.{path}.{method_key}")
                    ),
                    authorizer=authorizer,
                    scopes=scopes,
                    api_key_required=api_key,
                )
            )
    return routes


# OpenAPI extensions of API Gateway that the local gateway serves (read in this module)
SERVED_EXTENSIONS = frozenset(
    {
        "x-amazon-apigateway-integration",
        "x-amazon-apigateway-any-method",
        "x-amazon-apigateway-authorizer",
        "x-amazon-apigateway-authtype",
        "x-amazon-apigateway-cors",
        "x-amazon-apigateway-binary-media-types",
        "x-amazon-apigateway-api-key-source",
    }
)
# extensions accepted with no local effect, and why
IGNORED_EXTENSIONS: dict[str, str] = {
    "x-amazon-apigateway-endpoint-configuration": "edge/regional/private endpoint types; the "
    "local gateway is one loopback endpoint",
    "x-amazon-apigateway-importexport-version": "the OpenAPI import format version",
    "x-amazon-apigateway-documentation": "API documentation only",
    "x-amazon-apigateway-tag-value": "tags label the API; no behaviour",
    "x-amazon-apigateway-minimum-compression-size": "response compression; clients get the same "
    "body",
    "x-amazon-apigateway-disable-execute-api-endpoint": "read from the API's property "
    "DisableExecuteApiEndpoint",
}


def _body_extensions(node: Any, refuse: Refuse, where: str = "Body") -> None:
    """Refuse every ``x-amazon-apigateway-*`` extension the gateway neither serves nor ignores
    with a reason (request validators, gateway responses, resource policies...)."""
    if isinstance(node, list):
        for n, item in enumerate(node):
            _body_extensions(item, refuse, f"{where}[{n}]")
        return
    if not isinstance(node, Mapping):
        return
    for key, value in node.items():
        name = str(key)
        if name.startswith("x-amazon-apigateway-"):
            if name in SERVED_EXTENSIONS or name in IGNORED_EXTENSIONS:
                if name == "x-amazon-apigateway-integration":
                    continue  # its content is checked by _integration
            else:
                refuse(
                    f"{where}.{name}",
                    f"the OpenAPI extension {name} is not served by the local gateway",
                )
                continue
        _body_extensions(value, refuse, f"{where}.{name}")


def build_apis(
    records: Mapping[str, ResourceRecord],
    profile: Mapping[str, Any] | None = None,
    *,
    unsupported: list[Unsupported] | None = None,
    file: str = "template.yaml",
) -> dict[str, ApiSpec]:
    """Each API's spec; what the gateway cannot serve is added to ``unsupported`` (logged when
    no list is given)."""
    index = FunctionIndex(records)

    def refuser(logical_id: str) -> Refuse:
        def refuse(where: str, reason: str) -> None:
            if unsupported is None:
                _ignore(f"{logical_id}.{where}", reason)
            else:
                unsupported.append(Unsupported(file, logical_id, where, reason, BACKEND))

        return refuse

    apis: dict[str, ApiSpec] = {}
    for logical_id, rec in records.items():
        if rec.type == "AWS::Lambda::Url":
            apis[logical_id] = _function_url(logical_id, rec, index)
            continue
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
        refuse = refuser(logical_id)
        _body_extensions(body, refuse)
        for name, scheme in schemes.items():
            spec = _authorizer(name, scheme, index, refuse)
            if spec:
                authorizers[name] = spec
        parts = [
            r
            for r in records.values()
            if refers(r.properties.get("ApiId") or r.properties.get("RestApiId"), rec)
        ]
        for part in parts:
            if part.type in ("AWS::ApiGatewayV2::Authorizer", "AWS::ApiGateway::Authorizer"):
                spec = _authorizer_resource(part, index)
                if spec:
                    authorizers[spec.name] = spec
        routes = _routes_from_body(body, index, rest, authorizers, refuse)
        routes += _routes_from_resources(parts, records, index, rest, authorizers, rec, refuser)
        stages = [
            p for p in parts if p.type in ("AWS::ApiGatewayV2::Stage", "AWS::ApiGateway::Stage")
        ]
        stage = stages[0] if stages else None
        stage_name = stage.physical_id if stage else ("$default" if not rest else "prod")
        stage_props = stage.properties if stage else {}
        stage_throttle = None
        if rest:
            stage_throttle = method_settings(
                stage_props, routes, refuser(stage.logical_id if stage else logical_id)
            )
            variables = stage_props.get("Variables") or {}
        else:
            default = stage_props.get("DefaultRouteSettings") or {}
            stage_throttle = throttle_spec(
                default.get("ThrottlingRateLimit"), default.get("ThrottlingBurstLimit")
            )
            for route_key, setting in (stage_props.get("RouteSettings") or {}).items():
                method, _, path = route_key.partition(" ")
                for route in routes:
                    if (route.method, route.path) == (method, path) or route_key == route.path:
                        route.throttle = throttle_spec(
                            setting.get("ThrottlingRateLimit"), setting.get("ThrottlingBurstLimit")
                        )
            variables = stage_props.get("StageVariables") or {}
        base = str(rec.attributes.get("ApiEndpoint", ""))
        # a named stage is part of the URL for both kinds, as on AWS (the URL the stack outputs)
        base_url = f"{base}/{stage_name}" if stage_name != "$default" else base
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
            usage_plans=usage_plans(rec, records, profile or {}, routes, refuser),
            api_key_source=str(
                body.get("x-amazon-apigateway-api-key-source")
                or props.get("ApiKeySourceType")
                or "HEADER"
            ).upper(),  # type: ignore[arg-type]
            disable_execute_api_endpoint=bool(props.get("DisableExecuteApiEndpoint", False)),
        )
    return apis


def _function_url(logical_id: str, rec: ResourceRecord, index: FunctionIndex) -> ApiSpec:
    """A function URL: one ``$default`` route to the function, payload 2.0, its CORS."""
    props = rec.properties
    cors = props.get("Cors")
    return ApiSpec(
        logical_id=logical_id,
        kind="http",
        api_id=rec.physical_id,
        stage="$default",
        base_url=str(rec.attributes.get("ApiEndpoint", "")),
        routes=[
            RouteSpec(
                method="ANY",
                path="$default",
                integration=IntegrationSpec(
                    type="lambda",
                    function=index.find(props.get("TargetFunctionArn")),
                    payload_format="2.0",
                    timeout_ms=900_000,
                ),
            )
        ],
        cors=_cors(cors) if isinstance(cors, Mapping) else None,
    )


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
    refuser: Callable[[str], Refuse],
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
                {k[0].lower() + k[1:]: v for k, v in raw.items()},
                index,
                True,
                _at(refuser(part.logical_id), "Integration"),
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
