"""Tiered scheduling (section 3f): a Schedule event ``{"tier": "PRO"|"FREE"}`` (optionally
``"shard": n``) processes the shards of that tier: users whose ``NextSyncTimestamp`` is due are
found on the ``SyncTierShardId-NextSyncTimestamp-gsi`` index (``{tier}#{murmur3_32(userId) % N}``)
and each gets one message on the pre-flight queue (``POLLING_PREFLIGHT_QUEUE_URL``;
``syncwell.preflight`` starts a job only for the sync configs whose source has new data, and
adapts the user's next sync time); without that queue, one job per enabled sync config. The seed's Step Functions ``Map`` over shards
is a loop here (or one shard per event when ``shard`` is given).
"""

from __future__ import annotations

import time
from typing import Any

from syncwell import settings
from syncwell.common import env
from syncwell.jobs import enqueue_jobs, job_for_config
from syncwell.preflight import preflight_message, send_checks
from syncwell.store import Table, is_conditional_failure, user_pk
from syncwell.users import TIER_INTERVAL_S, load_user_config, next_sync_after

__all__ = ["handler"]

INDEX = "SyncTierShardId-NextSyncTimestamp-gsi"


def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    detail = event.get("detail") if isinstance(event.get("detail"), dict) else event
    tier = str(detail.get("tier", "FREE")).upper()
    if tier not in TIER_INTERVAL_S:
        raise ValueError(f"unknown tier {tier!r}")
    total = settings.shard_count()
    shards = [int(detail["shard"])] if "shard" in detail else list(range(total))
    now = time.time()
    table = Table()
    users = jobs = sent = 0
    preflight_queue = env("POLLING_PREFLIGHT_QUEUE_URL", "")
    for shard in shards:
        due = list(
            table.query(
                f"{tier}#{shard}",
                index=INDEX,
                pk_name="SyncTierShardId",
                extra={
                    "KeyConditionExpression": "#pk = :pk AND NextSyncTimestamp <= :now",
                    "ExpressionAttributeValues": {
                        ":pk": {"S": f"{tier}#{shard}"},
                        ":now": {"N": str(int(now))},
                    },
                },
            )
        )
        messages = []
        checks = []
        for profile in due:
            user_id = str(profile["userId"])
            users += 1
            slot = str(int(profile["NextSyncTimestamp"]))
            config = load_user_config(table, user_id) or {}
            enabled = [
                (cfg_key, cfg)
                for cfg_key, cfg in sorted((config.get("syncConfigs") or {}).items())
                if cfg.get("IsEnabled", True)
            ]
            if preflight_queue:
                if enabled:
                    checks.append(preflight_message(user_id, tier, slot, [k for k, _ in enabled]))
            else:
                messages += [
                    job_for_config(user_id, k, cfg, "schedule", slot) for k, cfg in enabled
                ]
        if checks:
            sent += send_checks(checks, preflight_queue)
        for profile in due:
            user_id, slot = str(profile["userId"]), str(int(profile["NextSyncTimestamp"]))
            try:
                table.update(
                    user_pk(user_id),
                    "PROFILE",
                    "SET NextSyncTimestamp = :n",
                    values={":n": next_sync_after(tier, now), ":old": int(slot)},
                    condition="NextSyncTimestamp = :old",
                )
            except Exception as exc:
                if not is_conditional_failure(exc):
                    raise
        jobs += enqueue_jobs(table, messages)
    return {"tier": tier, "shards": len(shards), "users": users, "jobs": jobs, "checks": sent}
