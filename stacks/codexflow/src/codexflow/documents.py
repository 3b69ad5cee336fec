"""The document store of PRDs and analytics (the seed's DocumentDB collections).

No MongoDB-compatible server can be installed by the project's own setup on this machine (no
Debian, PyPI or npm package ships one without downloading a binary at run time), so the
documents live in DynamoDB behind :class:`DocumentStore`, the repository interface a
DocumentDB implementation would also satisfy. Items sit in the project's partition of
``codexflow-main``:

* PRD: ``PK = PROJECT#<projectId>``, ``SK = PRD#<version:06d>``, the document under ``doc``;
* analytics: ``SK = ANALYTICS#<YYYY-MM-DD>`` (one per day) and ``ANALYTICS#TOTAL``, flat
  counters (``tasksCreated``, ``priority_<p>``, ``assigned_<userId>`` from ``TaskCreated``;
  ``tasksCompleted``, ``estimateCompleted``, ``hoursCompleted``, ``tasksDeleted``,
  ``completed_<userId>``, ``hours_<userId>`` from the table's stream) read back as the seed's
  ``{metrics: {...}, teamStats: [...]}`` shape, with the seed's derived metrics:

  - ``velocity``: estimated hours of the tasks completed, per day (the daily document: that
    day's; the total: the mean over the days that completed something);
  - ``teamEfficiency``: estimated hours over hours logged on the completed tasks (0.87 = the
    work took 15 % longer than estimated), 2 decimals, ``None`` before any hour is logged;
  - ``teamStats[].tasksCompleted`` / ``hoursLogged``: per assignee.

  The seed names these metrics without defining them; these definitions are ours.
"""

from __future__ import annotations

import uuid
from typing import Any, Protocol

from codexflow import store
from codexflow.common import now_iso, plain

__all__ = ["DocumentStore", "DynamoDocumentStore", "analytics_document", "documents"]


class DocumentStore(Protocol):
    def insert_prd(self, project_id: str, document: dict[str, Any]) -> dict[str, Any]: ...

    def list_prds(self, project_id: str) -> list[dict[str, Any]]: ...

    def record_task_created(self, event_id: str, detail: dict[str, Any], day: str) -> bool: ...

    def record_task_change(self, record_id: str, change: dict[str, Any]) -> bool: ...

    def analytics(self, project_id: str) -> dict[str, Any]: ...


