"""Users, projects and tasks: item shapes (the seed's), access rules and the cached reads.

Access rule: a user sees a project only if it is in the user's workspace (the token's
``custom:tenant_id``) and the user owns it or is a member; a project they cannot see answers
404 (its existence is not revealed), and an action their role does not allow answers 403.
Tasks are reached only through a project the user can see.
"""

from __future__ import annotations

import uuid
from typing import Any

from codexflow import cache, store
from codexflow.common import ApiError, Caller, now_iso, plain

__all__ = [
    "ensure_profile",
    "find_user_by_email",
    "load_project",
    "load_user",
    "project_view",
    "task_view",
    "user_tasks",
    "visible_project",
]


def new_id() -> str:
    return uuid.uuid4().hex


# -- users ---------------------------------------------------------------------------------------


def user_item(caller: Caller) -> dict[str, Any]:
    return {
        "PK": f"USER#{caller.user_id}",
        "SK": "PROFILE",
        "userId": caller.user_id,
        "email": caller.email,
        "name": caller.name,
        "tenantId": caller.tenant_id,
        "GSI1PK": f"EMAIL#{caller.email}",
        "GSI1SK": "USER",
        "createdAt": now_iso(),
    }


def user_view(item: dict[str, Any]) -> dict[str, Any]:
    keep = ("userId", "email", "name", "tenantId", "createdAt")
    return {k: plain(item[k]) for k in keep if k in item}


def load_user(user_id: str) -> tuple[dict[str, Any] | None, str]:
    """User by id (``USER#<id>``/``PROFILE``), cached 1 h as ``user:<id>``."""

    def load() -> dict[str, Any] | None:
        item = store.get_item(f"USER#{user_id}", "PROFILE")
        return user_view(item) if item else None

    value, how = cache.read_through(cache.user_key(user_id), cache.USER_TTL_S, load)
    return value, how


def ensure_profile(caller: Caller) -> dict[str, Any]:
    """The caller's profile, created from the token's claims on first use."""
    found, _ = load_user(caller.user_id)
    if found is not None:
        return found
    item = user_item(caller)
    store.put_item(item, new=True)
    cache.invalidate(cache.user_key(caller.user_id))
    return user_view(store.get_item(item["PK"], "PROFILE") or item)


def find_user_by_email(email: str) -> dict[str, Any] | None:
    """User by email: GSI1 ``EMAIL#<email>``."""
    items = store.query_index("GSI1", f"EMAIL#{email.strip().lower()}", "USER", limit=1)
    return user_view(items[0]) if items else None


# -- projects ------------------------------------------------------------------------------------


def project_view(project: dict[str, Any]) -> dict[str, Any]:
    keep = (
        "projectId",
        "name",
        "description",
        "status",
        "owner",
        "ownerId",
        "tenantId",
        "members",
        "createdAt",
        "updatedAt",
    )
    return {k: plain(project[k]) for k in keep if k in project}


def load_project(project_id: str) -> tuple[dict[str, Any] | None, str]:
    """Project by id (``PROJECT#<id>``/``METADATA``), cached 15 min as ``project:<id>``; the
    cached value carries ``members``, so an access check on a hit costs no DynamoDB call."""

    def load() -> dict[str, Any] | None:
        item = store.get_item(f"PROJECT#{project_id}", "METADATA")
        return project_view(item) if item else None

    return cache.read_through(cache.project_key(project_id), cache.PROJECT_TTL_S, load)


def can_see(caller: Caller, project: dict[str, Any]) -> bool:
    return project.get("tenantId") == caller.tenant_id and (
        project.get("ownerId") == caller.user_id or caller.user_id in (project.get("members") or [])
    )


def visible_project(caller: Caller, project_id: str) -> tuple[dict[str, Any], str]:
    """The project, if the caller may see it; else 404 whether or not it exists."""
    if not project_id or len(project_id) > 64 or not project_id.isalnum():
        raise ApiError(404, "NOT_FOUND", "project not found")
    project, how = load_project(project_id)
    if project is None or not can_see(caller, project):
        raise ApiError(404, "NOT_FOUND", "project not found")
    return project, how


def project_item(caller: Caller, project_id: str, name: str, description: str) -> dict:
    now = now_iso()
    return {
        "PK": f"PROJECT#{project_id}",
        "SK": "METADATA",
        "projectId": project_id,
        "name": name,
        "description": description,
        "status": "active",
        "owner": f"USER#{caller.user_id}",
        "ownerId": caller.user_id,
        "tenantId": caller.tenant_id,
        "members": [],
        "GSI1PK": f"OWNER#{caller.user_id}",
        "GSI1SK": f"PROJECT#{project_id}",
        "createdAt": now,
        "updatedAt": now,
    }


def member_item(project_id: str, user_id: str, role: str, added_by: str) -> dict[str, Any]:
    return {
        "PK": f"PROJECT#{project_id}",
        "SK": f"MEMBER#{user_id}",
        "projectId": project_id,
        "userId": user_id,
        "role": role,
        "addedBy": added_by,
        "GSI2PK": f"MEMBER#{user_id}",
        "GSI2SK": f"PROJECT#{project_id}",
        "createdAt": now_iso(),
    }


def user_projects(caller: Caller) -> list[dict[str, Any]]:
    """Owned (GSI1 ``OWNER#``) and joined (GSI2 ``MEMBER#``) projects of the caller's workspace."""
    owned = store.query_index("GSI1", f"OWNER#{caller.user_id}", "PROJECT#")
    joined = store.query_index("GSI2", f"MEMBER#{caller.user_id}", "PROJECT#")
    ids = [str(i["projectId"]) for i in owned] + [str(i["projectId"]) for i in joined]
    projects = [project_view(p) for p in store.batch_get_projects(ids)]
    mine = [p for p in projects if can_see(caller, p)]
    return sorted(mine, key=lambda p: str(p.get("createdAt", "")), reverse=True)


# -- tasks ---------------------------------------------------------------------------------------


def task_view(task: dict[str, Any]) -> dict[str, Any]:
    keep = (
        "taskId",
        "projectId",
        "title",
        "description",
        "status",
        "priority",
        "assignee",
        "assigneeId",
        "dueDate",
        "estimateHours",
        "hoursLogged",
        "createdBy",
        "createdAt",
        "updatedAt",
    )
    return {k: plain(task[k]) for k in keep if k in task}


def user_tasks(caller: Caller) -> tuple[list[dict[str, Any]], str]:
    """The caller's tasks (GSI1 ``ASSIGNEE#<userId>``), cached 5 min as ``tasks:user:<id>``,
    only those of projects the caller still sees."""

    def load() -> list[dict[str, Any]]:
        items = store.query_index("GSI1", f"ASSIGNEE#{caller.user_id}", "TASK#", limit=500)
        return [task_view(i) for i in items]

    tasks, how = cache.read_through(cache.tasks_key(caller.user_id), cache.TASKS_TTL_S, load)
    visible: list[dict[str, Any]] = []
    seen: dict[str, bool] = {}
    for task in tasks or []:
        pid = str(task.get("projectId"))
        if pid not in seen:
            project, _ = load_project(pid)
            seen[pid] = project is not None and can_see(caller, project)
        if seen[pid]:
            visible.append(task)
    return visible, how
