"""User-level data access shared by the API, the worker and the scheduler."""

from __future__ import annotations

import logging
import math
import time
from datetime import UTC, datetime
from typing import Any

from syncwell import cache, settings
from syncwell.common import client, env, log, metric
from syncwell.murmur3 import shard_of
from syncwell.providers import delete_secret
from syncwell.store import Table, is_conditional_failure, user_pk

__all__ = [
    "delete_connection",
    "delete_user",
    "ensure_profile",
    "iso",
    "load_user_config",
    "next_sync_after",
    "tier_shard_id",
]

TIER_INTERVAL_S = {"PRO": 15 * 60, "FREE": 24 * 3600}


def iso(ts: float | None = None) -> str:
    return datetime.fromtimestamp(time.time() if ts is None else ts, UTC).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )


def tier_shard_id(user_id: str, tier: str) -> str:
    return f"{tier}#{shard_of(user_id, settings.shard_count())}"


def next_sync_after(tier: str, now: float) -> int:
    return int(now + TIER_INTERVAL_S.get(tier, TIER_INTERVAL_S["FREE"]))


def ensure_profile(table: Table, user_id: str, tier: str = "FREE") -> dict[str, Any]:
    """The PROFILE item, created (version 1) when the user has none yet."""
    profile = table.get(user_pk(user_id), "PROFILE")
    if profile is not None:
        return profile
    tier = tier if tier in TIER_INTERVAL_S else "FREE"
    now = time.time()
    item = {
        "PK": user_pk(user_id),
        "SK": "PROFILE",
        "userId": user_id,
        "SubscriptionLevel": tier,
        "CreatedAt": iso(now),
        "version": 1,
        "settings": {},
        "SyncTierShardId": tier_shard_id(user_id, tier),
        "NextSyncTimestamp": next_sync_after(tier, now),
    }
    try:
        table.put(item, condition="attribute_not_exists(PK)")
    except Exception as exc:
        if not is_conditional_failure(exc):
            raise
        return table.get(user_pk(user_id), "PROFILE") or item
    return item


def load_user_config(table: Table, user_id: str) -> dict[str, Any] | None:
    """Connections and sync configs of a user: cache-aside (``config##{userId}``, 15 minutes),
    with a 1-minute negative entry for users that have nothing. Redis down: straight to DynamoDB.

    An entry remembers the table it was read from (``_table``) and counts only for that table:
    after a DR restore repoints the functions at a restored table (AppConfig
    ``resources.tableName``), what was cached from the damaged table is a miss, not 15 minutes
    of "no such connection" for what the restore brought back (scenarios/syncwell-dr.yaml found
    it: 10% of the requests after the cutover were such 404s)."""
    key = f"config##{user_id}"
    try:
        cached = cache.cache_get(key)
    except cache.CacheUnavailable:
        cached = None
    if isinstance(cached, dict) and cached.get("_table", table.name) != table.name:
        cached = None  # read from another table: a restore was cut over since
    metric("CacheHitRate", 100.0 if cached is not None else 0.0, "Percent", Cache="config")
    if cached is cache.NEGATIVE or (isinstance(cached, dict) and cached.get("_none")):
        return None
    if isinstance(cached, dict):
        return {k: v for k, v in cached.items() if not k.startswith("_")}
    pk = user_pk(user_id)
    connections = {i["SK"][5:]: _public_conn(i) for i in table.query(pk, "CONN#", consistent=True)}
    configs = {i["SK"][11:]: _strip(i) for i in table.query(pk, "SYNCCONFIG#", consistent=True)}
    if not connections and not configs:
        cache.cache_set(key, {"_none": True, "_table": table.name}, cache.NEGATIVE_TTL_S)
        return None
    profile = table.get(pk, "PROFILE") or {}
    value = {
        "connections": connections,
        "syncConfigs": configs,
        "settings": profile.get("settings") or {},  # PUT /v1/users/me/settings
    }
    cache.cache_set(key, {**value, "_table": table.name}, cache.CONFIG_TTL_S)
    return value


