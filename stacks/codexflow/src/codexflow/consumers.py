"""EventBridge consumers of ``TaskCreated`` (rule targets on ``codexflow-events``).

* notification: an in-app notification for the assignee, ``PK = USER#<assignee>``,
  ``SK = NOTIFICATION#<createdAt>#<taskId>`` (idempotent: a redelivery writes nothing);
* analytics: per-project metrics in the analytics documents (:mod:`codexflow.documents`),
  counted once per event id.

And the table's DynamoDB stream (``NEW_AND_OLD_IMAGES``; the seed's table has Streams on):
:func:`task_changes` turns task updates and deletions into the analytics the seed's document
holds (``tasksCompleted``, ``velocity``, ``teamEfficiency``, per member ``tasksCompleted`` and
``hoursLogged``), once per stream record.
"""

from __future__ import annotations

import logging
from typing import Any

from codexflow import store
from codexflow.common import log, now_iso
from codexflow.documents import documents

__all__ = ["analytics", "notify", "task_change", "task_changes"]


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


def _image(record: dict[str, Any], which: str) -> dict[str, Any]:
    from boto3.dynamodb.types import TypeDeserializer

    raw = (record.get("dynamodb") or {}).get(which) or {}
    des = TypeDeserializer()
    return {k: des.deserialize(v) for k, v in raw.items()}


def task_change(record: dict[str, Any]) -> dict[str, Any] | None:
    """What one stream record of a task item adds to its project's analytics (None for other
    items and for changes that move no metric):

    * ``completed``: the task's status became ``done`` (1), or left it (-1);
    * ``estimate`` / ``hours``: its estimate and hours logged, counted with a completion;
    * ``hoursDelta``: hours logged added (or removed) by this change, for its assignee;
    * ``deleted``: the task was removed.
    """
    keys = (record.get("dynamodb") or {}).get("Keys") or {}
    if not str((keys.get("SK") or {}).get("S", "")).startswith("TASK#"):
        return None
    old, new = _image(record, "OldImage"), _image(record, "NewImage")
    current = new or old
    if not current.get("projectId"):
        return None
    was_done, is_done = old.get("status") == "done", new.get("status") == "done"
    completed = int(is_done) - int(was_done) if new else 0
    hours_delta = float(new.get("hoursLogged") or 0) - float(old.get("hoursLogged") or 0)
    deleted = record.get("eventName") == "REMOVE"
    if not (completed or hours_delta or deleted):
        return None
    return {
        "projectId": str(current["projectId"]),
        "assigneeId": str(current.get("assigneeId") or ""),
        "day": str(current.get("updatedAt") or now_iso())[:10],
        "completed": completed,
        "estimate": float(current.get("estimateHours") or 0),
        "hours": float(current.get("hoursLogged") or 0),
        "hoursDelta": 0.0 if deleted else hours_delta,
        "deleted": deleted,
    }


def task_changes(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The table's stream: every task record's analytics, once per stream record id. A failure
    raises, so the event source retries the batch (bisecting it); records already counted are
    skipped by their markers."""
    counted = 0
    for record in event.get("Records", []):
        change = task_change(record)
        if change is not None and documents().record_task_change(str(record["eventID"]), change):
            counted += 1
    log(logging.INFO, "task changes", records=len(event.get("Records", [])), counted=counted)
    return {"counted": counted}
