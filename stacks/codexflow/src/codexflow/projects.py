"""Project service: projects, members, PRDs and analytics.

``POST /projects``, ``GET /projects`` (owned and joined), ``GET|PATCH /projects/{projectId}``,
``POST /projects/{projectId}/members``, ``GET|POST /projects/{projectId}/prds``,
``GET /projects/{projectId}/analytics``. Only the owner changes a project or its members (403
for a member); a project the caller cannot see is 404.
"""

from __future__ import annotations

from typing import Any

from codexflow import cache, store
from codexflow.common import ApiError, Request, now_iso, respond, run_api
from codexflow.documents import documents
from codexflow.domain import (
    ensure_profile,
    find_user_by_email,
    load_user,
    member_item,
    new_id,
    project_item,
    project_view,
    user_projects,
    visible_project,
)
from codexflow.models import AddMember, CreatePrd, CreateProject, UpdateProject

__all__ = ["handler"]


def create_project(req: Request) -> dict[str, Any]:
    body = CreateProject.model_validate(req.body())
    ensure_profile(req.caller)
    item = project_item(req.caller, new_id(), body.name, body.description)
    store.put_item(item, new=True)
    view = project_view(item)
    return respond(
        201, view, req.request_id, headers={"Location": f"/projects/{view['projectId']}"}
    )


def list_projects(req: Request) -> dict[str, Any]:
    items = user_projects(req.caller)
    return respond(200, {"items": items, "count": len(items)}, req.request_id)


def get_project(req: Request) -> dict[str, Any]:
    project, how = visible_project(req.caller, req.path.get("projectId", ""))
    return respond(200, project, req.request_id, {"cache": how})


def _owned(req: Request) -> dict[str, Any]:
    project, _ = visible_project(req.caller, req.path.get("projectId", ""))
    if project.get("ownerId") != req.caller.user_id:
        raise ApiError(403, "FORBIDDEN", "only the project's owner can do this")
    return project


def update_project(req: Request) -> dict[str, Any]:
    body = UpdateProject.model_validate(req.body())
    project = _owned(req)
    changes = {k: v for k, v in body.model_dump(exclude_unset=True).items() if v is not None}
    changes["updatedAt"] = now_iso()
    names = {f"#f{i}": k for i, k in enumerate(changes)}
    values = {f":v{i}": v for i, v in enumerate(changes.values())}
    answer = store.table().update_item(
        Key={"PK": f"PROJECT#{project['projectId']}", "SK": "METADATA"},
        UpdateExpression="SET " + ", ".join(f"#f{i} = :v{i}" for i in range(len(changes))),
        ExpressionAttributeNames=names,
        ExpressionAttributeValues=values,
        ConditionExpression="attribute_exists(PK)",
        ReturnValues="ALL_NEW",
    )
    # write-path invalidation: the next read refills project:<id> from DynamoDB
    invalidated = cache.invalidate(cache.project_key(str(project["projectId"])))
    return respond(
        200, project_view(answer["Attributes"]), req.request_id, {"cacheInvalidated": invalidated}
    )


def add_member(req: Request) -> dict[str, Any]:
    body = AddMember.model_validate(req.body())
    project = _owned(req)
    if body.email is not None:
        user = find_user_by_email(body.email)
    else:
        user, _ = load_user(str(body.userId))
    if user is None or user.get("tenantId") != req.caller.tenant_id:
        raise ApiError(404, "NOT_FOUND", "user not found")
    user_id = str(user["userId"])
    if user_id == project.get("ownerId"):
        raise ApiError(409, "CONFLICT", "the owner is already in the project")
    pid = str(project["projectId"])
    client = store.table().meta.client
    try:
        store.table().update_item(
            Key={"PK": f"PROJECT#{pid}", "SK": "METADATA"},
            UpdateExpression="SET members = list_append(if_not_exists(members, :empty), :new), "
            "updatedAt = :now",
            ConditionExpression="attribute_exists(PK) AND NOT contains(members, :uid)",
            ExpressionAttributeValues={
                ":empty": [],
                ":new": [user_id],
                ":uid": user_id,
                ":now": now_iso(),
            },
        )
    except client.exceptions.ConditionalCheckFailedException:
        raise ApiError(409, "CONFLICT", "already a member") from None
    member = member_item(pid, user_id, body.role, req.caller.user_id)
    store.put_item(member)
    cache.invalidate(cache.project_key(pid), cache.tasks_key(user_id))
    out = {k: v for k, v in member.items() if not k.startswith(("PK", "SK", "GSI"))}
    return respond(201, out, req.request_id)


def create_prd(req: Request) -> dict[str, Any]:
    body = CreatePrd.model_validate(req.body())
    project, _ = visible_project(req.caller, req.path.get("projectId", ""))
    doc = documents().insert_prd(
        str(project["projectId"]),
        {**body.model_dump(mode="json"), "createdBy": f"USER#{req.caller.user_id}"},
    )
    return respond(201, doc, req.request_id)


def list_prds(req: Request) -> dict[str, Any]:
    project, _ = visible_project(req.caller, req.path.get("projectId", ""))
    docs = documents().list_prds(str(project["projectId"]))
    return respond(200, {"items": docs, "count": len(docs)}, req.request_id)


def analytics(req: Request) -> dict[str, Any]:
    project, _ = visible_project(req.caller, req.path.get("projectId", ""))
    return respond(200, documents().analytics(str(project["projectId"])), req.request_id)


ROUTES = {
    ("POST", "/projects"): create_project,
    ("GET", "/projects"): list_projects,
    ("GET", "/projects/{projectId}"): get_project,
    ("PATCH", "/projects/{projectId}"): update_project,
    ("POST", "/projects/{projectId}/members"): add_member,
    ("POST", "/projects/{projectId}/prds"): create_prd,
    ("GET", "/projects/{projectId}/prds"): list_prds,
    ("GET", "/projects/{projectId}/analytics"): analytics,
}


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return run_api(event, ROUTES)
