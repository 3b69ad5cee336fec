"""Historical ("cold path") sync jobs: a date range split into 7-day chunks, orchestrated.

The seed (sections 3, 3a, 4) runs backfills as a Step Functions workflow whose execution name is
the Idempotency-Key, with a ``Map`` over chunks, retries, and progress readable through
``GET /v1/sync-jobs/{jobId}`` (``totalChunks``/``processedChunks``/``failedChunks``). Here the same
workflow runs on the stack's own queues, so that it works wherever Lambda and SQS do:

    POST /v1/sync-jobs (mode=historical) ──▶ HistoricalSyncQueue ──▶ orchestrator_handler
        start: idempotent on the job id (derived from the Idempotency-Key, the "execution
        name"): job QUEUED → RUNNING, one ``HCHUNK#{jobId}#{n}`` item per chunk (PENDING), one
        message per pending chunk ──▶ HistoricalChunkQueue ──▶ chunk_handler ("Map" iterations)
    chunk: rate limiter → the lane lease of the source and data type (never alongside a hot-path
        sync of the same lane) → metadata-first sync of the chunk's window (worker._cloud_sync);
        chunk PENDING → DONE, ``processedChunks`` + 1 (conditional, so a redelivered chunk counts
        once). Retry: deferrals and transient errors go back to the queue with backoff; Catch:
        at the last receive the chunk is FAILED and ``failedChunks`` + 1 instead of a DLQ.
    finish: when processed + failed = total, the job becomes SUCCEEDED (FAILED if a chunk
        failed), exactly once (conditional on RUNNING), and ``SyncSucceeded`` is published.

A re-delivered start message re-sends only the chunks still PENDING; a duplicate chunk message
finds its chunk DONE and is dropped. Chunk items live in the user's partition (deleting the user
deletes them) under ``HCHUNK#``, not ``JOB#``, so listing a user's jobs does not list chunks.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from syncwell import worker
from syncwell.common import client, env, env_int, log
from syncwell.providers import PermanentError, ProviderUnreachable, RateLimited
from syncwell.store import Table, is_conditional_failure, user_pk
from syncwell.users import iso, load_user_config

__all__ = ["Chunk", "chunk_handler", "orchestrator_handler", "plan_chunks", "start_job"]

CHUNK_DAYS = 7
TERMINAL = ("SUCCEEDED", "FAILED", "CANCELLED")


@dataclass(frozen=True)
class Chunk:
    index: int
    start: date  # first day, inclusive
    end: date  # last day, inclusive

    @property
    def since(self) -> str:
        """Providers list activities strictly after ``since``: the second before ``start``."""
        return (self.start - timedelta(days=1)).isoformat() + "T23:59:59Z"

    @property
    def until(self) -> str:
        return self.end.isoformat()


def plan_chunks(start_date: str, end_date: str, days: int = CHUNK_DAYS) -> list[Chunk]:
    """``[start_date, end_date]`` (inclusive, ``YYYY-MM-DD``) in consecutive ``days``-day chunks;
    as many as ``users.chunks_for`` counts when the job is accepted."""
    start, end = date.fromisoformat(start_date[:10]), date.fromisoformat(end_date[:10])
    if end < start:
        raise ValueError(f"dateRange ends ({end}) before it starts ({start})")
    chunks = []
    first = start
    while first <= end:
        last = min(end, first + timedelta(days=days - 1))
        chunks.append(Chunk(len(chunks), first, last))
        first = last + timedelta(days=1)
    return chunks


def chunk_sk(job_id: str, index: int) -> str:
    return f"HCHUNK#{job_id}#{index:05d}"


def _send_batch(queue_url: str, bodies: list[dict[str, Any]]) -> int:
    sqs = client("sqs")
    sent = 0
    for begin in range(0, len(bodies), 10):
        part = bodies[begin : begin + 10]
        entries = [
            {"Id": str(i), "MessageBody": json.dumps(b, separators=(",", ":"))}
            for i, b in enumerate(part)
        ]
        answer = sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)
        if answer.get("Failed"):
            raise RuntimeError(f"{len(answer['Failed'])} chunk messages not sent")
        sent += len(part)
    return sent


def start_job(table: Table, body: dict[str, Any]) -> int:
    """The orchestrator's start step (idempotent): the number of chunk messages sent."""
    user_id, job_id = str(body["userId"]), str(body["jobId"])
    pk = user_pk(user_id)
    job = table.get(pk, f"JOB#{job_id}")
    if job is None or job.get("status") in TERMINAL:
        return 0  # user deleted, or a finished execution: nothing starts twice
    rng = body.get("dateRange") or job.get("dateRange") or {}
    chunks = plan_chunks(str(rng["startDate"]), str(rng["endDate"]))
    existing = {
        str(i["SK"]): str(i.get("status"))
        for i in table.query(pk, f"HCHUNK#{job_id}#", consistent=True)
    }
    now = iso()
    missing = [c for c in chunks if chunk_sk(job_id, c.index) not in existing]
    if missing:
        table.batch_write(
            puts=[
                {
                    "PK": pk,
                    "SK": chunk_sk(job_id, c.index),
                    "jobId": job_id,
                    "status": "PENDING",
                    "startDate": c.start.isoformat(),
                    "endDate": c.end.isoformat(),
                    "createdAt": now,
                    "ttl": int(job.get("ttl") or time.time() + 30 * 86400),
                }
                for c in missing
            ]
        )
    try:
        table.update(
            pk,
            f"JOB#{job_id}",
            "SET #s = :r, progress = if_not_exists(progress, :p), "
            "startedAt = if_not_exists(startedAt, :now), updatedAt = :now",
            names={"#s": "status"},
            values={
                ":r": "RUNNING",
                ":q": "QUEUED",
                ":now": now,
                ":p": {"totalChunks": len(chunks), "processedChunks": 0, "failedChunks": 0},
            },
            condition="#s IN (:q, :r)",
        )
    except Exception as exc:
        if is_conditional_failure(exc):
            return 0  # finished or cancelled meanwhile
        raise
    pending = [c for c in chunks if existing.get(chunk_sk(job_id, c.index), "PENDING") == "PENDING"]
    message = {
        k: body[k]
        for k in (
            "userId",
            "jobId",
            "sourceConnectionId",
            "destinationConnectionId",
            "dataType",
            "priority",
            "correlationId",
        )
        if k in body
    }
    sent = _send_batch(
        env("HISTORICAL_CHUNK_QUEUE_URL"),
        [
            {**message, "chunk": c.index, "since": c.since, "until": c.until, "total": len(chunks)}
            for c in pending
        ],
    )
    log(logging.INFO, "historical job started", jobId=job_id, chunks=len(chunks), sent=sent)
    return sent


