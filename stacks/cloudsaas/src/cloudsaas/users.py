"""User management: ``GET /me``, ``PATCH /me/preferences``, ``GET /users``, ``POST /users``
(admin), ``GET /users/{userId}``, ``GET /audit`` (admin).

Users live in PostgreSQL (``users``, with their organisation and role) and in the Cognito pool
(``custom:tenant_id`` = the organisation, the role as a group); profiles and preferences in
DynamoDB. A user of another organisation is 404, as if it did not exist.
"""

from __future__ import annotations

from typing import Any

from cloudsaas import stores
from cloudsaas.common import ApiError, Request, env, respond, run_api
from cloudsaas.db import fetch_all, fetch_one, transaction
from cloudsaas.models import InviteBody, Preferences

__all__ = ["handler"]

USER_FIELDS = (
    'id AS "userId", org_id AS "orgId", username, email, role, status, created_at AS "createdAt"'
)


def me(req: Request) -> dict[str, Any]:
    c = req.caller
    profile = stores.get_profile(c.org_id, c.user_id)
    if profile is None or profile.get("role") != c.role:
        profile = stores.put_profile(c.org_id, c.user_id, c.username, c.email, c.role)
    claims = ((req.event.get("requestContext") or {}).get("authorizer") or {}).get("claims") or {}
    session = str(claims.get("origin_jti") or claims.get("jti") or claims.get("iat") or "token")
    touched = stores.touch_session(c.org_id, c.user_id, session)
    summary = stores.org_summary(c.org_id) or {}
    return respond(200, {**profile, "role": c.role, "organization": summary,
                         "session": {"expiresAt": touched["expiresAt"]}}, req.request_id)  # fmt: skip


def preferences(req: Request) -> dict[str, Any]:
    c = req.caller
    prefs = Preferences.model_validate(req.body())
    if stores.get_profile(c.org_id, c.user_id) is None:
        stores.put_profile(c.org_id, c.user_id, c.username, c.email, c.role)
    updated = stores.update_preferences(c.org_id, c.user_id, prefs.model_dump(exclude_none=True))
    stores.audit(c.org_id, c.user_id, "user.preferences_updated", c.user_id)
    return respond(200, updated, req.request_id)


def list_users(req: Request) -> dict[str, Any]:
    rows = fetch_all(
        f"SELECT {USER_FIELDS} FROM users WHERE org_id = %s ORDER BY username", (req.caller.org_id,)
    )
    return respond(200, {"items": rows, "count": len(rows)}, req.request_id)


def get_user(req: Request) -> dict[str, Any]:
    row = fetch_one(
        f"SELECT {USER_FIELDS} FROM users WHERE id = %s AND org_id = %s",
        (req.path.get("userId", ""), req.caller.org_id),
    )
    if row is None:
        raise ApiError(404, "NOT_FOUND", "user not found")
    return respond(200, row, req.request_id)


def invite(req: Request) -> dict[str, Any]:
    """An admin adds a user to the organisation: Cognito user + group, PostgreSQL, profile."""
    req.caller.require_admin()
    body = InviteBody.model_validate(req.body())
    org = req.caller.org_id
    import boto3

    cognito = boto3.client("cognito-idp")
    pool = env("USER_POOL_ID")
    try:
        created = cognito.admin_create_user(
            UserPoolId=pool,
            Username=body.username,
            UserAttributes=[
                {"Name": "email", "Value": body.email.lower()},
                {"Name": "custom:tenant_id", "Value": org},
            ],
            MessageAction="SUPPRESS",
        )
    except cognito.exceptions.UsernameExistsException:
        raise ApiError(409, "CONFLICT", "that username is taken") from None
    attrs = {a["Name"]: a["Value"] for a in created["User"].get("Attributes", [])}
    user_id = attrs.get("sub") or body.username
    cognito.admin_add_user_to_group(UserPoolId=pool, Username=body.username, GroupName=body.role)
    with transaction() as cur:
        cur.execute(
            "INSERT INTO users (id, org_id, username, email, role) VALUES (%s, %s, %s, %s, %s) "
            "ON CONFLICT (id) DO NOTHING",
            (user_id, org, body.username, body.email.lower(), body.role),
        )
    profile = stores.put_profile(org, user_id, body.username, body.email.lower(), body.role)
    stores.audit(org, req.caller.user_id, "user.invited", user_id, role=body.role)
    return respond(201, {"userId": user_id, **profile}, req.request_id)


def audit_log(req: Request) -> dict[str, Any]:
    req.caller.require_admin()
    items = stores.audit_log(req.caller.org_id)
    return respond(200, {"items": items, "count": len(items)}, req.request_id)


ROUTES = {
    ("GET", "/me"): me,
    ("PATCH", "/me/preferences"): preferences,
    ("GET", "/users"): list_users,
    ("POST", "/users"): invite,
    ("GET", "/users/{userId}"): get_user,
    ("GET", "/audit"): audit_log,
}


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return run_api(event, ROUTES)
