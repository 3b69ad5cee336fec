"""The hot-path worker (section 3, model 1): SQS ``HotPathSyncQueue``, batches of 10,
``ReportBatchItemFailures``.

Jobs of one user for one source and data type never run at the same time (a ``LANE#`` lease
item); within a batch, a later job for a lane an earlier job just synced is answered by that
sync. Per job: rate-limiter tokens (Redis; degraded mode without it) → idempotency lock (diagram 9)
→ credentials (JIT cache → Secrets Manager) → metadata-first fetch → conflict resolution →
hydrate only what must be written → write to the destination. Per batch: one ``BatchWriteItem``
for the sync-state items of jobs that wrote something (nothing for empty syncs), then the job
and lock items, then ``SyncSucceeded`` events (``PutEvents``, 10 per call).

Outcomes of a message:
* success / duplicate / cancelled → deleted (not in ``batchItemFailures``);
* deferred (rate limited, provider 429, provider unreachable, Redis down, lock busy) → returned to the queue with
  ``ChangeMessageVisibility`` and exponential backoff with full jitter. A deferred job must not
  reach the DLQ just for being deferred, so from the ``REQUEUE_AFTER_RECEIVES``-th receive it is
  re-sent as a fresh message (with ``DelaySeconds``) and the old one deleted. The re-sends are
  capped (``MAX_DEFERRALS``, the template's ``MaxDeferrals``): a job still deferred after that
  many re-sends (a provider that throttles for hours, a dependency that never comes back) is
  failed from then on like any failed job, so it reaches the DLQ after ``maxReceiveCount``
  receives and counts against the hot-path success SLO instead of circling forever (seed,
  Runbook 3: "sync jobs are being correctly retried and eventually sent to the DLQ");
* failed (provider 5xx, 401 after refresh, bad message) → left in the queue (short backoff);
  after ``maxReceiveCount`` (5) receives SQS moves it to the DLQ and the job is ``FAILED``.
"""

from __future__ import annotations

import json
import logging
import math
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from syncwell import cache, settings
from syncwell.backoff import full_jitter
from syncwell.common import (
    client,
    correlation,
    env,
    env_float,
    env_int,
    log,
    metric,
    receive_count,
)
from syncwell.providers import (
    CREDENTIALS,
    PermanentError,
    ProviderClient,
    ProviderTokens,
    ProviderUnreachable,
    RateLimited,
    TransientError,
    Unauthorized,
    credentials,
    save_tokens,
)
from syncwell.store import (
    DynamoLockStore,
    Table,
    decide_idempotency,
    is_conditional_failure,
    to_ddb,
    user_pk,
)
from syncwell.users import invalidate_config, iso, load_user_config

__all__ = ["Outcome", "handler"]

OWNER = str(uuid.uuid4())  # this execution environment, as lock owner


class Defer(Exception):
    def __init__(self, reason: str, hint_s: float = 0.0) -> None:
        super().__init__(reason)
        self.reason = reason
        self.hint_s = hint_s


class Dropped(Exception):
    """Only with ``SYNCWELL_BROKEN=drop-on-secrets-error`` (the template's ``BrokenMode``): the
    deliberately broken worker the chaos catalog must catch. Its message is deleted as if the
    job were done, and the job is never finished: an accepted job is lost."""


def _broken(mode: str) -> bool:
    return env("SYNCWELL_BROKEN") == mode