def invalidate_config(user_id: str) -> None:
    try:
        cache.cache_delete(f"config##{user_id}", f"nosub##{user_id}")
    except cache.CacheUnavailable:
        log(
            logging.WARNING,
            "config cache not invalidated (redis down); entry expires by TTL",
            userId=user_id,
        )


def _strip(item: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in item.items() if k not in ("PK",)}


def _public_conn(item: dict[str, Any]) -> dict[str, Any]:
    return _strip(item)


def _deauthorize(conn: dict[str, Any]) -> None:
    """[C-009]: revoke the grant at the provider before the stored tokens are deleted. Best
    effort: a provider that is down or already forgot the grant does not block the delete
    (the tokens are gone from Secrets Manager either way)."""
    from syncwell.providers import ProviderClient, load_tokens

    try:
        tokens = load_tokens(str(conn["CredentialArn"]))
        ProviderClient(str(conn["provider"])).revoke(tokens.refresh_token or tokens.access_token)
    except Exception as exc:
        log(
            logging.WARNING,
            "provider grant not revoked",
            provider=conn.get("provider"),
            error=repr(exc)[:200],
        )


def delete_connection(table: Table, user_id: str, connection_id: str) -> bool:
    """Revoke and delete a connection and every sync config that depends on it."""
    pk = user_pk(user_id)
    conn = table.get(pk, f"CONN#{connection_id}")
    deletes: list[tuple[str, str]] = []
    for cfg in table.query(pk, "SYNCCONFIG#", consistent=True):
        if (
            cfg["SK"].startswith(f"SYNCCONFIG#{connection_id}##")
            or cfg.get("destinationConnectionId") == connection_id
        ):
            deletes.append((pk, cfg["SK"]))
    for state in table.query(pk, f"SYNCSTATE#{connection_id}##", consistent=True):
        deletes.append((pk, state["SK"]))
    if conn is not None:
        if conn.get("CredentialArn"):
            _deauthorize(conn)
            delete_secret(str(conn["CredentialArn"]))
        deletes.append((pk, f"CONN#{connection_id}"))
    if deletes:
        table.batch_write(deletes=deletes)
    invalidate_config(user_id)
    return conn is not None


def delete_user(table: Table, user_id: str) -> dict[str, int]:
    """Every item, object, secret and cache key of the user (section 3d, DELETE /v1/users/me)."""
    pk = user_pk(user_id)
    counts = {"connections": 0, "objects": 0, "items": 0}
    for conn in list(table.query(pk, "CONN#", consistent=True)):
        delete_connection(table, user_id, conn["SK"][5:])
        counts["connections"] += 1
    s3 = client("s3")
    for bucket_var in ("EXPORT_BUCKET", "UPLOAD_BUCKET"):
        bucket = env(bucket_var)
        if not bucket:
            continue
        for prefix in (f"exports/{user_id}/", f"uploads/{user_id}/"):
            token = None
            while True:
                kwargs: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix}
                if token:
                    kwargs["ContinuationToken"] = token
                answer = s3.list_objects_v2(**kwargs)
                keys = [{"Key": o["Key"]} for o in answer.get("Contents", [])]
                for start in range(0, len(keys), 1000):
                    s3.delete_objects(Bucket=bucket, Delete={"Objects": keys[start : start + 1000]})
                counts["objects"] += len(keys)
                token = answer.get("NextContinuationToken")
                if not token:
                    break
    counts["items"] = table.delete_partition(pk)
    try:
        cache.cache_delete_user(user_id)
    except cache.CacheUnavailable:
        log(
            logging.ERROR,
            "user cache keys not deleted (redis down); they expire within 15 min",
            userId=user_id,
        )
    return counts


def chunks_for(mode: str, date_range: dict[str, str] | None) -> int:
    if mode != "historical" or not date_range:
        return 1
    start = datetime.fromisoformat(date_range["startDate"])
    end = datetime.fromisoformat(date_range["endDate"])
    return max(1, math.ceil(((end - start).days + 1) / 7))
