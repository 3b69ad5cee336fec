"""The parts of an API (stages, routes, integrations, authorizers, deployments, REST resources and
methods, gateway responses): recorded; :mod:`harness.deploy.specs.apis` reads them."""

from __future__ import annotations

from typing import Any

from harness.deploy.resources.base import Context, random_id, record
from harness.model import ResourceRecord

TYPES = (
    "AWS::ApiGatewayV2::Stage",
    "AWS::ApiGatewayV2::Route",
    "AWS::ApiGatewayV2::Integration",
    "AWS::ApiGatewayV2::Authorizer",
    "AWS::ApiGatewayV2::Deployment",
    "AWS::ApiGateway::Stage",
    "AWS::ApiGateway::Deployment",
    "AWS::ApiGateway::Resource",
    "AWS::ApiGateway::Method",
    "AWS::ApiGateway::Authorizer",
    "AWS::ApiGateway::GatewayResponse",
    "AWS::ApiGateway::Account",
)
BACKEND = "harness gateway"
PROPERTIES = frozenset(
    {
        "ApiId",
        "RestApiId",
        "StageName",
        "DeploymentId",
        "AutoDeploy",
        "DefaultRouteSettings",
        "RouteSettings",
        "StageVariables",
        "Variables",
        "MethodSettings",
        "Description",
        "Tags",
        "AccessLogSettings",
        "AccessLogSetting",
        "TracingEnabled",
        "StageDescription",
        "CacheClusterEnabled",
        "CacheClusterSize",
        # routes / methods
        "RouteKey",
        "Target",
        "AuthorizerId",
        "AuthorizationType",
        "AuthorizationScopes",
        "ApiKeyRequired",
        "OperationName",
        "RequestParameters",
        "RequestModels",
        "HttpMethod",
        "ResourceId",
        "Integration",
        "MethodResponses",
        "ParentId",
        "PathPart",
        # integrations
        "IntegrationType",
        "IntegrationUri",
        "IntegrationMethod",
        "IntegrationSubtype",
        "PayloadFormatVersion",
        "TimeoutInMillis",
        "CredentialsArn",
        "RequestTemplates",
        "ResponseParameters",
        "ConnectionType",
        "PassthroughBehavior",
        # authorizers
        "Name",
        "Type",
        "AuthorizerType",
        "AuthorizerUri",
        "AuthorizerCredentialsArn",
        "AuthorizerPayloadFormatVersion",
        "AuthorizerResultTtlInSeconds",
        "EnableSimpleResponses",
        "IdentitySource",
        "IdentityValidationExpression",
        "JwtConfiguration",
        "ProviderARNs",
        # gateway responses
        "ResponseType",
        "ResponseTemplates",
        "StatusCode",
        "CloudWatchRoleArn",
    }
)
# accepted with no local effect, and why (unsupported.py)
IGNORED: dict[str, str] = {
    "ClientCertificateId": "the certificate API Gateway presents to HTTP backends; local backends do not check it",
    "DocumentationVersion": "API documentation only",
}
# refused at deploy (unless --allow-unsupported), and why
REFUSED: dict[str, str] = {
    "CanarySettings": "canary traffic splitting between deployments is not served by the local gateway",
    "DeploymentCanarySettings": "canary traffic splitting between deployments is not served by the local gateway",
}
ATTRIBUTES = ("AuthorizerId", "ResourceId", "RouteId", "IntegrationId", "DeploymentId")


def create(ctx: Context, logical_id: str, props: dict[str, Any]) -> ResourceRecord:
    kind = ctx.current_type or TYPES[0]
    if kind.endswith("::Stage"):
        physical = str(props.get("StageName") or "$default")
    else:
        physical = random_id()
    ids = {key: physical for key in ATTRIBUTES}
    return record(logical_id, kind, physical, props, **ids)


def update(ctx: Context, old: ResourceRecord, props: dict[str, Any]) -> ResourceRecord:
    if old.type.endswith("::Stage"):
        return create(ctx, old.logical_id, props)
    return record(old.logical_id, old.type, old.physical_id, props, **old.attributes)


def delete(ctx: Context, rec: ResourceRecord) -> None:
    return None