class Fail(Exception):
    def __init__(self, reason: str, permanent: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent


@dataclass
class Outcome:
    message_id: str
    kind: str  # success | duplicate | cancelled | discarded | deferred | requeued | failed
    reason: str = ""
    records: int = 0
    job: dict[str, Any] | None = None
    state: dict[str, Any] | None = None
    lock_key: str | None = None
    lane: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _max_receives() -> int:
    return env_int("MAX_RECEIVE_COUNT", 5)


def deferral_exhausted(body: dict[str, Any]) -> bool:
    """True once the job has been re-sent ``MAX_DEFERRALS`` times (default 10): its deferrals
    turn into failures, and the queue's redrive takes it to the DLQ."""
    return int(body.get("deferrals", 0)) >= env_int("MAX_DEFERRALS", 10)


def exhausted_reason(body: dict[str, Any], reason: str) -> str:
    return f"deferral budget spent ({int(body.get('deferrals', 0))} re-sends): {reason}"[:300]


_QUEUE_URLS: dict[str, str] = {}


def _queue_url(record: dict[str, Any]) -> str:
    """The URL of the queue ``record`` came from (the hot path's, or e.g. the historical chunk
    queue when the chunk worker defers with these helpers)."""
    url = env("HOT_PATH_QUEUE_URL")
    arn = str(record.get("eventSourceARN", ""))
    name = arn.split(":")[-1] if arn else ""
    if url and (not name or url.rstrip("/").endswith("/" + name)):
        return url
    if arn not in _QUEUE_URLS:
        parts = arn.split(":")
        _QUEUE_URLS[arn] = client("sqs").get_queue_url(
            QueueName=parts[-1], QueueOwnerAWSAccountId=parts[4]
        )["QueueUrl"]
    return _QUEUE_URLS[arn]


def change_visibility(record: dict[str, Any], seconds: int, sleep: Any = time.sleep) -> bool:
    """ChangeMessageVisibility with 3 retries and exponential backoff ([R-003])."""
    sqs = client("sqs")
    for attempt in range(4):
        try:
            sqs.change_message_visibility(
                QueueUrl=_queue_url(record),
                ReceiptHandle=record["receiptHandle"],
                VisibilityTimeout=max(0, min(43200, int(seconds))),
            )
            return True
        except Exception as exc:
            if attempt == 3:
                log(
                    logging.CRITICAL,
                    "ChangeMessageVisibility failed; the message will be "
                    "redelivered when its visibility timeout ends",
                    error=repr(exc)[:200],
                )
                return False
            sleep(full_jitter(attempt, 0.05, 1.0))
    return False


def backoff_delay(attempt: int, hint_s: float = 0.0) -> int:
    base = env_float("BACKOFF_BASE_S", 2.0)
    cap = env_float("BACKOFF_CAP_S", 900.0)
    return math.ceil(min(cap, max(hint_s, full_jitter(attempt, base, cap))))


def _requeue(record: dict[str, Any], body: dict[str, Any], delay: int) -> None:
    body = {**body, "deferrals": int(body.get("deferrals", 0)) + 1}
    client("sqs").send_message(
        QueueUrl=_queue_url(record),
        MessageBody=json.dumps(body, separators=(",", ":")),
        DelaySeconds=max(0, min(900, delay)),
        MessageAttributes={
            "userId": {"DataType": "String", "StringValue": str(body.get("userId", ""))}
        },
    )


# -- one job -------------------------------------------------------------------------------------


class Context:
    def __init__(self) -> None:
        self.table = Table()
        self.locks = DynamoLockStore(self.table)
        self.providers: dict[str, ProviderClient] = {}
        self.synced: dict[str, str] = {}  # user|lane -> job id that synced it in this batch

    def provider(self, name: str) -> ProviderClient:
        if name not in self.providers:
            self.providers[name] = ProviderClient(name)
        return self.providers[name]


def _token_for(ctx: Context, user_id: str, conn_id: str, conn: dict[str, Any]) -> ProviderTokens:
    pointer = str(conn["CredentialArn"])
    try:
        tokens = credentials(pointer)
    except Exception as exc:
        if _broken("drop-on-secrets-error"):
            raise Dropped(f"secrets error, job dropped: {exc!r}"[:200]) from exc
        raise
    if tokens.expired(time.time()):
        tokens = _refresh(ctx, user_id, conn_id, conn, tokens)
    return tokens


def _refresh(
    ctx: Context, user_id: str, conn_id: str, conn: dict[str, Any], tokens: ProviderTokens
) -> ProviderTokens:
    if not tokens.refresh_token:
        _needs_reauth(ctx, user_id, conn_id)
        raise Fail(f"{conn_id}: token expired and no refresh token", permanent=True)
    try:
        fresh = ProviderTokens.from_oauth(
            ctx.provider(conn["provider"]).refresh(tokens.refresh_token), time.time()
        )
    except Unauthorized:
        _needs_reauth(ctx, user_id, conn_id)
        raise Fail(
            f"{conn_id}: refresh refused; user must re-authenticate", permanent=True
        ) from None
    fresh.owner_id = fresh.owner_id or tokens.owner_id
    save_tokens(str(conn["CredentialArn"]), fresh)
    CREDENTIALS.put(str(conn["CredentialArn"]), fresh)
    return fresh


def _needs_reauth(ctx: Context, user_id: str, conn_id: str) -> None:
    """Connection → ``needs_reauth``; ``ReAuthStatus`` set (the sparse GSI finds it)."""
    try:
        ctx.table.update(
            user_pk(user_id),
            f"CONN#{conn_id}",
            "SET #st = :nr, ReAuthStatus = :p, version = version + :one, updatedAt = :now",
            names={"#st": "Status"},
            values={":nr": "needs_reauth", ":p": "pending_user_action", ":one": 1, ":now": iso()},
            condition="attribute_exists(PK)",
        )
    except Exception as exc:
        if not is_conditional_failure(exc):
            raise
    invalidate_config(user_id)


def provider_call(ctx: Context, user_id: str, conn_id: str, conn: dict[str, Any], fn: Any) -> Any:
    """A provider call with the connection's token; one refresh on 401."""
    tokens = _token_for(ctx, user_id, conn_id, conn)
    try:
        return fn(tokens.access_token)
    except Unauthorized:
        CREDENTIALS.invalidate(str(conn["CredentialArn"]))
        tokens = _refresh(ctx, user_id, conn_id, conn, tokens)
        try:
            return fn(tokens.access_token)
        except Unauthorized:
            _needs_reauth(ctx, user_id, conn_id)
            raise Fail(f"{conn_id}: 401 after refresh", permanent=True) from None


def _for_destination(
    record: dict[str, Any], source: str, replaces: dict[str, str]
) -> dict[str, Any]:
    """A source record as written to the destination: its id becomes ``sourceId``, and a record
    that wins a conflict names the destination record it ``replaces``."""
    item = {**{k: val for k, val in record.items() if k != "id"}, "sourceId": record.get("id")}
    item["source"] = source
    if record.get("id") in replaces:
        item["replaces"] = replaces[record["id"]]
    return item


def _iana_zone(zone: Any) -> bool:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    if not isinstance(zone, str) or not zone or len(zone) > 64:
        return False
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def normalize_timezones(items: list[dict[str, Any]], provider: str) -> int:
    """Seed (CanonicalWorkout.timezone): a missing timezone is processed as UTC, with a WARN log
    and the ``InvalidTimezoneData_Omitted`` metric; so is one that is not an IANA name."""
    omitted = 0
    for item in items:
        if not _iana_zone(item.get("timezone")):
            item["timezone"] = "UTC"
            omitted += 1
    if omitted:
        log(logging.WARNING, "timezone missing or invalid: processed as UTC", records=omitted,
            provider=provider)  # fmt: skip
        metric("InvalidTimezoneData_Omitted", omitted, Provider=provider)
    return omitted


def conflict_strategy(config: dict[str, Any], sync_cfg: dict[str, Any]) -> str:
    """The user's own choice (``PUT /v1/users/me/settings`` ``conflictResolutionStrategy``)
    over the sync config's ``ConflictStrategy``, else ``newest_wins``. ``AI_POWERED_MERGE`` is
    not emulated: it resolves as ``newest_wins``."""
    chosen = (config.get("settings") or {}).get("conflictResolutionStrategy")
    strategy = str(chosen or sync_cfg.get("ConflictStrategy") or "newest_wins")
    return "newest_wins" if strategy == "AI_POWERED_MERGE" else strategy


def _just_before(timestamp: str) -> str:
    """One second before ``timestamp``: providers list activities strictly after ``since``, and
    the destination's copy of the earliest activity must be part of the comparison."""
    from datetime import UTC, datetime, timedelta

    try:
        moment = datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    except ValueError:
        return timestamp
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment.astimezone(UTC) - timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _resolve(
    source: list[dict[str, Any]], dest: list[dict[str, Any]], strategy: str
) -> tuple[list[str], dict[str, str]]:
    """Conflict resolution on metadata only (seed: ConflictResolutionEngine; "newest" is the
    record's modification timestamp): the ids of the source records to hydrate and write, and
    for those that replace a destination record, that record's id. A source and a destination
    record conflict when they start at the same time with the same activity type.

    * no conflict: written as a new record;
    * ``source_wins``: replaces the destination's record;
    * ``dest_wins``: skipped;
    * ``newest_wins``: replaces it when the source's ``modifiedAt`` is later, else skipped (a
      record without ``modifiedAt`` is the older one)."""
    present = {(m.get("startTime"), m.get("activityType")): m for m in dest}
    wanted: list[str] = []
    replaces: dict[str, str] = {}
    for record in source:
        other = present.get((record.get("startTime"), record.get("activityType")))
        if other is None:
            wanted.append(record["id"])
            continue
        if strategy == "dest_wins":
            continue
        newer = str(record.get("modifiedAt") or "") > str(other.get("modifiedAt") or "")
        if strategy == "source_wins" or newer:
            wanted.append(record["id"])
            replaces[record["id"]] = str(other["id"])
    return wanted, replaces


def take_tokens(providers: list[str], priority: str) -> None:
    for name in providers:
        if not settings.provider_enabled(name):  # operations switched it off (AppConfig)
            retry_s = env_float("PROVIDER_DISABLED_RETRY_S", 30)
            raise Defer(f"provider {name} disabled by configuration", retry_s)
    for name in providers:
        try:
            allowed, wait_ms = cache.take_token(name, priority)
        except cache.CacheUnavailable:
            if _broken("call-providers-without-cache"):  # the broken variant: fails open
                continue
            raise Defer("degraded: rate limiter unavailable, third parties not called") from None
        if not allowed:
            raise Defer(f"rate limited ({name})", wait_ms / 1000.0)


def process(ctx: Context, record: dict[str, Any], body: dict[str, Any]) -> Outcome:
    mid = record["messageId"]
    user_id, job_id = body["userId"], body["jobId"]
    pk = user_pk(user_id)
    job = ctx.table.get(pk, f"JOB#{job_id}")
    if job is None:
        return Outcome(mid, "discarded", "job unknown (user deleted?)")
    if job.get("status") in ("SUCCEEDED", "CANCELLED"):
        return Outcome(mid, "duplicate", f"job already {job['status']}")
    config = load_user_config(ctx.table, user_id) or {"connections": {}, "syncConfigs": {}}
    conns = config["connections"]
    kind = body.get("type", "sync")
    dest_id = body["destinationConnectionId"]
    src_id = body.get("sourceConnectionId")
    needed = [dest_id] + ([src_id] if src_id else [])
    missing = [c for c in needed if c not in conns]
    if missing:
        return Outcome(mid, "cancelled", f"connection {missing[0]} was removed", job=job)
    inactive = [c for c in needed if conns[c].get("Status") != "active"]
    if inactive:
        raise Fail(
            f"connection {inactive[0]} is {conns[inactive[0]].get('Status')}", permanent=True
        )
    providers = sorted({conns[c]["provider"] for c in needed})
    take_tokens(providers, str(body.get("priority", "medium")))
    key = str(body.get("idempotencyKey") or job_id)
    decision = decide_idempotency(
        ctx.locks, user_id, key, job_id, OWNER, time.time(), env_float("LOCK_LEASE_S", 120)
    )
    if decision.action == "duplicate":
        return Outcome(mid, "duplicate", "idempotency key COMPLETED")
    if decision.action == "busy":
        raise Defer("another worker holds the idempotency lock")
    # one sync at a time per source and data type (per destination for uploads): two jobs of
    # the same user running together would read the same cursor and write the same activities
    lane = f"device##{dest_id}" if kind == "device_upload" else f"{src_id}##{body['dataType']}"
    leader = ctx.synced.get(f"{user_id}|{lane}")
    if leader is not None:
        # an earlier job of this batch just synced this source and data type, after this job
        # was accepted: that sync answers this request too (no second provider round trip)
        return Outcome(mid, "success", f"covered by {leader}", job=job, lock_key=key)
    if not acquire_lane(
        ctx.table, user_id, lane, job_id, time.time(), env_float("LOCK_LEASE_S", 120)
    ):
        ctx.locks.release(user_id, key, OWNER)
        raise Defer("another sync of this source and data type is running")
    try:
        if kind == "device_upload":
            records, state = _device_upload(ctx, user_id, body, conns)
        else:
            records, state = _cloud_sync(ctx, user_id, body, conns, config)
    except BaseException:
        release_lane(ctx.table, user_id, lane, job_id)
        ctx.locks.release(user_id, key, OWNER)
        raise
    if kind != "device_upload":
        ctx.synced[f"{user_id}|{lane}"] = job_id
    return Outcome(mid, "success", records=records, job=job, state=state, lock_key=key, lane=lane)


def acquire_lane(
    table: Table, user_id: str, lane: str, job_id: str, now: float, lease_s: float
) -> bool:
    try:
        table.put(
            {
                "PK": user_pk(user_id),
                "SK": f"LANE#{lane}",
                "owner": job_id,
                "leaseUntil": int(now + lease_s),
                "ttl": int(now + lease_s + 3600),
            },
            condition="attribute_not_exists(PK) OR leaseUntil < :now OR #o = :me",
            names={"#o": "owner"},
            values={":now": int(now), ":me": job_id},
        )
        return True
    except Exception as exc:
        if is_conditional_failure(exc):
            return False
        raise


def release_lane(table: Table, user_id: str, lane: str, job_id: str) -> None:
    try:
        table.ddb.delete_item(
            TableName=table.name,
            Key=to_ddb({"PK": user_pk(user_id), "SK": f"LANE#{lane}"}),
            ConditionExpression="#o = :me",
            ExpressionAttributeNames={"#o": "owner"},
            ExpressionAttributeValues=to_ddb({":me": job_id}),
        )
    except Exception as exc:
        if not is_conditional_failure(exc):
            log(logging.WARNING, "lane not released (its lease will expire)", error=repr(exc)[:200])


def _cloud_sync(
    ctx: Context, user_id: str, body: dict[str, Any], conns: dict[str, Any], config: dict[str, Any]
) -> tuple[int, dict[str, Any] | None]:
    src_id, dest_id, data_type = (
        body["sourceConnectionId"],
        body["destinationConnectionId"],
        body["dataType"],
    )
    src, dest = conns[src_id], conns[dest_id]
    sync_cfg = config.get("syncConfigs", {}).get(f"{src_id}##{data_type}", {})
    strategy = conflict_strategy(config, sync_cfg)
    state_sk = f"SYNCSTATE#{src_id}##{data_type}"
    if body.get("mode") == "historical":
        rng = body.get("dateRange") or {}
        since, until = rng.get("startDate"), rng.get("endDate")
    else:
        state = ctx.table.get(user_pk(user_id), state_sk, consistent=False) or {}
        since, until = state.get("cursor"), None
    source_provider = ctx.provider(src["provider"])
    dest_provider = ctx.provider(dest["provider"])
    meta = provider_call(
        ctx,
        user_id,
        src_id,
        src,
        lambda t: source_provider.list_metadata(t, data_type, since, until),
    )
    if not meta:
        return 0, None  # write avoidance: nothing new, nothing written
    earliest = _just_before(min(str(m.get("startTime")) for m in meta))
    incremental = body.get("mode") != "historical"
    existing: list[dict[str, Any]]
    if incremental and skip_destination_read(user_id, dest["provider"]):
        existing = []  # confident: the destination has had nothing there
        cache.confidence_record(user_id, dest["provider"], empty=True)
        CONFIDENCE["skipped"] += 1
    else:
        existing = provider_call(
            ctx,
            user_id,
            dest_id,
            dest,
            lambda t: dest_provider.list_metadata(t, data_type, earliest, None),
        )
        if incremental:
            cache.confidence_record(user_id, dest["provider"], empty=not existing)
            CONFIDENCE["read"] += 1
    wanted, replaces = _resolve(meta, existing, strategy)
    written = 0
    if wanted:
        full = provider_call(
            ctx, user_id, src_id, src, lambda t: source_provider.hydrate(t, wanted)
        )
        items = [_for_destination(a, str(src["provider"]), replaces) for a in full]
        normalize_timezones(items, str(src["provider"]))
        written = provider_call(
            ctx, user_id, dest_id, dest, lambda t: dest_provider.write(t, items)
        )
    cursor = max(str(m.get("startTime")) for m in meta)
    state_item = {
        "PK": user_pk(user_id),
        "SK": state_sk,
        "cursor": cursor,
        "lastSyncTime": iso(),
        "lastRecords": written,
    }
    return written, state_item


CONFIDENCE = {"skipped": 0, "read": 0}


def skip_destination_read(user_id: str, dest_provider: str) -> bool:
    """Sync confidence (seed section "Caching Strategy", ``sync:confidence:{userId}:{dest}``).

    Before writing new source records, a sync reads the destination's records in the same window
    to resolve conflicts. When that read has come back empty ``SYNC_CONFIDENCE_THRESHOLD``
    times in a row (default 3; 0 turns this off), later syncs skip it — one third-party call
    fewer per job — and count on. Every ``SYNC_CONFIDENCE_VERIFY_EVERY``-th sync (default 3)
    past the threshold reads anyway, and a non-empty answer resets the counter; the counter
    lives 7 days. Historical backfills always read. Without Redis there is no confidence: the
    read happens."""
    threshold = env_int("SYNC_CONFIDENCE_THRESHOLD", 3)
    if threshold <= 0:
        return False
    count = cache.confidence_get(user_id, dest_provider)
    if count < threshold:
        return False
    every = max(1, env_int("SYNC_CONFIDENCE_VERIFY_EVERY", 3))
    return (count - threshold + 1) % every != 0


def _device_upload(
    ctx: Context, user_id: str, body: dict[str, Any], conns: dict[str, Any]
) -> tuple[int, dict[str, Any] | None]:
    s3 = client("s3")
    try:
        raw = s3.get_object(Bucket=env("UPLOAD_BUCKET"), Key=body["stagedKey"])["Body"].read()
    except Exception as exc:
        code = (getattr(exc, "response", {}) or {}).get("Error", {}).get("Code")
        if code in ("NoSuchKey", "404"):
            raise Fail("staged upload is gone", permanent=True) from None
        raise
    data = json.loads(raw)
    dest_id = body["destinationConnectionId"]
    dest = conns[dest_id]
    provider = ctx.provider(dest["provider"])
    earliest = _just_before(min(str(d["startTime"]) for d in data))
    existing = provider_call(
        ctx, user_id, dest_id, dest, lambda t: provider.list_metadata(t, "workout", earliest, None)
    )
    chosen, replaces = _resolve(data, existing, "newest_wins")
    wanted = set(chosen)
    items = [
        _for_destination(d, str(d.get("source") or "device"), replaces)
        for d in data
        if d["id"] in wanted
    ]
    normalize_timezones(items, "device")
    written = (
        provider_call(ctx, user_id, dest_id, dest, lambda t: provider.write(t, items))
        if items
        else 0
    )
    s3.delete_object(Bucket=env("UPLOAD_BUCKET"), Key=body["stagedKey"])
    return written, None


# -- the batch -----------------------------------------------------------------------------------


def _provider_hint(body: dict[str, Any]) -> str:
    return str(body.get("sourceConnectionId") or body.get("destinationConnectionId") or "")


def _handle_deferral(
    record: dict[str, Any], body: dict[str, Any], reason: str, hint_s: float
) -> Outcome:
    received = receive_count(record)
    attempt = received - 1 + int(body.get("deferrals", 0))
    delay = backoff_delay(attempt, hint_s)
    if received >= env_int("REQUEUE_AFTER_RECEIVES", 3):
        try:
            _requeue(record, body, delay)
            return Outcome(record["messageId"], "requeued", reason, extra={"delay": delay})
        except Exception as exc:  # SQS itself is failing: keep the message where it is
            log(logging.WARNING, "requeue failed; deferring in place", error=repr(exc)[:200])
    change_visibility(record, delay)
    return Outcome(record["messageId"], "deferred", reason, extra={"delay": delay})


_TRANSIENT_CODES = {
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "InternalServerError",
    "InternalFailure",
    "InternalError",
    "ThrottlingException",
    "Throttling",
    "ThrottledException",
    "RequestLimitExceeded",
    "ProvisionedThroughputExceededException",
    "TooManyRequestsException",
    "SlowDown",
    "RequestThrottled",
}


def dependency_unavailable(exc: BaseException) -> bool:
    """An AWS call that failed because the service is down, throttling or unreachable (as
    opposed to a bad request or a bug, which must end in the DLQ after maxReceiveCount)."""
    from botocore.exceptions import ClientError, ConnectionError, HTTPClientError

    if isinstance(exc, (ConnectionError, HTTPClientError)):
        return True  # includes EndpointConnectionError, ReadTimeoutError, ConnectTimeoutError
    if isinstance(exc, ClientError):
        error = exc.response.get("Error") or {}
        status = int((exc.response.get("ResponseMetadata") or {}).get("HTTPStatusCode") or 0)
        return str(error.get("Code")) in _TRANSIENT_CODES or status >= 500
    return False


def discard_staged(body: dict[str, Any]) -> None:
    """Delete a device upload's staged raw health data once its job has ended without writing
    it (seed: raw health data is not persisted; staging lives an hour at most). Best effort:
    the bucket's lifecycle rule is the backstop."""
    key = body.get("stagedKey")
    if not key:
        return
    try:
        client("s3").delete_object(Bucket=env("UPLOAD_BUCKET"), Key=str(key))
    except Exception as exc:
        log(logging.WARNING, "staged upload not deleted", key=key, error=repr(exc)[:200])


def _record_failure(ctx: Context, body: dict[str, Any], received: int, reason: str) -> None:
    final = received >= _max_receives()
    if final:
        discard_staged(body)
        sync_outcome_metric(body, False)
    try:
        ctx.table.update(
            user_pk(body["userId"]),
            f"JOB#{body['jobId']}",
            "SET #s = :s, attempts = :a, #e = :e, updatedAt = :now",
            names={"#s": "status", "#e": "error"},
            values={
                ":s": "FAILED" if final else "RETRYING",
                ":a": received,
                ":e": reason[:300],
                ":now": iso(),
            },
            condition="attribute_exists(PK)",
        )
    except Exception as exc:
        if not is_conditional_failure(exc):
            log(logging.WARNING, "could not record job failure", error=repr(exc)[:200])


def _fail(
    ctx: Context, record: dict[str, Any], body: dict[str, Any], reason: str, permanent: bool
) -> Outcome:
    """A failed job: recorded (``FAILED`` at the last receive), left in the queue with a short
    backoff; SQS's redrive takes it to the DLQ after ``maxReceiveCount`` receives."""
    received = receive_count(record)
    _record_failure(ctx, body, received, reason)
    change_visibility(record, 1 if permanent else backoff_delay(received - 1))
    return Outcome(record["messageId"], "failed", reason)


def _defer_or_fail(
    ctx: Context, record: dict[str, Any], body: dict[str, Any], reason: str, hint_s: float
) -> Outcome:
    """Defer the job, or fail it once its deferral budget (``MAX_DEFERRALS`` re-sends) is
    spent: a permanently throttled job must end in the DLQ, not circle for ever."""
    if deferral_exhausted(body):
        log(
            logging.ERROR,
            "deferral budget spent; the job fails",
            jobId=body.get("jobId"),
            deferrals=body.get("deferrals"),
            reason=reason,
        )
        return _fail(ctx, record, body, exhausted_reason(body, reason), False)
    return _handle_deferral(record, body, reason, hint_s)


def _run_one(ctx: Context, record: dict[str, Any], body: dict[str, Any] | None) -> Outcome:
    """One message of a batch: its outcome, with the job deferred, retried or failed as its
    error says."""
    mid = record["messageId"]
    correlation(str((body or {}).get("correlationId") or (body or {}).get("jobId") or mid))
    if body is None:
        log(logging.ERROR, "poison message", messageId=mid)
        # it will never parse: back in a second, so it reaches the DLQ after maxReceiveCount
        # receives in seconds instead of holding a slot for 5 visibility timeouts (15 min)
        change_visibility(record, 1)
        return Outcome(mid, "failed", "unparseable message")
    try:
        return process(ctx, record, body)
    except Dropped as exc:  # the broken worker: the message is deleted, the job never ends
        return Outcome(mid, "discarded", str(exc))
    except Defer as exc:
        return _defer_or_fail(ctx, record, body, exc.reason, exc.hint_s)
    except RateLimited as exc:
        return _defer_or_fail(ctx, record, body, "provider 429", exc.retry_after_s)
    except ProviderUnreachable as exc:  # DNS, connection refused, no answer: not the job's fault
        return _defer_or_fail(ctx, record, body, str(exc)[:200], 0.0)
    except (Fail, TransientError, PermanentError) as exc:
        permanent = isinstance(exc, PermanentError) or (isinstance(exc, Fail) and exc.permanent)
        reason = exc.reason if isinstance(exc, Fail) else str(exc)
        return _fail(ctx, record, body, reason, permanent)
    except Exception as exc:
        if dependency_unavailable(exc):
            # an AWS dependency (DynamoDB, Secrets Manager, SQS...) is down or throttling: the
            # job is fine, so it is deferred like a rate-limited one (it must not reach the DLQ
            # for an outage shorter than the deferral budget), and comes back in seconds, not
            # after the queue's visibility timeout (180 s)
            reason = f"dependency unavailable: {exc!r}"[:200]
            return _defer_or_fail(ctx, record, body, reason, 0.0)
        log(
            logging.ERROR,
            "job failed",
            jobId=body.get("jobId"),
            error=repr(exc)[:300],
            correlationId=body.get("correlationId"),
        )
        # retried through the queue with a short backoff; the DLQ after maxReceiveCount
        change_visibility(record, backoff_delay(receive_count(record) - 1))
        return Outcome(mid, "failed", repr(exc)[:200])


def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    ctx = Context()
    outcomes: list[Outcome] = []
    parsed: list[tuple[dict[str, Any], dict[str, Any] | None]] = []
    for record in event.get("Records", []):
        try:
            body = json.loads(record.get("body") or "")
            if not isinstance(body, dict) or not {"userId", "jobId"} <= body.keys():
                raise ValueError("not a job")
            if "destinationConnectionId" not in body:
                raise ValueError("no destination")
        except ValueError:
            body = None
        parsed.append((record, body))
    # grouped execution: jobs of the same connection/provider run together; each user's jobs
    # run one after another (the per-source lane and the "covered by" shortcut), and different
    # users' jobs run side by side: a job is mostly waiting on a provider, and ten of them one
    # after another would hold the last job of a batch for ten provider round trips
    parsed.sort(key=lambda rb: _provider_hint(rb[1]) if rb[1] else "")
    groups: dict[str, list[tuple[dict[str, Any], dict[str, Any] | None]]] = {}
    for record, body in parsed:
        owner = str(body.get("userId")) if body else f"poison#{record['messageId']}"
        groups.setdefault(owner, []).append((record, body))

    def run_group(
        group: list[tuple[dict[str, Any], dict[str, Any] | None]],
    ) -> list[Outcome]:
        return [_run_one(ctx, record, body) for record, body in group]

    parallel = max(1, min(len(groups), int(env_float("WORKER_PARALLEL_USERS", 10))))
    if parallel == 1:
        for group in groups.values():
            outcomes += run_group(group)
    else:
        with ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="job") as pool:
            for done in pool.map(run_group, groups.values()):
                outcomes += done
    _finish(ctx, outcomes, {r["messageId"]: b for r, b in parsed if b})
    failures = [
        {"itemIdentifier": o.message_id} for o in outcomes if o.kind in ("failed", "deferred")
    ]
    log(logging.INFO, "batch", outcomes={o.message_id: o.kind for o in outcomes})
    return {"batchItemFailures": failures}