def orchestrator_handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    table = Table()
    failures = []
    for record in event.get("Records", []):
        try:
            body = json.loads(record.get("body") or "")
            start_job(table, body)
        except Exception as exc:  # retried by the queue; after maxReceiveCount, its DLQ
            log(logging.ERROR, "historical start failed", error=repr(exc)[:300])
            failures.append({"itemIdentifier": record["messageId"]})
    return {"batchItemFailures": failures}


# -- chunks --------------------------------------------------------------------------------------


def _job_update(table: Table, body: dict[str, Any], counter: str, records: int) -> dict[str, Any]:
    return table.update(
        user_pk(body["userId"]),
        f"JOB#{body['jobId']}",
        f"SET progress.{counter} = progress.{counter} + :one, "
        "recordsWritten = if_not_exists(recordsWritten, :zero) + :n, updatedAt = :now",
        values={":one": 1, ":zero": 0, ":n": records, ":now": iso()},
        condition="attribute_exists(PK)",
    )


def _close_chunk(
    table: Table, body: dict[str, Any], status: str, records: int = 0, reason: str = ""
) -> bool:
    """Chunk PENDING → DONE/FAILED and its counter on the job, once; then maybe finish the job.
    False if the chunk was already closed (a duplicate delivery)."""
    pk = user_pk(body["userId"])
    try:
        table.update(
            pk,
            chunk_sk(body["jobId"], int(body["chunk"])),
            "SET #s = :s, recordsWritten = :n, #e = :e, updatedAt = :now",
            names={"#s": "status", "#e": "error"},
            values={":s": status, ":p": "PENDING", ":n": records, ":e": reason, ":now": iso()},
            condition="#s = :p",
        )
    except Exception as exc:
        if is_conditional_failure(exc):
            return False
        raise
    try:
        job = _job_update(
            table, body, "processedChunks" if status == "DONE" else "failedChunks", records
        )
    except Exception as exc:
        if is_conditional_failure(exc):
            return True  # the user was deleted meanwhile
        raise
    _maybe_finish(table, body, job)
    return True


