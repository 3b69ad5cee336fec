"""AWS::SNS::Topic on the emulator (standard or FIFO), with inline ``Subscription`` entries.

Subscriptions with protocol ``lambda`` are served by the harness runtime and only recorded (see
:mod:`harness.deploy.specs`); the others (sqs, http...) are made on the emulator.
"""

from __future__ import annotations

from typing import Any

from harness.deploy.resources.base import Context, boolean, record
from harness.model import ResourceRecord

TYPES = ("AWS::SNS::Topic",)
BACKEND = "ministack SNS"
PROPERTIES = frozenset(
    {"TopicName", "FifoTopic", "ContentBasedDeduplication", "DisplayName", "Subscription", "Tags"}
)
# accepted with no local effect, and why (unsupported.py)
IGNORED: dict[str, str] = {
    "DataProtectionPolicy": "message data protection (masking)",
    "KmsMasterKeyId": "encryption at rest with a customer key; nothing observable changes locally",
    "SignatureVersion": "the signature scheme of HTTP deliveries",
    "TracingConfig": "X-Ray active tracing",
}
# refused at deploy (unless --allow-unsupported), and why
REFUSED: dict[str, str] = {
    "ArchivePolicy": "FIFO topic message archiving is not emulated",
}
ATTRIBUTES = ("TopicArn", "TopicName")


def create(ctx: Context, logical_id: str, props: dict[str, Any]) -> ResourceRecord:
    sns = ctx.client("sns")
    fifo = boolean(props.get("FifoTopic", False))
    name = props.get("TopicName") or ctx.physical_name(
        logical_id, max_len=256, suffix=".fifo" if fifo else ""
    )
    attrs: dict[str, str] = {}
    if fifo:
        attrs["FifoTopic"] = "true"
    if "ContentBasedDeduplication" in props:
        attrs["ContentBasedDeduplication"] = str(
            boolean(props["ContentBasedDeduplication"])
        ).lower()
    if props.get("DisplayName"):
        attrs["DisplayName"] = str(props["DisplayName"])
    args: dict[str, Any] = {"Name": name, "Attributes": attrs}
    if props.get("Tags"):
        args["Tags"] = props["Tags"]
    arn = ctx.call(logical_id, BACKEND, sns.create_topic, **args)["TopicArn"]
    subscriptions = []
    for sub in props.get("Subscription") or []:
        if str(sub.get("Protocol")).lower() == "lambda":
            continue
        result = ctx.call(
            logical_id,
            BACKEND,
            sns.subscribe,
            TopicArn=arn,
            Protocol=sub["Protocol"],
            Endpoint=sub["Endpoint"],
            ReturnSubscriptionArn=True,
        )
        subscriptions.append(result["SubscriptionArn"])
    return record(
        logical_id,
        TYPES[0],
        arn,
        props,
        arn=arn,
        TopicArn=arn,
        TopicName=name,
        SubscriptionArns=subscriptions,
    )


def update(ctx: Context, old: ResourceRecord, props: dict[str, Any]) -> ResourceRecord:
    if old.properties.get("TopicName") != props.get("TopicName") or old.properties.get(
        "FifoTopic"
    ) != props.get("FifoTopic"):
        delete(ctx, old)
        return create(ctx, old.logical_id, props)
    sns = ctx.client("sns")
    for sub_arn in old.attributes.get("SubscriptionArns", []):
        ctx.quietly(sns.unsubscribe, SubscriptionArn=sub_arn)
    if old.properties.get("DisplayName") != props.get("DisplayName"):
        ctx.quietly(
            sns.set_topic_attributes,
            TopicArn=old.physical_id,
            AttributeName="DisplayName",
            AttributeValue=str(props.get("DisplayName") or ""),
        )
    subscriptions = []
    for sub in props.get("Subscription") or []:
        if str(sub.get("Protocol")).lower() != "lambda":
            result = ctx.call(
                old.logical_id,
                BACKEND,
                sns.subscribe,
                TopicArn=old.physical_id,
                Protocol=sub["Protocol"],
                Endpoint=sub["Endpoint"],
                ReturnSubscriptionArn=True,
            )
            subscriptions.append(result["SubscriptionArn"])
    return record(
        old.logical_id,
        TYPES[0],
        old.physical_id,
        props,
        arn=old.physical_id,
        TopicArn=old.physical_id,
        TopicName=old.attributes["TopicName"],
        SubscriptionArns=subscriptions,
    )


def delete(ctx: Context, rec: ResourceRecord) -> None:
    ctx.quietly(ctx.client("sns").delete_topic, TopicArn=rec.physical_id)
