"""The polling pre-flight checker (section 3f, "Tiered Polling with Pre-flight Checks").

The tiered scheduler does not start sync jobs for due users directly: it sends one message per
due user to ``PollingPreflightQueue``. This small function (128 MB) makes one cheap call per
enabled sync config, ``hasNewData`` — a metadata listing since the config's cursor with
``limit=1`` — and enqueues a hot-path job only for the configs whose source has something new;
the others cost nothing more (no worker, no DynamoDB writes, no hydration).

**Adaptive scheduling (Tier 1).** The check is the user's "sync velocity" signal: a user with new
data keeps the tier's interval (PRO 15 minutes, FREE 24 hours) and ``IdleStreak = 0``; a user
with none backs off, ``IdleStreak + 1`` and the next sync after ``interval * 2^IdleStreak``, at
most 24 hours, so an inactive PRO user is polled every 30 min, 1 h, 2 h, ... 24 h and picked up
again at the tier's pace as soon as data appears. (The seed's SQS-delay chain would need a
24-hour delay SQS cannot hold (900 s at most); the schedule index already holds the next time,
so the adaptive delay is written there.)

Each check takes a token from the provider's Redis bucket (priority ``low``) like every call to
a third party: an empty bucket, a 429 or Redis down (degraded mode) defers the message with
backoff; a 5xx retries it; after ``maxReceiveCount`` receives the message is in the DLQ. A
revoked connection (401 after a refresh) is marked ``needs_reauth`` and skipped.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from syncwell.common import log
from syncwell.jobs import enqueue_jobs, job_for_config
from syncwell.providers import RateLimited, TransientError
from syncwell.store import user_pk
from syncwell.users import TIER_INTERVAL_S, load_user_config
from syncwell.worker import (
    Context,
    Defer,
    Fail,
    backoff_delay,
    change_visibility,
    dependency_unavailable,
    provider_call,
    receive_count,
    take_tokens,
)

__all__ = ["adaptive_delay_s", "check_user", "handler", "preflight_message", "send_checks"]

MAX_DELAY_S = 24 * 3600


def adaptive_delay_s(tier: str, idle_streak: int) -> int:
    """Seconds to the next poll after ``idle_streak`` checks in a row found nothing new."""
    base = TIER_INTERVAL_S.get(tier, TIER_INTERVAL_S["FREE"])
    return int(min(MAX_DELAY_S, base * 2 ** min(max(idle_streak, 0), 16)))


def preflight_message(user_id: str, tier: str, slot: str, configs: list[str]) -> dict[str, Any]:
    return {"type": "preflight", "userId": user_id, "tier": tier, "slot": slot, "configs": configs}


def _check(ctx: Context, user_id: str, cfg_key: str, config: dict[str, Any]) -> bool:
    """True when the config's source has data after its cursor (one metadata call, limit 1)."""
    src_id, _, data_type = cfg_key.partition("##")
    conn = (config.get("connections") or {}).get(src_id)
    if not conn or conn.get("Status", "active") != "active":
        return False
    take_tokens([str(conn["provider"])], "low")
    state = ctx.table.get(user_pk(user_id), f"SYNCSTATE#{src_id}##{data_type}") or {}
    provider = ctx.provider(str(conn["provider"]))
    return bool(
        provider_call(
            ctx,
            user_id,
            src_id,
            conn,
            lambda token: provider.has_new_data(token, data_type, state.get("cursor")),
        )
    )


def check_user(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    """Check one due user's configs, enqueue jobs for those with new data, adapt the schedule."""
    user_id, tier, slot = str(body["userId"]), str(body.get("tier", "FREE")), str(body["slot"])
    config = load_user_config(ctx.table, user_id) or {}
    configs = config.get("syncConfigs") or {}
    fresh: list[str] = []
    for cfg_key in body.get("configs") or []:
        cfg = configs.get(cfg_key)
        if not cfg or not cfg.get("IsEnabled", True):
            continue
        try:
            if _check(ctx, user_id, cfg_key, config):
                fresh.append(cfg_key)
        except Fail as exc:  # the connection needs re-authentication: nothing to poll
            log(logging.WARNING, "preflight skipped", userId=user_id, reason=exc.reason)
    messages = [job_for_config(user_id, k, configs[k], "schedule", slot) for k in fresh]
    jobs = enqueue_jobs(ctx.table, messages) if messages else 0
    profile = ctx.table.get(user_pk(user_id), "PROFILE") or {}
    streak = 0 if fresh else int(profile.get("IdleStreak", 0)) + 1
    values: dict[str, Any] = {":s": streak}
    update = "SET IdleStreak = :s"
    if streak:
        values[":n"] = int(time.time()) + adaptive_delay_s(tier, streak)
        update += ", NextSyncTimestamp = :n"
    ctx.table.update(
        user_pk(user_id), "PROFILE", update, values=values, condition="attribute_exists(PK)"
    )
    return {"userId": user_id, "checked": len(body.get("configs") or []), "jobs": jobs}


def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    ctx = Context()
    failures: list[dict[str, str]] = []
    for record in event.get("Records", []):
        mid = record["messageId"]
        try:
            body = json.loads(record.get("body") or "")
            if not isinstance(body, dict) or "userId" not in body or "slot" not in body:
                raise ValueError("not a pre-flight message")
        except ValueError:
            log(logging.ERROR, "poison message", messageId=mid)
            change_visibility(record, 1)
            failures.append({"itemIdentifier": mid})
            continue
        try:
            log(logging.INFO, "preflight", **check_user(ctx, body))
        except Defer as exc:
            change_visibility(record, backoff_delay(receive_count(record) - 1, exc.hint_s))
            failures.append({"itemIdentifier": mid})
        except RateLimited as exc:
            change_visibility(record, backoff_delay(receive_count(record) - 1, exc.retry_after_s))
            failures.append({"itemIdentifier": mid})
        except TransientError as exc:
            log(logging.WARNING, "preflight retry", userId=body.get("userId"), error=str(exc))
            change_visibility(record, backoff_delay(receive_count(record) - 1))
            failures.append({"itemIdentifier": mid})
        except Exception as exc:
            if not dependency_unavailable(exc):
                log(logging.ERROR, "preflight failed", error=repr(exc)[:300])
            change_visibility(record, backoff_delay(receive_count(record) - 1))
            failures.append({"itemIdentifier": mid})
    return {"batchItemFailures": failures}


def send_checks(messages: list[dict[str, Any]], queue_url: str) -> int:
    """Send pre-flight messages, 10 per SendMessageBatch; how many were sent."""
    from syncwell.common import client

    sqs = client("sqs")
    sent = 0
    for start in range(0, len(messages), 10):
        chunk = messages[start : start + 10]
        answer = sqs.send_message_batch(
            QueueUrl=queue_url,
            Entries=[
                {"Id": str(i), "MessageBody": json.dumps(m, separators=(",", ":"))}
                for i, m in enumerate(chunk)
            ],
        )
        if answer.get("Failed"):
            raise RuntimeError(f"{len(answer['Failed'])} pre-flight messages not sent")
        sent += len(chunk)
    return sent
