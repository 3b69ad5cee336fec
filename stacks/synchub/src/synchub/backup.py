"""The backup job: every tenant's items of the five tables to the versioned backup bucket.

Run nightly by its schedule (and on demand). One object per tenant and table:
``backups/<tenant>/<run>/<table>.json`` (a JSON array of the items), so a tenant's data can be
restored, or handed over, without touching anyone else's. Public settings go under
``backups/_public/``; pending device grants are not backed up (they expire in minutes).
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

from synchub.common import DEVICE_TENANT, TABLES, plain, table_name

logger = Logger()
tracer = Tracer()
metrics = Metrics()


def group_by_tenant(items: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for item in items:
        tenant = str(item.get("tenant_id", ""))
        if tenant and tenant != DEVICE_TENANT:
            out[tenant].append(plain(item))
    return dict(out)


def _scan(name: str) -> list[dict[str, Any]]:
    tbl = boto3.resource("dynamodb").Table(name)
    args: dict[str, Any] = {"ConsistentRead": True}
    items: list[dict[str, Any]] = []
    while True:
        page = tbl.scan(**args)
        items.extend(page.get("Items", []))
        if "LastEvaluatedKey" not in page:
            return items
        args["ExclusiveStartKey"] = page["LastEvaluatedKey"]


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    bucket = os.environ["BACKUP_BUCKET"]
    run = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    s3 = boto3.client("s3")
    objects = 0
    for kind in TABLES:
        for tenant, items in group_by_tenant(_scan(table_name(kind))).items():
            s3.put_object(
                Bucket=bucket,
                Key=f"backups/{tenant}/{run}/{kind}.json",
                Body=json.dumps(items, ensure_ascii=False).encode(),
                ContentType="application/json",
                ServerSideEncryption="AES256",
            )
            objects += 1
    metrics.add_metric(name="BackupObjects", unit=MetricUnit.Count, value=objects)
    logger.info("backup written", extra={"run": run, "objects": objects})
    return {"run": run, "objects": objects, "bucket": bucket}
