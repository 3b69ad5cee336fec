"""Publishing domain events on the ``codexflow-events`` bus (``EVENT_BUS_NAME``)."""

from __future__ import annotations

import json
import logging
from typing import Any

from codexflow.common import env, log

__all__ = ["publish"]

_clients: dict[str, Any] = {}


def _events() -> Any:
    client = _clients.get("events")
    if client is None:
        import boto3
        from botocore.config import Config

        config = Config(
            retries={"max_attempts": 4, "mode": "standard"}, connect_timeout=2, read_timeout=5
        )
        client = _clients["events"] = boto3.client("events", config=config)
    return client


def publish(detail_type: str, detail: dict[str, Any], source: str = "codexflow.tasks") -> bool:
    """PutEvents one event (SDK retries on throttling/5xx); False when it was not accepted."""
    entry = {
        "Source": source,
        "DetailType": detail_type,
        "Detail": json.dumps(detail, default=str),
        "EventBusName": env("EVENT_BUS_NAME", "codexflow-events"),
    }
    try:
        answer = _events().put_events(Entries=[entry])
    except Exception as exc:
        log(logging.ERROR, "event not published", detailType=detail_type, error=str(exc)[:300])
        return False
    if answer.get("FailedEntryCount"):
        log(logging.ERROR, "event refused", detailType=detail_type, entries=answer.get("Entries"))
        return False
    return True