def _maybe_finish(table: Table, body: dict[str, Any], job: dict[str, Any]) -> None:
    progress = job.get("progress") or {}
    total = int(progress.get("totalChunks", 0))
    done, failed = int(progress.get("processedChunks", 0)), int(progress.get("failedChunks", 0))
    if total == 0 or done + failed < total:
        return
    status = "SUCCEEDED" if failed == 0 else "FAILED"
    try:
        table.update(
            user_pk(body["userId"]),
            f"JOB#{body['jobId']}",
            "SET #s = :s, completedAt = :t, updatedAt = :now" + (", #e = :e" if failed else ""),
            names={"#s": "status", **({"#e": "error"} if failed else {})},
            values={
                ":s": status,
                ":r": "RUNNING",
                ":t": time.time(),
                ":now": iso(),
                **({":e": f"{failed} of {total} chunks failed"} if failed else {}),
            },
            condition="#s = :r",
        )
    except Exception as exc:
        if is_conditional_failure(exc):
            return  # another chunk finished it
        raise
    log(logging.INFO, "historical job finished", jobId=body["jobId"], status=status)
    if status == "SUCCEEDED":
        try:
            client("events").put_events(
                Entries=[
                    {
                        "Source": "syncwell.worker",
                        "DetailType": "SyncSucceeded",
                        "EventBusName": env("EVENT_BUS_NAME", "default"),
                        "Detail": json.dumps(
                            {
                                "jobId": body["jobId"],
                                "userId": body["userId"],
                                "dataType": body.get("dataType"),
                                "mode": "historical",
                                "records": int(job.get("recordsWritten", 0)),
                            }
                        ),
                    }
                ]
            )
        except Exception as exc:  # the sync happened; a lost notification is not a lost job
            log(logging.ERROR, "SyncSucceeded not published", error=repr(exc)[:200])


def process_chunk(ctx: worker.Context, body: dict[str, Any]) -> str:
    """One chunk; its outcome (``done``, ``duplicate``, ``discarded``, ``cancelled``)."""
    user_id, job_id, index = str(body["userId"]), str(body["jobId"]), int(body["chunk"])
    pk = user_pk(user_id)
    job = ctx.table.get(pk, f"JOB#{job_id}")
    if job is None or job.get("status") in TERMINAL:
        return "discarded"
    chunk = ctx.table.get(pk, chunk_sk(job_id, index))
    if chunk is None:
        return "discarded"
    if chunk.get("status") != "PENDING":
        return "duplicate"
    config = load_user_config(ctx.table, user_id) or {"connections": {}, "syncConfigs": {}}
    conns = config["connections"]
    src_id, dest_id = str(body["sourceConnectionId"]), str(body["destinationConnectionId"])
    missing = [c for c in (src_id, dest_id) if c not in conns]
    if missing:
        _cancel(ctx.table, body, f"connection {missing[0]} was removed")
        return "cancelled"
    inactive = [c for c in (src_id, dest_id) if conns[c].get("Status") != "active"]
    if inactive:
        raise worker.Fail(
            f"connection {inactive[0]} is {conns[inactive[0]].get('Status')}", permanent=True
        )
    worker.take_tokens(
        sorted({conns[src_id]["provider"], conns[dest_id]["provider"]}),
        str(body.get("priority", "medium")),
    )
    lane, owner = f"{src_id}##{body['dataType']}", f"{job_id}#{index}"
    if not worker.acquire_lane(
        ctx.table, user_id, lane, owner, time.time(), float(env("LOCK_LEASE_S", "120"))
    ):
        raise worker.Defer("another sync of this source and data type is running")
    try:
        window = {
            **body,
            "mode": "historical",
            "dateRange": {"startDate": body["since"], "endDate": body["until"]},
        }
        written, _ = worker._cloud_sync(ctx, user_id, window, conns, config)
    finally:
        worker.release_lane(ctx.table, user_id, lane, owner)
    return "done" if _close_chunk(ctx.table, body, "DONE", written) else "duplicate"


