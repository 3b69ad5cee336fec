"""Task service.

``POST|GET /projects/{projectId}/tasks`` (create; a project's tasks: ``begins_with(TASK#)``),
``GET|PATCH|DELETE /projects/{projectId}/tasks/{taskId}`` (task by id; a delete by the project's
owner or the task's creator), ``GET /tasks`` (the caller's tasks, GSI1 ``ASSIGNEE#``),
``GET /tasks/{taskId}`` (task by id alone, GSI2 ``TASK#``).

Write path (the seed's): validate, write to DynamoDB, invalidate ``tasks:user:<assignee>``,
publish ``TaskCreated`` on ``codexflow-events`` (the notification and analytics consumers are
its rule targets).
"""

from __future__ import annotations

from typing import Any

from codexflow import cache, store
from codexflow.common import ApiError, Request, now_iso, respond, run_api
from codexflow.domain import new_id, task_view, user_tasks, visible_project
from codexflow.events import publish
from codexflow.models import CreateTask, UpdateTask

__all__ = ["handler"]


def _assignee(project: dict[str, Any], user_id: str) -> str:
    if user_id != project.get("ownerId") and user_id not in (project.get("members") or []):
        raise ApiError(
            422,
            "VALIDATION_ERROR",
            "the assignee is not a member of the project",
            [{"field": "assigneeId", "message": "not a member"}],
        )
    return user_id


def create_task(req: Request) -> dict[str, Any]:
    body = CreateTask.model_validate(req.body())
    project, _ = visible_project(req.caller, req.path.get("projectId", ""))
    pid = str(project["projectId"])
    assignee = _assignee(project, body.assigneeId or req.caller.user_id)
    task_id = new_id()
    now = now_iso()
    item: dict[str, Any] = {
        "PK": f"PROJECT#{pid}",
        "SK": f"TASK#{task_id}",
        "taskId": task_id,
        "projectId": pid,
        "tenantId": req.caller.tenant_id,
        "title": body.title,
        "description": body.description,
        "status": body.status,
        "priority": body.priority,
        "assignee": f"USER#{assignee}",
        "assigneeId": assignee,
        "createdBy": f"USER#{req.caller.user_id}",
        "GSI1PK": f"ASSIGNEE#{assignee}",
        "GSI1SK": f"TASK#{task_id}",
        "GSI2PK": f"TASK#{task_id}",
        "GSI2SK": f"PROJECT#{pid}",
        "createdAt": now,
        "updatedAt": now,
    }
    if body.dueDate is not None:
        item["dueDate"] = body.dueDate.isoformat()
    if body.estimateHours is not None:
        from decimal import Decimal

        item["estimateHours"] = Decimal(str(body.estimateHours))
    store.put_item(item, new=True)
    cache.invalidate(cache.tasks_key(assignee))
    published = publish(
        "TaskCreated",
        {
            "taskId": task_id,
            "projectId": pid,
            "assignee": f"USER#{assignee}",
            "createdBy": f"USER#{req.caller.user_id}",
            "title": body.title,
            "priority": body.priority,
            "tenantId": req.caller.tenant_id,
            "createdAt": now,
        },
    )
    return respond(
        201,
        task_view(item),
        req.request_id,
        {"eventPublished": published},
        headers={"Location": f"/projects/{pid}/tasks/{task_id}"},
    )


def project_tasks(req: Request) -> dict[str, Any]:
    project, _ = visible_project(req.caller, req.path.get("projectId", ""))
    items = store.query(f"PROJECT#{project['projectId']}", "TASK#", limit=1000)
    tasks = [task_view(i) for i in items]
    return respond(200, {"items": tasks, "count": len(tasks)}, req.request_id)


def _task(req: Request) -> tuple[dict[str, Any], dict[str, Any]]:
    project, _ = visible_project(req.caller, req.path.get("projectId", ""))
    task_id = req.path.get("taskId", "")
    item = (
        store.get_item(f"PROJECT#{project['projectId']}", f"TASK#{task_id}")
        if (task_id.isalnum() and len(task_id) <= 64)
        else None
    )
    if item is None:
        raise ApiError(404, "NOT_FOUND", "task not found")
    return project, item


def get_task(req: Request) -> dict[str, Any]:
    _, item = _task(req)
    return respond(200, task_view(item), req.request_id)


