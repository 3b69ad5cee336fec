"""EventBridge consumers of ``TaskCreated`` (rule targets on ``codexflow-events``).

* notification: an in-app notification for the assignee, ``PK = USER#<assignee>``,
  ``SK = NOTIFICATION#<createdAt>#<taskId>`` (idempotent: a redelivery writes nothing);
* analytics: per-project metrics in the analytics documents (:mod:`codexflow.documents`),
  counted once per event id.
"""

from __future__ import annotations

import logging
from typing import Any

from codexflow import store
from codexflow.common import log, now_iso
from codexflow.documents import documents

__all__ = ["analytics", "notify"]


def notify(event: dict[str, Any], context: Any) -> dict[str, Any]:
    detail = dict(event.get("detail") or {})
    assignee = str(detail.get("assignee") or "").removeprefix("USER#")
    if not assignee or not detail.get("taskId"):
        log(logging.WARNING, "TaskCreated without assignee or task", eventId=event.get("id"))
        return {"written": False}
    item = {
        "PK": f"USER#{assignee}",
        "SK": f"NOTIFICATION#{detail.get('createdAt', '')}#{detail['taskId']}",
        "type": "TASK_ASSIGNED",
        "taskId": detail["taskId"],
        "projectId": detail.get("projectId"),
        "title": detail.get("title", ""),
        "message": f'You were assigned "{detail.get("title", "")}"',
        "read": False,
        "eventId": event.get("id"),
        "createdAt": now_iso(),
    }
    written = store.put_item(item, new=True)
    log(logging.INFO, "notification", taskId=detail["taskId"], assignee=assignee, written=written)
    return {"written": written}


def analytics(event: dict[str, Any], context: Any) -> dict[str, Any]:
    detail = dict(event.get("detail") or {})
    if not detail.get("projectId"):
        log(logging.WARNING, "TaskCreated without project", eventId=event.get("id"))
        return {"counted": False}
    day = str(detail.get("createdAt") or event.get("time") or now_iso())[:10]
    event_id = str(event.get("id") or detail.get("taskId"))
    counted = documents().record_task_created(event_id, detail, day)
    log(logging.INFO, "analytics", projectId=detail["projectId"], eventId=event_id, counted=counted)
    return {"counted": counted}
