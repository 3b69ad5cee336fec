"""User service: ``GET /users/me``, ``GET /users/{userId}``, ``GET /users?email=``,
``GET /notifications``."""

from __future__ import annotations

from typing import Any

from codexflow import store
from codexflow.common import ApiError, Request, plain, respond, run_api
from codexflow.domain import ensure_profile, find_user_by_email, load_user

__all__ = ["handler"]


def me(req: Request) -> dict[str, Any]:
    found, how = load_user(req.caller.user_id)
    if found is None:
        found, how = ensure_profile(req.caller), "miss"
    return respond(200, found, req.request_id, {"cache": how})


def get_user(req: Request) -> dict[str, Any]:
    """A profile in the caller's workspace (id, name, email); other workspaces' users: 404."""
    found, how = load_user(req.path.get("userId", ""))
    if found is None or found.get("tenantId") != req.caller.tenant_id:
        raise ApiError(404, "NOT_FOUND", "user not found")
    return respond(200, found, req.request_id, {"cache": how})


def by_email(req: Request) -> dict[str, Any]:
    email = req.query.get("email", "")
    if "@" not in email or len(email) > 254:
        raise ApiError(400, "VALIDATION_ERROR", "query parameter email is required")
    found = find_user_by_email(email)
    if found is None or found.get("tenantId") != req.caller.tenant_id:
        raise ApiError(404, "NOT_FOUND", "user not found")
    return respond(200, found, req.request_id)


def notifications(req: Request) -> dict[str, Any]:
    items = store.query(f"USER#{req.caller.user_id}", "NOTIFICATION#", limit=200)
    out = [{k: v for k, v in plain(i).items() if k not in ("PK", "SK")} for i in items]
    out.reverse()  # newest first
    return respond(200, {"items": out, "count": len(out)}, req.request_id)


ROUTES = {
    ("GET", "/users/me"): me,
    ("GET", "/users/{userId}"): get_user,
    ("GET", "/users"): by_email,
    ("GET", "/notifications"): notifications,
}


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return run_api(event, ROUTES)