class DynamoDocumentStore:
    """:class:`DocumentStore` on the single table."""

    def insert_prd(self, project_id: str, document: dict[str, Any]) -> dict[str, Any]:
        existing = store.query(f"PROJECT#{project_id}", "PRD#", limit=1000)
        version = 1 + max((int(i["SK"].split("#", 1)[1]) for i in existing), default=0)
        now = now_iso()
        doc = {
            "_id": uuid.uuid4().hex[:24],
            "projectId": project_id,
            "version": version,
            **document,
            "createdAt": now,
            "updatedAt": now,
        }
        item = {"PK": f"PROJECT#{project_id}", "SK": f"PRD#{version:06d}", "doc": doc}
        if not store.put_item(item, new=True):  # a concurrent writer took this version
            return self.insert_prd(project_id, document)
        return doc

    def list_prds(self, project_id: str) -> list[dict[str, Any]]:
        return [dict(i["doc"]) for i in store.query(f"PROJECT#{project_id}", "PRD#", limit=1000)]

    def record_task_change(self, record_id: str, change: dict[str, Any]) -> bool:
        """Add one stream record's change (:func:`codexflow.consumers.task_change`) to the
        day's and the total analytics documents, once per record id (a marker in the same
        transaction). False if it was already counted."""
        from decimal import Decimal

        adds: dict[str, Any] = {}
        user = change.get("assigneeId") or ""
        if change.get("completed"):
            n = int(change["completed"])
            adds["tasksCompleted"] = n
            adds["estimateCompleted"] = Decimal(str(change["estimate"])) * n
            adds["hoursCompleted"] = Decimal(str(change["hours"])) * n
            if user:
                adds[f"completed_{user}"] = n
        if change.get("hoursDelta") and user:
            adds[f"hours_{user}"] = Decimal(str(change["hoursDelta"]))
        if change.get("deleted"):
            adds["tasksDeleted"] = 1
        if not adds:
            return False
        names = {f"#a{i}": k for i, k in enumerate(adds)}
        values = {f":a{i}": v for i, v in enumerate(adds.values())}
        expression = "ADD " + ", ".join(f"#a{i} :a{i}" for i in range(len(adds)))
        return self._counted(
            str(change["projectId"]), f"stream#{record_id}", str(change["day"]),
            expression, names, values,
        )  # fmt: skip

    def _counted(
        self,
        project: str,
        marker_id: str,
        day: str,
        expression: str,
        names: dict[str, str],
        values: dict[str, Any],
    ) -> bool:
        """Apply ``expression`` to the day's and the total analytics items and write the marker
        ``EVENT#analytics#<marker_id>`` in one transaction; False if the marker existed."""
        pk = f"PROJECT#{project}"
        table = store.table()
        updates = [
            {
                "Update": {
                    "TableName": table.name,
                    "Key": {"PK": pk, "SK": f"ANALYTICS#{sk}"},
                    "UpdateExpression": expression + " SET projectId = :pid, #d = :d",
                    "ExpressionAttributeNames": {**names, "#d": "date"},
                    "ExpressionAttributeValues": {**values, ":pid": project, ":d": sk},
                }
            }
            for sk in (day, "TOTAL")
        ]
        marker = {
            "Put": {
                "TableName": table.name,
                "Item": {
                    "PK": pk,
                    "SK": f"EVENT#analytics#{marker_id}",
                    "eventId": marker_id,
                    "at": now_iso(),
                },
                "ConditionExpression": "attribute_not_exists(PK)",
            }
        }
        client = table.meta.client
        try:
            client.transact_write_items(TransactItems=[marker, *updates])
        except client.exceptions.TransactionCanceledException as exc:
            reasons = exc.response.get("CancellationReasons") or []
            if reasons and reasons[0].get("Code") == "ConditionalCheckFailed":
                return False
            raise
        return True

    def record_task_created(self, event_id: str, detail: dict[str, Any], day: str) -> bool:
        """Count one TaskCreated in the day's and the total analytics documents, once per event
        (a marker item in the same transaction: EventBridge delivers at least once). False if
        the event was already counted."""
        project = str(detail["projectId"])
        names = {"#p": f"priority_{detail.get('priority', 'medium')}"}
        values: dict[str, Any] = {":one": 1}
        expression = "ADD tasksCreated :one, #p :one"
        assignee = str(detail.get("assignee") or "").removeprefix("USER#")
        if assignee:
            names["#a"] = f"assigned_{assignee}"
            expression += ", #a :one"
        return self._counted(project, event_id, day, expression, names, values)

    def analytics(self, project_id: str) -> dict[str, Any]:
        items = store.query(f"PROJECT#{project_id}", "ANALYTICS#", limit=1000)
        total = next((i for i in items if i["SK"] == "ANALYTICS#TOTAL"), None)
        days = [analytics_document(i) for i in items if i["SK"] != "ANALYTICS#TOTAL"]
        active = sum(1 for d in days if d["metrics"]["tasksCompleted"])
        return {
            "projectId": project_id,
            "total": analytics_document(total, active) if total else None,
            "daily": sorted(days, key=lambda d: str(d["date"])),
        }


def analytics_document(item: dict[str, Any], active_days: int = 1) -> dict[str, Any]:
    """A flat analytics item as the seed's analytics document (``active_days``: the days that
    completed something, for the total's velocity)."""
    item = plain(item)
    by_priority = {
        k.removeprefix("priority_"): v for k, v in item.items() if k.startswith("priority_")
    }
    users: dict[str, dict[str, Any]] = {}
    for key, value in item.items():
        for prefix, field in (("assigned_", "tasksAssigned"), ("completed_", "tasksCompleted"),
                              ("hours_", "hoursLogged")):  # fmt: skip
            if key.startswith(prefix):
                stats = users.setdefault(key.removeprefix(prefix), {})
                stats[field] = value
    team = [
        {"userId": user, "tasksAssigned": s.get("tasksAssigned", 0),
         "tasksCompleted": s.get("tasksCompleted", 0), "hoursLogged": s.get("hoursLogged", 0)}
        for user, s in users.items()
    ]  # fmt: skip
    estimate = float(item.get("estimateCompleted", 0) or 0)
    hours = float(item.get("hoursCompleted", 0) or 0)
    return {
        "projectId": item.get("projectId"),
        "date": item.get("date"),
        "metrics": {
            "tasksCreated": item.get("tasksCreated", 0),
            "byPriority": by_priority,
            "tasksCompleted": item.get("tasksCompleted", 0),
            "tasksDeleted": item.get("tasksDeleted", 0),
            "velocity": round(estimate / max(1, active_days), 2),
            "teamEfficiency": round(estimate / hours, 2) if hours > 0 else None,
        },
        "teamStats": sorted(team, key=lambda t: str(t["userId"])),
    }


_store: list[DocumentStore] = []


def documents() -> DocumentStore:
    if not _store:
        _store.append(DynamoDocumentStore())
    return _store[0]
