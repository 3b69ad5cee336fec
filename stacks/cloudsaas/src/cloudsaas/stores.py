"""DynamoDB: profiles and preferences, sessions and audit logs (with TTL), webhook ids.

==================  ======================  =================================  ==============
table               PK                      SK                                 TTL
==================  ======================  =================================  ==============
profiles            ``ORG#<org>``           ``USER#<userId>`` / ``ORG``        -
sessions            ``ORG#<org>``           ``SESSION#<userId>#<session>``     24 h
audit               ``ORG#<org>``           ``<time>#<id>``                    365 days
webhook events      ``eventId``             -                                  30 days
==================  ======================  =================================  ==============

``expiresAt`` (epoch seconds) is the TTL attribute of the last three. The profiles table's GSI1
(``GSI1PK = EMAIL#<email>``) finds a user by e-mail; the ``ORG`` item mirrors the organisation's
subscription (plan and status) for fast reads.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

from cloudsaas.common import env, now_iso, plain

__all__ = [
    "AUDIT_TTL_S",
    "SESSION_TTL_S",
    "WEBHOOK_TTL_S",
    "audit",
    "audit_log",
    "claim_webhook",
    "get_profile",
    "list_profiles",
    "put_org_subscription",
    "put_profile",
    "release_webhook",
    "touch_session",
    "update_preferences",
]

SESSION_TTL_S = 24 * 3600
AUDIT_TTL_S = 365 * 24 * 3600
WEBHOOK_TTL_S = 30 * 24 * 3600

_tables: dict[str, Any] = {}


def _table(variable: str) -> Any:
    name = env(variable)
    table = _tables.get(name)
    if table is None:
        import boto3

        table = boto3.resource("dynamodb").Table(name)
        _tables[name] = table
    return table


def put_profile(org: str, user_id: str, username: str, email: str, role: str) -> dict[str, Any]:
    """The user's profile, created if missing; role and e-mail kept in step with PostgreSQL."""
    now = now_iso()
    answer = _table("PROFILES_TABLE").update_item(
        Key={"PK": f"ORG#{org}", "SK": f"USER#{user_id}"},
        UpdateExpression=(
            "SET userId = :u, orgId = :o, username = :n, email = :e, #r = :r, "
            "GSI1PK = :g, GSI1SK = :gs, updatedAt = :t, "
            "preferences = if_not_exists(preferences, :p), createdAt = if_not_exists(createdAt, :t)"
        ),
        ExpressionAttributeNames={"#r": "role"},
        ExpressionAttributeValues={
            ":u": user_id,
            ":o": org,
            ":n": username,
            ":e": email,
            ":r": role,
            ":g": f"EMAIL#{email}",
            ":gs": f"ORG#{org}",
            ":t": now,
            ":p": {
                "language": "en",
                "timezone": "UTC",
                "notifications": {"email": True, "sms": False},
            },
        },
        ReturnValues="ALL_NEW",
    )
    return _public(answer["Attributes"])


def _public(item: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in plain(item).items() if k not in ("PK", "SK", "GSI1PK", "GSI1SK")}


def get_profile(org: str, user_id: str) -> dict[str, Any] | None:
    item = (
        _table("PROFILES_TABLE")
        .get_item(Key={"PK": f"ORG#{org}", "SK": f"USER#{user_id}"}, ConsistentRead=True)
        .get("Item")
    )
    return _public(item) if item else None


def list_profiles(org: str) -> list[dict[str, Any]]:
    from boto3.dynamodb.conditions import Key

    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {
        "KeyConditionExpression": Key("PK").eq(f"ORG#{org}") & Key("SK").begins_with("USER#")
    }
    while True:
        page = _table("PROFILES_TABLE").query(**kwargs)
        items += [_public(i) for i in page.get("Items", [])]
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def update_preferences(org: str, user_id: str, preferences: dict[str, Any]) -> dict[str, Any]:
    answer = _table("PROFILES_TABLE").update_item(
        Key={"PK": f"ORG#{org}", "SK": f"USER#{user_id}"},
        UpdateExpression="SET preferences = :p, updatedAt = :t",
        ConditionExpression="attribute_exists(PK)",
        ExpressionAttributeValues={":p": preferences, ":t": now_iso()},
        ReturnValues="ALL_NEW",
    )
    return _public(answer["Attributes"])