def _finish(ctx: Context, outcomes: list[Outcome], bodies: dict[str, dict[str, Any]]) -> None:
    done = [o for o in outcomes if o.kind == "success"]
    states = [o.state for o in done if o.state is not None]
    if states:
        try:
            ctx.table.batch_write(puts=states)
        except Exception as exc:
            log(logging.ERROR, "sync state not written", error=repr(exc)[:200])
            for o in done:
                if o.state is not None:
                    o.kind = "failed"  # redelivered; the lock lease lets a worker take it over
    entries = []
    for o in outcomes:
        body = bodies.get(o.message_id)
        if body is None:
            continue
        try:
            if o.kind == "success":
                _complete(ctx, o, body)
                entries.append(
                    {
                        "Source": "syncwell.worker",
                        "DetailType": "SyncSucceeded",
                        "EventBusName": env("EVENT_BUS_NAME", "default"),
                        "Detail": json.dumps(
                            {
                                "jobId": body["jobId"],
                                "userId": body["userId"],
                                "dataType": body.get("dataType"),
                                "records": o.records,
                                "correlationId": body.get("correlationId"),
                            }
                        ),
                    }
                )
            elif o.kind == "cancelled":
                ctx.table.update(
                    user_pk(body["userId"]),
                    f"JOB#{body['jobId']}",
                    "SET #s = :c, #e = :e, updatedAt = :now",
                    names={"#s": "status", "#e": "error"},
                    values={":c": "CANCELLED", ":e": o.reason, ":now": iso()},
                    condition="attribute_exists(PK)",
                )
                discard_staged(body)
        except Exception as exc:
            if is_conditional_failure(exc):
                continue  # the user was deleted meanwhile
            log(logging.ERROR, "job completion not written", error=repr(exc)[:200])
            o.kind = "failed"
    for o in outcomes:  # after the cursor was written: the next sync of the lane may start
        body = bodies.get(o.message_id)
        if o.lane and body is not None:
            release_lane(ctx.table, body["userId"], o.lane, body["jobId"])
    events = client("events")
    for start in range(0, len(entries), 10):
        try:
            events.put_events(Entries=entries[start : start + 10])
        except Exception as exc:  # the sync happened; a lost notification is not a lost job
            log(logging.ERROR, "SyncSucceeded not published", error=repr(exc)[:200])


