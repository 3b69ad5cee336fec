"""Tiered scheduling (section 3f): a Schedule event ``{"tier": "PRO"|"FREE"}`` (optionally
``"shard": n``) processes the shards of that tier: users whose ``NextSyncTimestamp`` is due are
found on the ``SyncTierShardId-NextSyncTimestamp-gsi`` index (``{tier}#{murmur3_32(userId) % N}``)
and one job per enabled sync config is enqueued. The seed's Step Functions ``Map`` over shards
is a loop here (or one shard per event when ``shard`` is given).
"""

from __future__ import annotations

import time
from typing import Any

from syncwell.common import env_int
from syncwell.jobs import enqueue_jobs, job_for_config
from syncwell.store import Table, is_conditional_failure, user_pk
from syncwell.users import TIER_INTERVAL_S, load_user_config, next_sync_after

__all__ = ["handler"]

INDEX = "SyncTierShardId-NextSyncTimestamp-gsi"


def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    detail = event.get("detail") if isinstance(event.get("detail"), dict) else event
    tier = str(detail.get("tier", "FREE")).upper()
    if tier not in TIER_INTERVAL_S:
        raise ValueError(f"unknown tier {tier!r}")
    total = env_int("SHARD_COUNT", 16)
    shards = [int(detail["shard"])] if "shard" in detail else list(range(total))
    now = time.time()
    table = Table()
    users = jobs = 0
    for shard in shards:
        due = table.query(
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
        messages = []
        for profile in due:
            user_id = str(profile["userId"])
            users += 1
            slot = str(int(profile["NextSyncTimestamp"]))
            config = load_user_config(table, user_id) or {}
            for cfg_key, cfg in sorted((config.get("syncConfigs") or {}).items()):
                if cfg.get("IsEnabled", True):
                    messages.append(job_for_config(user_id, cfg_key, cfg, "schedule", slot))
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
    return {"tier": tier, "shards": len(shards), "users": users, "jobs": jobs}
