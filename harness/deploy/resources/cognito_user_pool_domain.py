"""AWS::Cognito::UserPoolDomain on the emulator (hosted UI domain)."""

from __future__ import annotations

from typing import Any

from harness.deploy.resources.base import Context, record
from harness.model import ResourceRecord

TYPES = ("AWS::Cognito::UserPoolDomain",)
BACKEND = "ministack Cognito"
PROPERTIES = frozenset({"Domain", "UserPoolId"})
# accepted with no local effect, and why (unsupported.py)
IGNORED: dict[str, str] = {
    "ManagedLoginVersion": "the look of the hosted sign-in pages",
}
# refused at deploy (unless --allow-unsupported), and why
REFUSED: dict[str, str] = {
    "CustomDomainConfig": "custom domains (ACM certificates, DNS) are not served; use the pool's prefix domain",
}
ATTRIBUTES = ("CloudFrontDistribution",)


def create(ctx: Context, logical_id: str, props: dict[str, Any]) -> ResourceRecord:
    domain = str(props["Domain"])
    ctx.call(
        logical_id,
        BACKEND,
        ctx.client("cognito-idp").create_user_pool_domain,
        Domain=domain,
        UserPoolId=props["UserPoolId"],
    )
    return record(
        logical_id,
        TYPES[0],
        domain,
        props,
        CloudFrontDistribution=f"{domain}.auth.{ctx.region}.amazoncognito.com",
    )


def update(ctx: Context, old: ResourceRecord, props: dict[str, Any]) -> ResourceRecord:
    delete(ctx, old)
    return create(ctx, old.logical_id, props)


def delete(ctx: Context, rec: ResourceRecord) -> None:
    ctx.quietly(
        ctx.client("cognito-idp").delete_user_pool_domain,
        Domain=rec.physical_id,
        UserPoolId=rec.properties["UserPoolId"],
    )
