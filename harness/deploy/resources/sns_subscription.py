"""AWS::SNS::Subscription: made on the emulator, except protocol ``lambda`` (runtime serves it)."""

from __future__ import annotations

import json
import secrets
from typing import Any

from harness.deploy.resources.base import Context, boolean, record
from harness.model import ResourceRecord

TYPES = ("AWS::SNS::Subscription",)
BACKEND = "ministack SNS"
PROPERTIES = frozenset(
    {
        "TopicArn",
        "Protocol",
        "Endpoint",
        "FilterPolicy",
        "FilterPolicyScope",
        "RawMessageDelivery",
        "RedrivePolicy",
    }
)
# accepted with no local effect, and why (unsupported.py)
IGNORED: dict[str, str] = {
    "Region": "the local environment has one region",
    "SubscriptionRoleArn": "the role Firehose subscriptions use; local delivery is not authorised by role",
}
# refused at deploy (unless --allow-unsupported), and why
REFUSED: dict[str, str] = {
    "DeliveryPolicy": "HTTP delivery retry policies are not applied",
    "ReplayPolicy": "message replay from a FIFO topic archive is not emulated",
}
ATTRIBUTES = ("Arn",)


def create(ctx: Context, logical_id: str, props: dict[str, Any]) -> ResourceRecord:
    if str(props.get("Protocol", "")).lower() == "lambda":
        arn = f"{props['TopicArn']}:{secrets.token_hex(16)}"
        return record(logical_id, TYPES[0], arn, props, arn=arn, Arn=arn, Runtime=True)
    attrs: dict[str, str] = {}
    for key in ("FilterPolicy", "RedrivePolicy"):
        if key in props:
            value = props[key]
            attrs[key] = json.dumps(value) if isinstance(value, dict) else str(value)
    if "FilterPolicyScope" in props:
        attrs["FilterPolicyScope"] = str(props["FilterPolicyScope"])
    if "RawMessageDelivery" in props:
        attrs["RawMessageDelivery"] = str(boolean(props["RawMessageDelivery"])).lower()
    result = ctx.call(
        logical_id,
        BACKEND,
        ctx.client("sns").subscribe,
        TopicArn=props["TopicArn"],
        Protocol=props["Protocol"],
        Endpoint=props["Endpoint"],
        Attributes=attrs,
        ReturnSubscriptionArn=True,
    )
    arn = result["SubscriptionArn"]
    return record(logical_id, TYPES[0], arn, props, arn=arn, Arn=arn)


def update(ctx: Context, old: ResourceRecord, props: dict[str, Any]) -> ResourceRecord:
    delete(ctx, old)
    return create(ctx, old.logical_id, props)


def delete(ctx: Context, rec: ResourceRecord) -> None:
    if not rec.attributes.get("Runtime"):
        ctx.quietly(ctx.client("sns").unsubscribe, SubscriptionArn=rec.physical_id)