def _complete(ctx: Context, o: Outcome, body: dict[str, Any]) -> None:
    total = int(((o.job or {}).get("progress") or {}).get("totalChunks", 1))
    ctx.table.update(
        user_pk(body["userId"]),
        f"JOB#{body['jobId']}",
        "SET #s = :s, recordsWritten = :n, progress = :p, updatedAt = :now, completedAt = :t",
        names={"#s": "status"},
        values={
            ":s": "SUCCEEDED",
            ":n": o.records,
            ":now": iso(),
            ":t": time.time(),
            ":p": {"totalChunks": total, "processedChunks": total, "failedChunks": 0},
        },
        condition="attribute_exists(PK)",
    )
    if o.lock_key:
        ctx.locks.complete(body["userId"], o.lock_key, OWNER, time.time())
    sync_outcome_metric(body, True)


def sync_outcome_metric(body: dict[str, Any], succeeded: bool) -> None:
    """EMF: ``SyncSuccessRate`` (100 or 0 per finished job: its Average is the rate) and
    ``SyncJobs`` by Outcome, dimensioned by job type only (low cardinality)."""
    kind = str(body.get("type", "sync"))
    metric("SyncSuccessRate", 100.0 if succeeded else 0.0, "Percent", JobType=kind)
    metric("SyncJobs", 1, Outcome="SUCCESS" if succeeded else "FAILURE", JobType=kind)


def stats() -> dict[str, Any]:
    return {
        "credential_cache": {
            "size": len(CREDENTIALS),
            "hits": CREDENTIALS.hits,
            "misses": CREDENTIALS.misses,
        },
        "sync_confidence": dict(CONFIDENCE),
    }