def _cancel(table: Table, body: dict[str, Any], reason: str) -> None:
    try:
        table.update(
            user_pk(body["userId"]),
            f"JOB#{body['jobId']}",
            "SET #s = :c, #e = :e, updatedAt = :now",
            names={"#s": "status", "#e": "error"},
            values={":c": "CANCELLED", ":e": reason, ":now": iso(), ":r": "RUNNING"},
            condition="#s = :r",
        )
    except Exception as exc:
        if not is_conditional_failure(exc):
            raise


def chunk_handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """HistoricalChunkQueue, batches with ReportBatchItemFailures."""
    ctx = worker.Context()
    failures = []
    outcomes: dict[str, str] = {}
    for record in event.get("Records", []):
        mid = record["messageId"]
        try:
            body = json.loads(record.get("body") or "")
            if not isinstance(body, dict) or not {"userId", "jobId", "chunk"} <= body.keys():
                raise ValueError("not a chunk")
        except ValueError:
            log(logging.ERROR, "poison chunk message", messageId=mid)
            outcomes[mid] = "failed"
            failures.append({"itemIdentifier": mid})
            continue
        try:
            try:
                outcomes[mid] = process_chunk(ctx, body)
                continue
            except (worker.Defer, RateLimited, ProviderUnreachable) as deferred:
                if isinstance(deferred, worker.Defer):
                    reason, hint = deferred.reason, deferred.hint_s
                elif isinstance(deferred, RateLimited):
                    reason, hint = "provider 429", deferred.retry_after_s
                else:
                    reason, hint = str(deferred)[:200], 0.0
                if worker.deferral_exhausted(body):  # MAX_DEFERRALS re-sends: fail from now on
                    raise worker.Fail(worker.exhausted_reason(body, reason)) from deferred
            outcome = worker._handle_deferral(record, body, reason, hint)
        except Exception as exc:  # Fail, provider errors, AWS dependency errors
            reason = exc.reason if isinstance(exc, worker.Fail) else repr(exc)[:200]
            received = worker.receive_count(record)
            if received >= env_int("MAX_RECEIVE_COUNT", 5):
                # Catch: the chunk is counted as failed instead of waiting in a DLQ forever
                try:
                    _close_chunk(ctx.table, body, "FAILED", reason=reason[:300])
                    outcomes[mid] = "failed-final"
                    continue
                except Exception as close_exc:  # leave it to the DLQ
                    log(logging.ERROR, "chunk failure not recorded", error=repr(close_exc)[:200])
            permanent = isinstance(exc, PermanentError) or (
                isinstance(exc, worker.Fail) and exc.permanent
            )
            worker.change_visibility(record, 1 if permanent else worker.backoff_delay(received - 1))
            outcome = worker.Outcome(mid, "failed", reason)
        outcomes[mid] = outcome.kind
        if outcome.kind in ("failed", "deferred"):
            failures.append({"itemIdentifier": mid})
    log(logging.INFO, "historical chunk batch", outcomes=outcomes)
    return {"batchItemFailures": failures}