def update_task(req: Request) -> dict[str, Any]:
    body = UpdateTask.model_validate(req.body())
    project, item = _task(req)
    from decimal import Decimal

    changes: dict[str, Any] = {
        k: Decimal(str(v)) if isinstance(v, float) else v  # DynamoDB numbers are Decimals
        for k, v in body.model_dump(mode="json", exclude_unset=True).items()
        if v is not None
    }
    old_assignee = str(item.get("assigneeId", ""))
    new_assignee = changes.pop("assigneeId", None)
    if new_assignee is not None:
        _assignee(project, str(new_assignee))
        changes.update(
            {
                "assigneeId": new_assignee,
                "assignee": f"USER#{new_assignee}",
                "GSI1PK": f"ASSIGNEE#{new_assignee}",
            }
        )
    changes["updatedAt"] = now_iso()
    names = {f"#f{i}": k for i, k in enumerate(changes)}
    values = {f":v{i}": v for i, v in enumerate(changes.values())}
    answer = store.table().update_item(
        Key={"PK": item["PK"], "SK": item["SK"]},
        UpdateExpression="SET " + ", ".join(f"#f{i} = :v{i}" for i in range(len(changes))),
        ExpressionAttributeNames=names,
        ExpressionAttributeValues=values,
        ConditionExpression="attribute_exists(PK)",
        ReturnValues="ALL_NEW",
    )
    keys = {cache.tasks_key(old_assignee)} if old_assignee else set()
    if new_assignee:
        keys.add(cache.tasks_key(str(new_assignee)))
    invalidated = cache.invalidate(*sorted(keys))
    return respond(
        200, task_view(answer["Attributes"]), req.request_id, {"cacheInvalidated": invalidated}
    )


def delete_task(req: Request) -> dict[str, Any]:
    """The seed's ``delete-task``: the project's owner or the task's creator may delete it
    (another member gets 403, anyone else 404); the assignee's cached task list is invalidated.
    The table's stream carries the removal to the analytics (``tasksDeleted``)."""
    project, item = _task(req)
    caller = req.caller.user_id
    if caller != project.get("ownerId") and item.get("createdBy") != f"USER#{caller}":
        raise ApiError(403, "FORBIDDEN", "only the project's owner or the task's creator")
    try:
        store.table().delete_item(
            Key={"PK": item["PK"], "SK": item["SK"]}, ConditionExpression="attribute_exists(PK)"
        )
    except Exception as exc:
        if getattr(exc, "response", {}).get("Error", {}).get("Code") == (
            "ConditionalCheckFailedException"
        ):  # deleted in between: the same answer as a task that was never there
            raise ApiError(404, "NOT_FOUND", "task not found") from None
        raise
    assignee = str(item.get("assigneeId", ""))
    invalidated = cache.invalidate(cache.tasks_key(assignee)) if assignee else True
    return respond(
        200,
        {"taskId": item["taskId"], "projectId": item["projectId"], "deleted": True},
        req.request_id,
        {"cacheInvalidated": invalidated},
    )


def my_tasks(req: Request) -> dict[str, Any]:
    tasks, how = user_tasks(req.caller)
    return respond(200, {"items": tasks, "count": len(tasks)}, req.request_id, {"cache": how})


def task_by_id(req: Request) -> dict[str, Any]:
    task_id = req.path.get("taskId", "")
    if not task_id.isalnum() or len(task_id) > 64:
        raise ApiError(404, "NOT_FOUND", "task not found")
    found = store.query_index("GSI2", f"TASK#{task_id}", "PROJECT#", limit=1)
    if not found:
        raise ApiError(404, "NOT_FOUND", "task not found")
    try:
        visible_project(req.caller, str(found[0]["projectId"]))
    except ApiError:
        raise ApiError(404, "NOT_FOUND", "task not found") from None
    return respond(200, task_view(found[0]), req.request_id)


ROUTES = {
    ("POST", "/projects/{projectId}/tasks"): create_task,
    ("GET", "/projects/{projectId}/tasks"): project_tasks,
    ("GET", "/projects/{projectId}/tasks/{taskId}"): get_task,
    ("PATCH", "/projects/{projectId}/tasks/{taskId}"): update_task,
    ("DELETE", "/projects/{projectId}/tasks/{taskId}"): delete_task,
    ("GET", "/tasks"): my_tasks,
    ("GET", "/tasks/{taskId}"): task_by_id,
}


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return run_api(event, ROUTES)
