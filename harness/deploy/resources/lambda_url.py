"""AWS::Lambda::Url: a function URL, served by the gateway at ``{gateway_url}/{stack}/{LogicalId}/``.

The gateway treats it as an HTTP API with one ``$default`` route to the function (payload 2.0,
which is what function URLs send), with its CORS settings. ``FunctionUrl`` is that URL.
"""

from __future__ import annotations

from typing import Any

from harness.deploy.resources.base import Context, random_id, record
from harness.model import ResourceRecord

TYPES = ("AWS::Lambda::Url",)
BACKEND = "harness gateway (function URLs)"
PROPERTIES = frozenset({"TargetFunctionArn", "AuthType", "Cors", "Qualifier"})
IGNORED: dict[str, str] = {}
REFUSED: dict[str, str] = {
    "InvokeMode": "response streaming (RESPONSE_STREAM) is not served; BUFFERED is the default",
}
ATTRIBUTES = ("FunctionUrl", "FunctionArn")


def refusals(type_: str, props: dict[str, Any]) -> list[tuple[str, str]]:
    if str(props.get("AuthType", "NONE")) == "AWS_IAM":
        return [
            (
                "AuthType",
                "AWS_IAM function URLs need SigV4-signed requests, which the gateway does not "
                "check; use AuthType NONE locally",
            )
        ]
    return []


def create(ctx: Context, logical_id: str, props: dict[str, Any]) -> ResourceRecord:
    url_id = random_id(32)
    url = f"{ctx.gateway_url.rstrip('/')}/{ctx.stack_name}/{logical_id}/"
    return record(
        logical_id,
        TYPES[0],
        url_id,
        props,
        arn=str(props.get("TargetFunctionArn", "")),
        FunctionUrl=url,
        FunctionArn=props.get("TargetFunctionArn"),
        ApiEndpoint=url.rstrip("/"),
    )


def update(ctx: Context, old: ResourceRecord, props: dict[str, Any]) -> ResourceRecord:
    rec = create(ctx, old.logical_id, props)
    rec.physical_id = old.physical_id
    return rec


def delete(ctx: Context, rec: ResourceRecord) -> None:
    return None
