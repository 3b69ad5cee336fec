"""AWS::ApiGatewayV2::Api and AWS::ApiGateway::RestApi: recorded; the harness gateway serves them.

``ApiEndpoint`` is ``{gateway_url}/{stack}/{LogicalId}`` (see :mod:`harness.deploy.specs.apis`).
"""

from __future__ import annotations

from typing import Any

from harness.deploy.resources.base import Context, random_id, record
from harness.model import ResourceRecord

TYPES = ("AWS::ApiGatewayV2::Api", "AWS::ApiGateway::RestApi")
BACKEND = "harness gateway"
PROPERTIES = frozenset(
    {
        "Body",
        "Name",
        "ProtocolType",
        "Description",
        "CorsConfiguration",
        "DisableExecuteApiEndpoint",
        "RouteSelectionExpression",
        "Tags",
        "Version",
        "ApiKeySelectionExpression",
        "BinaryMediaTypes",
        "ApiKeySourceType",
        "EndpointConfiguration",
        "MinimumCompressionSize",
        "Policy",
        "FailOnWarnings",
        "Mode",
        "Parameters",
        "Target",
        "RouteKey",
        "CredentialsArn",
    }
)
# accepted with no local effect, and why (unsupported.py)
IGNORED: dict[str, str] = {
    "BasePath": "only affects how AWS imports an OpenAPI body; the local routes come from Body",
    "DisableSchemaValidation": "only affects importing an OpenAPI body into AWS; the local routes come from Body either way",
}
# refused at deploy (unless --allow-unsupported), and why
REFUSED: dict[str, str] = {
    "CloneFrom": "cloning another API is not implemented; declare the routes in Body",
}
ATTRIBUTES = ("ApiEndpoint", "ApiId", "RestApiId", "RootResourceId")


def endpoint(ctx: Context, logical_id: str) -> str:
    return f"{ctx.gateway_url.rstrip('/')}/{ctx.stack_name}/{logical_id}"


def _record(
    ctx: Context, logical_id: str, api_id: str, props: dict[str, Any], root: str
) -> ResourceRecord:
    kind = ctx.current_type or TYPES[0]
    service = "apigateway"
    arn = (
        ctx.arn(service, f"/apis/{api_id}", account=False)
        if kind == TYPES[0]
        else ctx.arn(service, f"/restapis/{api_id}", account=False)
    )
    return record(
        logical_id,
        kind,
        api_id,
        props,
        arn=arn,
        ApiEndpoint=endpoint(ctx, logical_id),
        ApiId=api_id,
        RestApiId=api_id,
        RootResourceId=root,
    )


def create(ctx: Context, logical_id: str, props: dict[str, Any]) -> ResourceRecord:
    return _record(ctx, logical_id, random_id(), props, random_id())


def update(ctx: Context, old: ResourceRecord, props: dict[str, Any]) -> ResourceRecord:
    return _record(
        ctx,
        old.logical_id,
        old.physical_id,
        props,
        old.attributes.get("RootResourceId", random_id()),
    )


def refresh(ctx: Context, rec: ResourceRecord) -> ResourceRecord:
    """An unchanged API keeps its id; its endpoint follows the gateway's current URL."""
    rec.attributes["ApiEndpoint"] = endpoint(ctx, rec.logical_id)
    return rec


def delete(ctx: Context, rec: ResourceRecord) -> None:
    return None
