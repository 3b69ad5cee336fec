"""The analytics export job: an organisation's invoices, subscriptions or payments from
PostgreSQL as JSON lines in the data-lake bucket (Glue's input in the seed).

``POST /exports`` (admin) exports the caller's organisation; the daily schedule exports every
organisation. A job writes at most ``BATCH_LIMIT`` records (the seed's 5,000 per job) to
``exports/org=<org>/dataset=<dataset>/dt=<YYYY-MM-DD>/<exportId>.jsonl`` with SSE-KMS, and says
when it was truncated.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

from cloudsaas import stores
from cloudsaas.billing import new_id
from cloudsaas.common import Request, env, log, plain, respond, run_api
from cloudsaas.db import fetch_all
from cloudsaas.models import ExportBody

__all__ = ["BATCH_LIMIT", "QUERIES", "export", "handler"]

BATCH_LIMIT = 5000
QUERIES = {
    "invoices": "SELECT * FROM invoices WHERE org_id = %s ORDER BY created_at, id LIMIT %s",
    "subscriptions": "SELECT id, org_id, plan, status, current_period_end, failed_attempts, "
    "created_at, updated_at FROM subscriptions WHERE org_id = %s ORDER BY created_at, id LIMIT %s",
    "payments": "SELECT * FROM payment_events WHERE org_id = %s ORDER BY received_at LIMIT %s",
}


def export(org: str, dataset: str, actor: str) -> dict[str, Any]:
    import boto3

    rows = fetch_all(QUERIES[dataset], (org, BATCH_LIMIT + 1))
    truncated = len(rows) > BATCH_LIMIT
    rows = rows[:BATCH_LIMIT]
    export_id = new_id("exp")
    day = datetime.now(UTC).strftime("%Y-%m-%d")
    key = f"exports/org={org}/dataset={dataset}/dt={day}/{export_id}.jsonl"
    data = "".join(json.dumps(plain(dict(r)), default=str) + "\n" for r in rows).encode()
    boto3.client("s3").put_object(
        Bucket=env("DATA_LAKE_BUCKET"), Key=key, Body=data,
        ContentType="application/x-ndjson", ServerSideEncryption="aws:kms",
        SSEKMSKeyId=env("KMS_KEY_ID", "alias/aws/s3"),
    )  # fmt: skip
    stores.audit(org, actor, "export.written", export_id, dataset=dataset, records=len(rows))
    return {"exportId": export_id, "key": key, "records": len(rows), "truncated": truncated,
            "dataset": dataset}  # fmt: skip


def start(req: Request) -> dict[str, Any]:
    req.caller.require_admin()
    body = ExportBody.model_validate(req.body())
    return respond(201, export(req.caller.org_id, body.dataset, req.caller.user_id),
                   req.request_id)  # fmt: skip


ROUTES = {("POST", "/exports"): start}


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    if event.get("source") == "aws.events":  # the daily schedule: every organisation
        orgs = [r["id"] for r in fetch_all("SELECT id FROM organizations ORDER BY id")]
        done = [export(org, "invoices", "system:schedule") for org in orgs]
        log(logging.INFO, "scheduled export", organizations=len(orgs))
        return {"exports": done}
    return run_api(event, ROUTES)
