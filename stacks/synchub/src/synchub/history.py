"""History: every change of the five tables, from their DynamoDB streams, into the history table.

One item per stream record, in the changed item's tenant partition:
``resource_id = <table>#<resource_id>@<time>#<event id>`` with the event (INSERT, MODIFY, REMOVE),
the old and new images as JSON. Writes are idempotent (the stream's event id is in the key), so a
retried batch does not duplicate history. A record that cannot be written fails the batch (the
runtime bisects it, retries, then sends it to the on-failure queue).
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from boto3.dynamodb.types import TypeDeserializer

from synchub.common import DEVICE_TENANT, TABLES, plain

logger = Logger()
tracer = Tracer()
metrics = Metrics()
_des = TypeDeserializer()
_table: Any = None


def table_of(arn: str) -> str:
    """``settings`` from ``arn:aws:dynamodb:...:table/synchub-dev-settings/stream/...``."""
    name = arn.split(":table/", 1)[-1].split("/", 1)[0]
    for kind in sorted(TABLES, key=len, reverse=True):
        if name.endswith("-" + kind.replace("_", "-")):
            return kind
    return name


def history_item(record: dict[str, Any]) -> dict[str, Any] | None:
    """The history item of one stream record (None for records that belong to no tenant)."""
    change = record["dynamodb"]
    keys = {k: _des.deserialize(v) for k, v in change["Keys"].items()}
    tenant, rid = str(keys["tenant_id"]), str(keys["resource_id"])
    if tenant == DEVICE_TENANT:
        return None  # pending device grants are nobody's data yet
    new = {k: _des.deserialize(v) for k, v in (change.get("NewImage") or {}).items()}
    old = {k: _des.deserialize(v) for k, v in (change.get("OldImage") or {}).items()}
    when = change.get("ApproximateCreationDateTime")
    at = datetime.fromtimestamp(float(when), UTC) if when else datetime.now(UTC)
    stamp = at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    kind = table_of(str(record.get("eventSourceARN", "")))
    return {
        "tenant_id": tenant,
        "resource_id": f"{kind}#{rid}@{stamp}#{record['eventID']}",
        "table": kind,
        "item_id": rid,
        "event": record["eventName"],
        "at": stamp,
        "new_image": json.dumps(plain(new), ensure_ascii=False) if new else None,
        "old_image": json.dumps(plain(old), ensure_ascii=False) if old else None,
    }


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    global _table
    if _table is None:
        _table = boto3.resource("dynamodb").Table(os.environ["HISTORY_TABLE"])
    written = 0
    with _table.batch_writer(overwrite_by_pkeys=["tenant_id", "resource_id"]) as batch:
        for record in event.get("Records", []):
            item = history_item(record)
            if item is not None:
                batch.put_item(Item={k: v for k, v in item.items() if v is not None})
                written += 1
    metrics.add_metric(name="HistoryRecords", unit=MetricUnit.Count, value=written)
    logger.info(
        "history written", extra={"records": len(event.get("Records", [])), "written": written}
    )
    return {"written": written}
