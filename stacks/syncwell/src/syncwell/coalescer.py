"""Webhook coalescing (section 3, model 4): the ``CoalescingBufferQueue`` (FIFO, 60 s delay)
triggers this function, which sends one job per unique user of the batch to ``HotPathSyncQueue``.

A webhook body names the provider's account (``ownerId``); the sparse index ``ProviderAccount-gsi``
(``{provider}#{ownerId}`` on connection items) maps it to the user and connection. Webhooks for unknown accounts are dropped (logged).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from syncwell.common import log
from syncwell.jobs import enqueue_jobs, job_for_config
from syncwell.store import Table
from syncwell.users import load_user_config

__all__ = ["handler"]

ACCOUNT_INDEX = "ProviderAccount-gsi"


def _provider(record: dict[str, Any], body: dict[str, Any]) -> str:
    attrs = record.get("messageAttributes") or {}
    value = (attrs.get("provider") or {}).get("stringValue") or body.get("provider") or ""
    return str(value).lower()


def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    table = Table()
    users: dict[str, list[str]] = {}  # userId -> message ids (the local Set of the seed)
    connections: dict[str, set[str]] = {}
    for record in event.get("Records", []):
        try:
            body = json.loads(record.get("body") or "{}")
        except ValueError:
            log(
                logging.WARNING,
                "webhook body is not JSON; dropped",
                messageId=record.get("messageId"),
            )
            continue
        owner = str(body.get("ownerId") or body.get("owner_id") or "")
        provider = _provider(record, body)
        if not owner or not provider:
            continue
        link = next(
            iter(
                table.query(
                    f"{provider}#{owner}", index=ACCOUNT_INDEX, pk_name="ProviderAccount", limit=1
                )
            ),
            None,
        )
        if link is None:
            log(logging.INFO, "webhook for an unknown account; dropped", provider=provider)
            continue
        user_id, conn_id = link["PK"][len("USER#") :], link["SK"][len("CONN#") :]
        users.setdefault(user_id, []).append(str(record.get("messageId")))
        connections.setdefault(user_id, set()).add(conn_id)
    messages = []
    for user_id, message_ids in users.items():
        config = load_user_config(table, user_id) or {}
        configs = {
            k: c
            for k, c in (config.get("syncConfigs") or {}).items()
            if c.get("IsEnabled", True) and k.partition("##")[0] in connections[user_id]
        }
        if not configs:
            continue
        cfg_key = sorted(configs)[0]
        messages.append(
            job_for_config(user_id, cfg_key, configs[cfg_key], "webhook", *sorted(message_ids))
        )
    sent = enqueue_jobs(table, messages)
    return {"users": len(users), "jobs": sent}
