"""Creating a sync job outside the API (coalescer, scheduler): job item first, then the message."""

from __future__ import annotations

import json
import time
from typing import Any

from syncwell.common import client, env
from syncwell.store import Table, is_conditional_failure, user_pk
from syncwell.users import iso
from syncwell.validation import deterministic_uuid4

__all__ = ["enqueue_jobs", "job_for_config"]


def job_for_config(
    user_id: str, cfg_key: str, cfg: dict[str, Any], origin: str, *seed: str
) -> dict[str, Any]:
    """A manual-mode job for the sync config ``{sourceId}##{dataType}``; the id derives from
    ``seed`` so that a retried trigger does not create a second job."""
    source, _, data_type = cfg_key.partition("##")
    key = deterministic_uuid4(user_id, origin, *seed)
    return {
        "type": "sync",
        "jobId": "job_" + key,
        "userId": user_id,
        "idempotencyKey": key,
        "sourceConnectionId": source,
        "destinationConnectionId": cfg["destinationConnectionId"],
        "dataType": data_type,
        "mode": "manual",
        "priority": "low" if origin == "schedule" else "medium",
        "origin": origin,
        "correlationId": key,
        "enqueuedAt": time.time(),
    }


def enqueue_jobs(table: Table, messages: list[dict[str, Any]]) -> int:
    """Record each job (conditional) and send the new ones, 10 per SendMessageBatch."""
    fresh = []
    for m in messages:
        now = time.time()
        item = {
            "PK": user_pk(m["userId"]),
            "SK": f"JOB#{m['jobId']}",
            "jobId": m["jobId"],
            "kind": "sync",
            "status": "QUEUED",
            "idempotencyKey": m["idempotencyKey"],
            "origin": m.get("origin"),
            "createdAt": iso(now),
            "updatedAt": iso(now),
            "acceptedAt": now,
            "attempts": 0,
            "ttl": int(now + 30 * 86400),
            "progress": {"totalChunks": 1, "processedChunks": 0, "failedChunks": 0},
            **{
                k: m[k]
                for k in (
                    "sourceConnectionId",
                    "destinationConnectionId",
                    "dataType",
                    "mode",
                    "priority",
                )
            },
        }
        try:
            table.put(
                item,
                condition="attribute_not_exists(PK) OR #s = :r",
                names={"#s": "status"},
                values={":r": "REJECTED"},
            )
        except Exception as exc:
            if is_conditional_failure(exc):
                continue  # already accepted by an earlier attempt
            raise
        fresh.append(m)
    sqs = client("sqs")
    for start in range(0, len(fresh), 10):
        chunk = fresh[start : start + 10]
        answer = sqs.send_message_batch(
            QueueUrl=env("HOT_PATH_QUEUE_URL"),
            Entries=[
                {
                    "Id": str(i),
                    "MessageBody": json.dumps(m, separators=(",", ":")),
                    "MessageAttributes": {
                        "userId": {"DataType": "String", "StringValue": m["userId"]}
                    },
                }
                for i, m in enumerate(chunk)
            ],
        )
        failed = answer.get("Failed") or []
        for f in failed:
            m = chunk[int(f["Id"])]
            table.update(
                user_pk(m["userId"]),
                f"JOB#{m['jobId']}",
                "SET #s = :r",
                names={"#s": "status"},
                values={":r": "REJECTED"},
            )
        if failed:
            raise RuntimeError(f"{len(failed)} job messages not sent")
    return len(fresh)
