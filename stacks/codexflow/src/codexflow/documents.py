"""The document store of PRDs and analytics (the seed's DocumentDB collections).

No MongoDB-compatible server can be installed by the project's own setup on this machine (no
Debian, PyPI or npm package ships one without downloading a binary at run time), so the
documents live in DynamoDB behind :class:`DocumentStore`, the repository interface a
DocumentDB implementation would also satisfy. Items sit in the project's partition of
``codexflow-main``:

* PRD: ``PK = PROJECT#<projectId>``, ``SK = PRD#<version:06d>``, the document under ``doc``;
* analytics: ``SK = ANALYTICS#<YYYY-MM-DD>`` (one per day) and ``ANALYTICS#TOTAL``, flat
  counters (``tasksCreated``, ``priority_<p>``, ``assigned_<userId>``) read back as the seed's
  ``{metrics: {...}, teamStats: [...]}`` shape.
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

    def record_task_created(self, event_id: str, detail: dict[str, Any], day: str) -> bool:
        """Count one TaskCreated in the day's and the total analytics documents, once per event
        (a marker item in the same transaction: EventBridge delivers at least once). False if
        the event was already counted."""
        project = str(detail["projectId"])
        pk = f"PROJECT#{project}"
        names = {"#p": f"priority_{detail.get('priority', 'medium')}"}
        values: dict[str, Any] = {":one": 1}
        expression = "ADD tasksCreated :one, #p :one"
        assignee = str(detail.get("assignee") or "").removeprefix("USER#")
        if assignee:
            names["#a"] = f"assigned_{assignee}"
            expression += ", #a :one"
        # the resource's client (table.meta.client) serializes plain Python values itself
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
                    "SK": f"EVENT#analytics#{event_id}",
                    "eventId": event_id,
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

    def analytics(self, project_id: str) -> dict[str, Any]:
        items = store.query(f"PROJECT#{project_id}", "ANALYTICS#", limit=1000)
        total = next((i for i in items if i["SK"] == "ANALYTICS#TOTAL"), None)
        days = [analytics_document(i) for i in items if i["SK"] != "ANALYTICS#TOTAL"]
        return {
            "projectId": project_id,
            "total": analytics_document(total) if total else None,
            "daily": sorted(days, key=lambda d: str(d["date"])),
        }


def analytics_document(item: dict[str, Any]) -> dict[str, Any]:
    """A flat analytics item as the seed's analytics document."""
    item = plain(item)
    by_priority = {
        k.removeprefix("priority_"): v for k, v in item.items() if k.startswith("priority_")
    }
    team = [
        {"userId": k.removeprefix("assigned_"), "tasksAssigned": v}
        for k, v in item.items()
        if k.startswith("assigned_")
    ]
    return {
        "projectId": item.get("projectId"),
        "date": item.get("date"),
        "metrics": {"tasksCreated": item.get("tasksCreated", 0), "byPriority": by_priority},
        "teamStats": sorted(team, key=lambda t: str(t["userId"])),
    }


_store: list[DocumentStore] = []


def documents() -> DocumentStore:
    if not _store:
        _store.append(DynamoDocumentStore())
    return _store[0]
