"""AWS::DynamoDB::Table on DynamoDB Local: keys, GSIs/LSIs, stream, TTL, billing, and point-in-time
recovery (answered by the edge, which DynamoDB Local lacks: harness/edge/backups.py).

Updates keep the data: GSIs, stream, billing and TTL change through UpdateTable /
UpdateTimeToLive. A change of TableName, KeySchema or LocalSecondaryIndexes replaces the table
(as CloudFormation does), which loses its items.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from harness.deploy.resources.base import Context, boolean, record
from harness.model import ResourceRecord

logger = logging.getLogger(__name__)

TYPES = ("AWS::DynamoDB::Table",)
BACKEND = "DynamoDB Local"
PROPERTIES = frozenset(
    {
        "TableName",
        "KeySchema",
        "AttributeDefinitions",
        "BillingMode",
        "ProvisionedThroughput",
        "GlobalSecondaryIndexes",
        "LocalSecondaryIndexes",
        "StreamSpecification",
        "TimeToLiveSpecification",
        "PointInTimeRecoverySpecification",
        "Tags",
    }
)
# accepted with no local effect, and why (unsupported.py)
IGNORED: dict[str, str] = {
    "ContributorInsightsSpecification": "CloudWatch Contributor Insights reporting; no effect on requests",
    "DeletionProtectionEnabled": "guards deleting the table; the harness deletes it only on destroy",
    "OnDemandThroughput": "a cost cap on on-demand throughput; the local table has no throughput limit to cap",
    "ResourcePolicy": "cross-account access policy; the local environment has one account",
    "SSESpecification": "encryption at rest with a customer key; nothing observable changes locally",
    "TableClass": "storage pricing class; same API and behaviour",
    "WarmThroughput": "pre-warmed capacity; the local table has no throughput limit",
}
ATTRIBUTES = ("Arn", "StreamArn")
_REPLACE = ("TableName", "KeySchema", "LocalSecondaryIndexes")


def _billing(props: dict[str, Any]) -> str:
    return str(props.get("BillingMode") or "PROVISIONED")


def _throughput(props: dict[str, Any]) -> dict[str, int]:
    raw = props.get("ProvisionedThroughput") or {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}
    return {k: int(raw[k]) for k in ("ReadCapacityUnits", "WriteCapacityUnits")}


def _index(raw: dict[str, Any], billing: str) -> dict[str, Any]:
    index: dict[str, Any] = {
        k: raw[k] for k in ("IndexName", "KeySchema", "Projection") if k in raw
    }
    if billing == "PROVISIONED":
        index["ProvisionedThroughput"] = _throughput(raw)
    return index


def _stream(props: dict[str, Any]) -> dict[str, Any]:
    spec = props.get("StreamSpecification")
    if spec and spec.get("StreamViewType"):
        return {"StreamEnabled": True, "StreamViewType": spec["StreamViewType"]}
    return {"StreamEnabled": False}


def _wait_active(ctx: Context, logical_id: str, name: str, timeout: float = 60.0) -> dict[str, Any]:
    ddb = ctx.client("dynamodb")
    deadline = time.monotonic() + timeout
    while True:
        table = ddb.describe_table(TableName=name)["Table"]
        busy = table["TableStatus"] != "ACTIVE" or any(
            g.get("IndexStatus") not in (None, "ACTIVE")
            for g in table.get("GlobalSecondaryIndexes", [])
        )
        if not busy or time.monotonic() > deadline:
            return dict(table)
        time.sleep(0.2)


def _record(ctx: Context, logical_id: str, name: str, props: dict[str, Any]) -> ResourceRecord:
    table = _wait_active(ctx, logical_id, name)
    pitr = (props.get("PointInTimeRecoverySpecification") or {}).get("PointInTimeRecoveryEnabled")
    return record(
        logical_id,
        TYPES[0],
        name,
        props,
        arn=ctx.arn("dynamodb", f"table/{name}"),
        StreamArn=table.get("LatestStreamArn"),
        TableName=name,
        PointInTimeRecovery=boolean(pitr) if pitr is not None else None,
    )


def _ttl(
    ctx: Context, logical_id: str, name: str, props: dict[str, Any], old: dict[str, Any]
) -> None:
    spec = props.get("TimeToLiveSpecification")
    previous = old.get("TimeToLiveSpecification")
    ddb = ctx.client("dynamodb")
    if spec and boolean(spec.get("Enabled")):
        if previous != spec:
            if previous and boolean(previous.get("Enabled")):
                ctx.quietly(
                    ddb.update_time_to_live,
                    TableName=name,
                    TimeToLiveSpecification={
                        "Enabled": False,
                        "AttributeName": previous["AttributeName"],
                    },
                )
            ctx.call(
                logical_id,
                BACKEND,
                ddb.update_time_to_live,
                TableName=name,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": spec["AttributeName"]},
            )
    elif previous and boolean(previous.get("Enabled")):
        ctx.quietly(
            ddb.update_time_to_live,
            TableName=name,
            TimeToLiveSpecification={"Enabled": False, "AttributeName": previous["AttributeName"]},
        )


def _pitr(ctx: Context, name: str, props: dict[str, Any]) -> None:
    spec = props.get("PointInTimeRecoverySpecification")
    if spec:  # the edge keeps the change log DynamoDB Local cannot (harness/edge/backups.py)
        ctx.client("dynamodb").update_continuous_backups(
            TableName=name,
            PointInTimeRecoverySpecification={
                "PointInTimeRecoveryEnabled": boolean(spec.get("PointInTimeRecoveryEnabled"))
            },
        )


def create(ctx: Context, logical_id: str, props: dict[str, Any]) -> ResourceRecord:
    name = props.get("TableName") or ctx.physical_name(logical_id, max_len=255)
    billing = _billing(props)
    args: dict[str, Any] = {
        "TableName": name,
        "KeySchema": props["KeySchema"],
        "AttributeDefinitions": props["AttributeDefinitions"],
        "BillingMode": billing,
    }
    if billing == "PROVISIONED":
        args["ProvisionedThroughput"] = _throughput(props)
    if props.get("GlobalSecondaryIndexes"):
        args["GlobalSecondaryIndexes"] = [
            _index(g, billing) for g in props["GlobalSecondaryIndexes"]
        ]
    if props.get("LocalSecondaryIndexes"):
        args["LocalSecondaryIndexes"] = [
            {k: i[k] for k in ("IndexName", "KeySchema", "Projection")}
            for i in props["LocalSecondaryIndexes"]
        ]
    stream = _stream(props)
    if stream["StreamEnabled"]:
        args["StreamSpecification"] = stream
    if props.get("Tags"):
        args["Tags"] = props["Tags"]
    ctx.call(logical_id, BACKEND, ctx.client("dynamodb").create_table, **args)
    _ttl(ctx, logical_id, name, props, {})
    _pitr(ctx, name, props)
    return _record(ctx, logical_id, name, props)


def update(ctx: Context, old: ResourceRecord, props: dict[str, Any]) -> ResourceRecord:
    before = old.properties
    if any(before.get(k) != props.get(k) for k in _REPLACE):
        logger.warning(
            "%s: key schema or name changed; replacing the table (data is lost)", old.logical_id
        )
        delete(ctx, old)
        return create(ctx, old.logical_id, props)
    name, logical_id = old.physical_id, old.logical_id
    ddb = ctx.client("dynamodb")
    billing = _billing(props)
    if billing != _billing(before) or (
        billing == "PROVISIONED" and _throughput(props) != _throughput(before)
    ):
        args: dict[str, Any] = {"TableName": name, "BillingMode": billing}
        if billing == "PROVISIONED":
            args["ProvisionedThroughput"] = _throughput(props)
        ctx.call(logical_id, BACKEND, ddb.update_table, **args)
        _wait_active(ctx, logical_id, name)
    old_gsis = {g["IndexName"]: g for g in before.get("GlobalSecondaryIndexes") or []}
    new_gsis = {g["IndexName"]: g for g in props.get("GlobalSecondaryIndexes") or []}
    for index_name, gsi in old_gsis.items():
        if new_gsis.get(index_name) != gsi:
            ctx.call(
                logical_id,
                BACKEND,
                ddb.update_table,
                TableName=name,
                GlobalSecondaryIndexUpdates=[{"Delete": {"IndexName": index_name}}],
            )
            _wait_gone(ctx, name, index_name)
    for index_name, gsi in new_gsis.items():
        if old_gsis.get(index_name) != gsi:
            ctx.call(
                logical_id,
                BACKEND,
                ddb.update_table,
                TableName=name,
                AttributeDefinitions=props["AttributeDefinitions"],
                GlobalSecondaryIndexUpdates=[{"Create": _index(gsi, billing)}],
            )
            _wait_active(ctx, logical_id, name)
    old_stream, new_stream = _stream(before), _stream(props)
    if old_stream != new_stream:
        if old_stream["StreamEnabled"]:
            ctx.call(
                logical_id,
                BACKEND,
                ddb.update_table,
                TableName=name,
                StreamSpecification={"StreamEnabled": False},
            )
        if new_stream["StreamEnabled"]:
            ctx.call(
                logical_id,
                BACKEND,
                ddb.update_table,
                TableName=name,
                StreamSpecification=new_stream,
            )
    _ttl(ctx, logical_id, name, props, before)
    if props.get("PointInTimeRecoverySpecification") != before.get(
        "PointInTimeRecoverySpecification"
    ):
        _pitr(ctx, name, props)
    return _record(ctx, logical_id, name, props)


def _wait_gone(ctx: Context, name: str, index_name: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        table = ctx.client("dynamodb").describe_table(TableName=name)["Table"]
        if all(g["IndexName"] != index_name for g in table.get("GlobalSecondaryIndexes", [])):
            return
        time.sleep(0.2)


def delete(ctx: Context, rec: ResourceRecord) -> None:
    ctx.quietly(ctx.client("dynamodb").delete_table, TableName=rec.physical_id)