def put_org_subscription(org: str, subscription: dict[str, Any]) -> None:
    """Mirror the organisation's subscription (id, plan, status) on its ``ORG`` item."""
    _table("PROFILES_TABLE").update_item(
        Key={"PK": f"ORG#{org}", "SK": "ORG"},
        UpdateExpression=(
            "SET orgId = :o, subscriptionId = :s, #p = :p, subscriptionStatus = :st, updatedAt = :t"
        ),
        ExpressionAttributeNames={"#p": "plan"},
        ExpressionAttributeValues={
            ":o": org,
            ":s": subscription["id"],
            ":p": subscription["plan"],
            ":st": subscription["status"],
            ":t": now_iso(),
        },
    )


def org_summary(org: str) -> dict[str, Any] | None:
    item = (
        _table("PROFILES_TABLE")
        .get_item(Key={"PK": f"ORG#{org}", "SK": "ORG"}, ConsistentRead=True)
        .get("Item")
    )
    return _public(item) if item else None


def touch_session(org: str, user_id: str, session: str) -> dict[str, Any]:
    """The sign-in session's record, its TTL pushed 24 h ahead."""
    now = int(time.time())
    answer = _table("SESSIONS_TABLE").update_item(
        Key={"PK": f"ORG#{org}", "SK": f"SESSION#{user_id}#{session}"},
        UpdateExpression=(
            "SET userId = :u, lastSeen = :t, expiresAt = :x, startedAt = if_not_exists(startedAt, :t) "
            "ADD requests :one"
        ),
        ExpressionAttributeValues={
            ":u": user_id,
            ":t": now_iso(),
            ":x": now + SESSION_TTL_S,
            ":one": 1,
        },
        ReturnValues="ALL_NEW",
    )
    return _public(answer["Attributes"])


def audit(org: str, actor: str, action: str, target: str = "", **detail: Any) -> None:
    """One audit record of the organisation (kept ``AUDIT_TTL_S``)."""
    _table("AUDIT_TABLE").put_item(
        Item={
            "PK": f"ORG#{org}",
            "SK": f"{now_iso()}#{secrets.token_hex(4)}",
            "orgId": org,
            "actor": actor,
            "action": action,
            "target": target,
            "detail": {k: v for k, v in detail.items() if v is not None},
            "expiresAt": int(time.time()) + AUDIT_TTL_S,
        }
    )


def audit_log(org: str, limit: int = 100) -> list[dict[str, Any]]:
    from boto3.dynamodb.conditions import Key

    page = _table("AUDIT_TABLE").query(
        KeyConditionExpression=Key("PK").eq(f"ORG#{org}"), ScanIndexForward=False, Limit=limit
    )
    return [_public(i) for i in page.get("Items", [])]


def claim_webhook(event_id: str, event_type: str) -> bool:
    """True the first time an event id is seen; False for a redelivery (idempotency)."""
    from botocore.exceptions import ClientError

    try:
        _table("WEBHOOK_EVENTS_TABLE").put_item(
            Item={
                "eventId": event_id,
                "eventType": event_type,
                "receivedAt": now_iso(),
                "expiresAt": int(time.time()) + WEBHOOK_TTL_S,
            },
            ConditionExpression="attribute_not_exists(eventId)",
        )
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
            return False
        raise
    return True


def release_webhook(event_id: str) -> None:
    """Forget an event id whose processing could not be started (PayPal will redeliver it)."""
    _table("WEBHOOK_EVENTS_TABLE").delete_item(Key={"eventId": event_id})
