"""AWS::Cognito::UserPoolIdentityProvider on the emulator (federated sign-in: OIDC, SAML...)."""

from __future__ import annotations

from typing import Any

from harness.deploy.resources.base import Context, record
from harness.model import ResourceRecord

TYPES = ("AWS::Cognito::UserPoolIdentityProvider",)
BACKEND = "ministack Cognito"
PROPERTIES = frozenset(
    {"UserPoolId", "ProviderName", "ProviderType", "ProviderDetails", "AttributeMapping",
     "IdpIdentifiers"}
)  # fmt: skip
IGNORED: dict[str, str] = {}
ATTRIBUTES = ()


def _args(props: dict[str, Any]) -> dict[str, Any]:
    args: dict[str, Any] = {
        "UserPoolId": props["UserPoolId"],
        "ProviderName": str(props["ProviderName"]),
        "ProviderType": str(props["ProviderType"]),
        "ProviderDetails": {
            str(k): str(v) for k, v in (props.get("ProviderDetails") or {}).items()
        },
    }
    if props.get("AttributeMapping"):
        args["AttributeMapping"] = {str(k): str(v) for k, v in props["AttributeMapping"].items()}
    if props.get("IdpIdentifiers"):
        args["IdpIdentifiers"] = [str(i) for i in props["IdpIdentifiers"]]
    return args


def create(ctx: Context, logical_id: str, props: dict[str, Any]) -> ResourceRecord:
    args = _args(props)
    ctx.call(logical_id, BACKEND, ctx.client("cognito-idp").create_identity_provider, **args)
    # Ref is the provider name, as on AWS
    return record(logical_id, TYPES[0], args["ProviderName"], props)


def update(ctx: Context, old: ResourceRecord, props: dict[str, Any]) -> ResourceRecord:
    delete(ctx, old)
    return create(ctx, old.logical_id, props)


def delete(ctx: Context, rec: ResourceRecord) -> None:
    ctx.quietly(
        ctx.client("cognito-idp").delete_identity_provider,
        UserPoolId=rec.properties["UserPoolId"],
        ProviderName=rec.physical_id,
    )
