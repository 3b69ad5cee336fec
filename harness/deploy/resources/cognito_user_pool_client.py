"""AWS::Cognito::UserPoolClient on the emulator."""

from __future__ import annotations

from typing import Any

from harness.deploy.resources.base import Context, boolean, record
from harness.model import ResourceRecord

TYPES = ("AWS::Cognito::UserPoolClient",)
BACKEND = "ministack Cognito"
_PASSTHROUGH = (
    "RefreshTokenValidity",
    "AccessTokenValidity",
    "IdTokenValidity",
    "TokenValidityUnits",
    "ReadAttributes",
    "WriteAttributes",
    "ExplicitAuthFlows",
    "SupportedIdentityProviders",
    "CallbackURLs",
    "LogoutURLs",
    "DefaultRedirectURI",
    "AllowedOAuthFlows",
    "AllowedOAuthScopes",
    "AllowedOAuthFlowsUserPoolClient",
    "PreventUserExistenceErrors",
    "EnableTokenRevocation",
    "EnablePropagateAdditionalUserContextData",
    "AuthSessionValidity",
)
_BOOLS = (
    "AllowedOAuthFlowsUserPoolClient",
    "EnableTokenRevocation",
    "EnablePropagateAdditionalUserContextData",
)
_INTS = ("RefreshTokenValidity", "AccessTokenValidity", "IdTokenValidity", "AuthSessionValidity")
PROPERTIES = frozenset({"UserPoolId", "ClientName", "GenerateSecret", *_PASSTHROUGH})
# accepted with no local effect, and why (unsupported.py)
IGNORED: dict[str, str] = {
    "AnalyticsConfiguration": "Pinpoint analytics export; no effect on sign-in",
}
# refused at deploy (unless --allow-unsupported), and why
REFUSED: dict[str, str] = {
    "RefreshTokenRotation": "refresh-token rotation is not emulated",
}
ATTRIBUTES = ("ClientId", "ClientSecret", "Name")


def _args(props: dict[str, Any]) -> dict[str, Any]:
    args = {k: props[k] for k in _PASSTHROUGH if k in props}
    for key in _BOOLS:
        if key in args:
            args[key] = boolean(args[key])
    for key in _INTS:
        if key in args:
            args[key] = int(args[key])
    return args


def _record(logical_id: str, client: dict[str, Any], props: dict[str, Any]) -> ResourceRecord:
    return record(
        logical_id,
        TYPES[0],
        client["ClientId"],
        props,
        ClientId=client["ClientId"],
        ClientSecret=client.get("ClientSecret"),
        Name=client.get("ClientName"),
        UserPoolId=client.get("UserPoolId"),
    )


def create(ctx: Context, logical_id: str, props: dict[str, Any]) -> ResourceRecord:
    result = ctx.call(
        logical_id,
        BACKEND,
        ctx.client("cognito-idp").create_user_pool_client,
        UserPoolId=props["UserPoolId"],
        ClientName=str(props.get("ClientName") or logical_id),
        GenerateSecret=boolean(props.get("GenerateSecret", False)),
        **_args(props),
    )
    return _record(logical_id, result["UserPoolClient"], props)


def update(ctx: Context, old: ResourceRecord, props: dict[str, Any]) -> ResourceRecord:
    before = old.properties
    if before.get("UserPoolId") != props.get("UserPoolId") or before.get(
        "GenerateSecret"
    ) != props.get("GenerateSecret"):
        delete(ctx, old)
        return create(ctx, old.logical_id, props)
    result = ctx.call(
        old.logical_id,
        BACKEND,
        ctx.client("cognito-idp").update_user_pool_client,
        UserPoolId=props["UserPoolId"],
        ClientId=old.physical_id,
        ClientName=str(props.get("ClientName") or old.logical_id),
        **_args(props),
    )
    client = dict(result["UserPoolClient"])
    client.setdefault("ClientSecret", old.attributes.get("ClientSecret"))
    return _record(old.logical_id, client, props)


def delete(ctx: Context, rec: ResourceRecord) -> None:
    ctx.quietly(
        ctx.client("cognito-idp").delete_user_pool_client,
        UserPoolId=rec.properties["UserPoolId"],
        ClientId=rec.physical_id,
    )
