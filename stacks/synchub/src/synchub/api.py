"""Every route of the Sync Hub HTTP API (payload 2.0), in one function, on Lambda Powertools.

The tenant is the ``custom:tenant_id`` claim the JWT authorizer verified, the user its ``sub``;
nothing in a path, query or body can name another tenant. Every table is partitioned by
``tenant_id`` with the sort key ``resource_id``:

* settings: ``user#<sub>#<key>`` and ``group#<gid>#<key>``, each with a ``version``;
  the public settings under the ``_public`` partition;
* bookmarks: ``user#<sub>#bookmark#<id>`` (url, title, tags);
* groups: ``group#<gid>``; group_members: ``group#<gid>#member#<sub>`` (the role) and its mirror
  ``member#<sub>#group#<gid>`` (the caller's groups);
* sessions: ``user#<sub>#session#<sid>`` (a paired device) and its emoji feedback
  ``...#feedback#<time>#<n>``; pending device-flow grants under ``_device``.

Logs are structured JSON with the correlation id (``x-correlation-id``, set by the gateway),
metrics go out as CloudWatch EMF, traces through X-Ray (Powertools Logger, Metrics, Tracer).
"""

from __future__ import annotations

import base64
import json
import os
from typing import Any, TypeVar
from urllib.parse import parse_qs

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.metrics import MetricUnit
from boto3.dynamodb.conditions import Key
from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from synchub import device, rbac
from synchub.common import (
    DEVICE_TENANT,
    PUBLIC_TENANT,
    ApiError,
    new_id,
    now,
    now_iso,
    plain,
    table_name,
    valid_id,
    valid_key,
    valid_tenant,
)

M = TypeVar("M", bound=BaseModel)

logger = Logger()
tracer = Tracer()
metrics = Metrics()
app = APIGatewayHttpResolver()

_ddb: Any = None
_cognito: Any = None

EMOJIS = frozenset({"👍", "👎", "😀", "🙂", "😐", "🙁", "😡", "🎉", "🐛", "❤️", "🚀", "🤔"})


def table(kind: str) -> Any:
    global _ddb
    if _ddb is None:
        _ddb = boto3.resource("dynamodb")
    return _ddb.Table(table_name(kind))


def cognito() -> Any:
    global _cognito
    if _cognito is None:
        _cognito = boto3.client("cognito-idp")
    return _cognito


# -- request helpers ---------------------------------------------------------------------------


class Caller(BaseModel):
    tenant: str
    sub: str
    username: str
    email: str = ""


def caller() -> Caller:
    ctx = app.current_event.request_context
    claims: dict[str, Any] = {}
    if ctx.authorizer is not None and ctx.authorizer.jwt_claim:
        claims = dict(ctx.authorizer.jwt_claim)
    tenant = claims.get(os.environ.get("TENANT_CLAIM", "custom:tenant_id"))
    sub = claims.get("sub")
    if not valid_tenant(tenant) or not isinstance(sub, str) or not sub:
        raise ApiError(403, "no_tenant", "the token carries no tenant")
    username = str(claims.get("cognito:username") or claims.get("username") or sub)
    tracer.put_annotation("tenant_id", str(tenant))
    logger.append_keys(tenant_id=tenant, user_id=sub)
    return Caller(
        tenant=str(tenant), sub=sub, username=username, email=str(claims.get("email", ""))
    )


def body_json() -> Any:
    raw = app.current_event.body
    if raw is None or raw == "":
        return {}
    if app.current_event.is_base64_encoded:
        raw = base64.b64decode(raw).decode("utf-8", errors="replace")
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):  # RecursionError: nesting too deep to parse
        raise ApiError(400, "invalid_json", "the body is not valid JSON") from None


def parse(model: type[M]) -> M:
    data = body_json()
    if not isinstance(data, dict):
        raise ApiError(400, "invalid_body", "the body must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise ApiError(400, "invalid_body", f"{where}: {first['msg']}") from None


def ok(body: Any, status: int = 200) -> Response[str]:
    return Response(status, content_types.APPLICATION_JSON, json.dumps(plain(body)))


def path_id(value: str, what: str) -> str:
    if not valid_id(value):  # no such resource can exist
        raise ApiError(404, "not_found", f"{what} not found")
    return value


def path_key(value: str) -> str:
    if not valid_key(value):
        raise ApiError(404, "not_found", "setting not found")
    return value


def count(name: str) -> None:
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=1)


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- health and public settings ----------------------------------------------------------------


@app.get("/_health")
def health() -> Response[str]:
    return ok({"status": "ok", "service": "synchub", "stage": os.environ.get("STAGE", "")})


@app.get("/settings/public")
def public_settings() -> Response[str]:
    items = _query("settings", PUBLIC_TENANT, "public#")
    return ok({"items": [_setting_out(i) for i in items]})


# -- settings (the caller's own, versioned) ----------------------------------------------------


class SettingIn(_Body):
    value: Any = Field(...)
    expected_version: int | None = Field(None, ge=0)

    @field_validator("value")
    @classmethod
    def _small(cls, value: Any) -> Any:
        if len(json.dumps(value)) > 32_768:
            raise ValueError("a setting's value must be at most 32 KB of JSON")
        return value


def _setting_out(item: dict[str, Any]) -> dict[str, Any]:
    return {
        "key": item["key"],
        "value": json.loads(item["value"]),
        "version": plain(item["version"]),
        "updated_at": item.get("updated_at"),
        "updated_by": item.get("updated_by"),
    }


def _query(
    kind: str, tenant: str, prefix: str, *, consistent: bool = False
) -> list[dict[str, Any]]:
    args: dict[str, Any] = {
        "KeyConditionExpression": Key("tenant_id").eq(tenant)
        & Key("resource_id").begins_with(prefix),
        "ConsistentRead": consistent,
    }
    out: list[dict[str, Any]] = []
    while True:
        page = table(kind).query(**args)
        out.extend(page.get("Items", []))
        if "LastEvaluatedKey" not in page:
            return out
        args["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _get(kind: str, tenant: str, resource_id: str) -> dict[str, Any] | None:
    got = table(kind).get_item(
        Key={"tenant_id": tenant, "resource_id": resource_id}, ConsistentRead=True
    )
    item = got.get("Item")
    return dict(item) if item else None


def _put_setting(tenant: str, rid: str, key: str, body: SettingIn, by: str) -> dict[str, Any]:
    names = {"#v": "version", "#val": "value"}
    values: dict[str, Any] = {":one": 1, ":zero": 0, ":val": json.dumps(body.value),
                              ":at": now_iso(), ":by": by, ":key": key}  # fmt: skip
    condition = None
    if body.expected_version is not None:
        if body.expected_version == 0:
            condition = "attribute_not_exists(resource_id)"
        else:
            condition = "#v = :expected"
            values[":expected"] = body.expected_version
    args: dict[str, Any] = {
        "Key": {"tenant_id": tenant, "resource_id": rid},
        "UpdateExpression": "SET #v = if_not_exists(#v, :zero) + :one, #val = :val, "
        "updated_at = :at, updated_by = :by, #k = :key",
        "ExpressionAttributeNames": {**names, "#k": "key"},
        "ExpressionAttributeValues": values,
        "ReturnValues": "ALL_NEW",
    }
    if condition:
        args["ConditionExpression"] = condition
    try:
        answer = table("settings").update_item(**args)
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
            raise ApiError(
                409, "version_conflict", f"setting {key} is not at version {body.expected_version}"
            ) from None
        raise
    count("SettingWritten")
    return _setting_out(answer["Attributes"])


def _history(tenant: str, kind: str, rid: str) -> list[dict[str, Any]]:
    items = _query("history", tenant, f"{kind}#{rid}@")
    out = []
    for item in items:
        image = json.loads(item.get("new_image") or "null") or {}
        old = json.loads(item.get("old_image") or "null") or {}
        out.append(
            {
                "event": item["event"],
                "at": item["at"],
                "version": image.get("version", old.get("version")),
                "value": json.loads(image["value"]) if "value" in image else None,
            }
        )
    return out


@app.get("/settings")
def list_settings() -> Response[str]:
    who = caller()
    items = _query("settings", who.tenant, f"user#{who.sub}#")
    return ok({"items": [_setting_out(i) for i in items]})


@app.get("/settings/<key>")
def get_setting(key: str) -> Response[str]:
    who = caller()
    item = _get("settings", who.tenant, f"user#{who.sub}#{path_key(key)}")
    if item is None:
        raise ApiError(404, "not_found", "setting not found")
    return ok({"setting": _setting_out(item)})


@app.put("/settings/<key>")
def put_setting(key: str) -> Response[str]:
    who = caller()
    key = path_key(key)
    setting = _put_setting(who.tenant, f"user#{who.sub}#{key}", key, parse(SettingIn), who.sub)
    return ok({"setting": setting})


@app.delete("/settings/<key>")
def delete_setting(key: str) -> Response[str]:
    who = caller()
    _delete_or_404("settings", who.tenant, f"user#{who.sub}#{path_key(key)}", "setting")
    return ok({"deleted": key})


@app.get("/settings/<key>/history")
def setting_history(key: str) -> Response[str]:
    who = caller()
    return ok({"items": _history(who.tenant, "settings", f"user#{who.sub}#{path_key(key)}")})


def _delete_or_404(kind: str, tenant: str, rid: str, what: str) -> dict[str, Any]:
    try:
        answer = table(kind).delete_item(
            Key={"tenant_id": tenant, "resource_id": rid},
            ConditionExpression="attribute_exists(resource_id)",
            ReturnValues="ALL_OLD",
        )
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
            raise ApiError(404, "not_found", f"{what} not found") from None
        raise
    return dict(answer.get("Attributes") or {})


# -- bookmarks -------------------------------------------------------------------------------


class BookmarkIn(_Body):
    url: str = Field(min_length=1, max_length=2048)
    title: str = Field("", max_length=512)
    tags: list[str] = Field(default_factory=list, max_length=32)

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://", "file://", "vscode://")):
            raise ValueError("url must be http(s)://, file:// or vscode://")
        return value

    @field_validator("tags")
    @classmethod
    def _tags(cls, tags: list[str]) -> list[str]:
        for tag in tags:
            if not tag or len(tag) > 64 or tag.strip() != tag:
                raise ValueError("tags are 1-64 characters without surrounding spaces")
        return sorted(set(tags))


class BookmarkPatch(_Body):
    url: str | None = Field(None, min_length=1, max_length=2048)
    title: str | None = Field(None, max_length=512)
    tags: list[str] | None = Field(None, max_length=32)

    _url = field_validator("url")(BookmarkIn._url.__func__)  # type: ignore[attr-defined]
    _tags = field_validator("tags")(BookmarkIn._tags.__func__)  # type: ignore[attr-defined]


def _bookmark_out(item: dict[str, Any]) -> dict[str, Any]:
    keys = ("bookmark_id", "url", "title", "tags", "created_at", "updated_at")
    return {k: plain(item.get(k)) for k in keys}


@app.get("/bookmarks")
def list_bookmarks() -> Response[str]:
    who = caller()
    tag = app.current_event.get_query_string_value("tag")
    items = [_bookmark_out(i) for i in _query("bookmarks", who.tenant, f"user#{who.sub}#bookmark#")]
    if tag is not None:
        items = [i for i in items if tag in (i["tags"] or [])]
    return ok({"items": items})


@app.post("/bookmarks")
def create_bookmark() -> Response[str]:
    who = caller()
    body = parse(BookmarkIn)
    bid, at = new_id(), now_iso()
    item = {"tenant_id": who.tenant, "resource_id": f"user#{who.sub}#bookmark#{bid}",
            "bookmark_id": bid, "user_id": who.sub, "url": body.url, "title": body.title,
            "tags": body.tags, "created_at": at, "updated_at": at}  # fmt: skip
    table("bookmarks").put_item(Item=item)
    count("BookmarkCreated")
    return ok({"bookmark": _bookmark_out(item)}, 201)


@app.get("/bookmarks/<bid>")
def get_bookmark(bid: str) -> Response[str]:
    who = caller()
    rid = f"user#{who.sub}#bookmark#{path_id(bid, 'bookmark')}"
    item = _get("bookmarks", who.tenant, rid)
    if item is None:
        raise ApiError(404, "not_found", "bookmark not found")
    return ok({"bookmark": _bookmark_out(item)})


@app.patch("/bookmarks/<bid>")
def update_bookmark(bid: str) -> Response[str]:
    who = caller()
    rid = f"user#{who.sub}#bookmark#{path_id(bid, 'bookmark')}"
    patch = parse(BookmarkPatch).model_dump(exclude_none=True)
    sets = ", ".join(f"#{k} = :{k}" for k in patch)
    try:
        answer = table("bookmarks").update_item(
            Key={"tenant_id": who.tenant, "resource_id": rid},
            UpdateExpression="SET updated_at = :at" + (", " + sets if sets else ""),
            ConditionExpression="attribute_exists(resource_id)",
            ExpressionAttributeNames={f"#{k}": k for k in patch} or None,
            ExpressionAttributeValues={":at": now_iso(), **{f":{k}": v for k, v in patch.items()}},
            ReturnValues="ALL_NEW",
        ) if patch else None  # fmt: skip
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
            raise ApiError(404, "not_found", "bookmark not found") from None
        raise
    if answer is None:
        item = _get("bookmarks", who.tenant, rid)
        if item is None:
            raise ApiError(404, "not_found", "bookmark not found")
        return ok({"bookmark": _bookmark_out(item)})
    return ok({"bookmark": _bookmark_out(answer["Attributes"])})


@app.delete("/bookmarks/<bid>")
def delete_bookmark(bid: str) -> Response[str]:
    who = caller()
    _delete_or_404("bookmarks", who.tenant, f"user#{who.sub}#bookmark#{path_id(bid, 'bookmark')}",
                   "bookmark")  # fmt: skip
    count("BookmarkDeleted")
    return ok({"deleted": bid})


# -- groups and their members (RBAC) ---------------------------------------------------------


class GroupIn(_Body):
    name: str = Field(min_length=1, max_length=128)
    description: str = Field("", max_length=1024)


class MemberIn(_Body):
    role: str = "member"

    @field_validator("role")
    @classmethod
    def _role(cls, value: str) -> str:
        if value not in ("admin", "member"):
            raise ValueError("role must be admin or member")
        return value


def _role(tenant: str, gid: str, sub: str) -> str | None:
    """The caller's role in the group, read consistently on every request: a removed member
    is refused at once."""
    item = _get("group_members", tenant, f"group#{gid}#member#{sub}")
    role = item.get("role") if item else None
    return str(role) if role is not None else None


def _group_or_404(who: Caller, gid: str, action: rbac.Action) -> tuple[dict[str, Any], str]:
    gid = path_id(gid, "group")
    role = _role(who.tenant, gid, who.sub)
    group = _get("groups", who.tenant, f"group#{gid}") if role else None
    if role is None or group is None:  # not a member: the group does not exist for the caller
        raise ApiError(404, "not_found", "group not found")
    if not rbac.can(role, action):
        raise ApiError(403, "forbidden", f"a group {role} may not do this")
    return group, role


def _group_out(item: dict[str, Any], role: str | None = None) -> dict[str, Any]:
    out = {k: plain(item.get(k)) for k in ("group_id", "name", "description", "owner_id",
                                           "created_at")}  # fmt: skip
    if role:
        out["role"] = role
    return out


def _transact(writes: list[dict[str, Any]]) -> None:
    """One TransactWriteItems; the resource's client serializes Python values itself."""
    ops = []
    for op in writes:
        if "put" in op:
            ops.append({"Put": {"TableName": table_name(op["kind"]), "Item": op["put"]}})
        else:
            ops.append({"Delete": {"TableName": table_name(op["kind"]), "Key": op["delete"]}})
    table("groups").meta.client.transact_write_items(TransactItems=ops)


def _member_items(tenant: str, gid: str, sub: str, role: str, by: str) -> list[dict[str, Any]]:
    at = now_iso()
    base = {"tenant_id": tenant, "group_id": gid, "user_id": sub, "role": role, "added_by": by,
            "added_at": at}  # fmt: skip
    return [
        {"kind": "group_members", "put": {**base, "resource_id": f"group#{gid}#member#{sub}"}},
        {"kind": "group_members", "put": {**base, "resource_id": f"member#{sub}#group#{gid}"}},
    ]


@app.get("/groups")
def list_groups() -> Response[str]:
    who = caller()
    mine = _query("group_members", who.tenant, f"member#{who.sub}#group#", consistent=True)
    out = []
    for link in mine:
        gid = str(link["group_id"])
        role = _role(who.tenant, gid, who.sub)  # the authoritative record
        group = _get("groups", who.tenant, f"group#{gid}") if role else None
        if group is not None and role is not None:
            out.append(_group_out(group, role))
    return ok({"items": out})


@app.post("/groups")
def create_group() -> Response[str]:
    who = caller()
    body = parse(GroupIn)
    gid = new_id()
    group = {"tenant_id": who.tenant, "resource_id": f"group#{gid}", "group_id": gid,
             "name": body.name, "description": body.description, "owner_id": who.sub,
             "created_at": now_iso()}  # fmt: skip
    _transact([{"kind": "groups", "put": group},
               *_member_items(who.tenant, gid, who.sub, "owner", who.sub)])  # fmt: skip
    count("GroupCreated")
    return ok({"group": _group_out(group, "owner")}, 201)


@app.get("/groups/<gid>")
def get_group(gid: str) -> Response[str]:
    group, role = _group_or_404(caller(), gid, "read")
    return ok({"group": _group_out(group, role)})


@app.delete("/groups/<gid>")
def delete_group(gid: str) -> Response[str]:
    who = caller()
    group, _ = _group_or_404(who, gid, "delete_group")
    gid = str(group["group_id"])
    for member in _query("group_members", who.tenant, f"group#{gid}#member#", consistent=True):
        _transact([
            {"kind": "group_members", "delete": {"tenant_id": who.tenant, "resource_id": member["resource_id"]}},
            {"kind": "group_members", "delete": {"tenant_id": who.tenant, "resource_id": f"member#{member['user_id']}#group#{gid}"}},
        ])  # fmt: skip
    for setting in _query("settings", who.tenant, f"group#{gid}#"):
        table("settings").delete_item(
            Key={"tenant_id": who.tenant, "resource_id": setting["resource_id"]}
        )
    table("groups").delete_item(Key={"tenant_id": who.tenant, "resource_id": f"group#{gid}"})
    return ok({"deleted": gid})


@app.get("/groups/<gid>/members")
def list_members(gid: str) -> Response[str]:
    who = caller()
    group, _ = _group_or_404(who, gid, "read")
    items = _query(
        "group_members", who.tenant, f"group#{group['group_id']}#member#", consistent=True
    )
    keys = ("user_id", "role", "added_at", "added_by")
    return ok({"items": [{k: i.get(k) for k in keys} for i in items]})


def _user_in_tenant(tenant: str, sub: str) -> bool:
    """Is ``sub`` a user of the pool whose tenant is ``tenant``? (a foreign user cannot be added)"""
    if not valid_id(sub.replace("-", "")) or len(sub) > 64:
        return False
    found = (
        cognito()
        .list_users(UserPoolId=os.environ["USER_POOL_ID"], Filter=f'sub = "{sub}"', Limit=1)
        .get("Users", [])
    )
    for user in found:
        attrs = {a["Name"]: a["Value"] for a in user.get("Attributes", [])}
        if (
            attrs.get("sub") == sub
            and attrs.get(os.environ.get("TENANT_CLAIM", "custom:tenant_id")) == tenant
        ):
            return True
    return False


@app.put("/groups/<gid>/members/<uid>")
def put_member(gid: str, uid: str) -> Response[str]:
    who = caller()
    group, role = _group_or_404(who, gid, "read")
    gid = str(group["group_id"])
    body = parse(MemberIn)
    current = _role(who.tenant, gid, uid) if valid_id(uid.replace("-", "")) else None
    if not rbac.may_set_role(role, current, body.role):
        raise ApiError(403, "forbidden", f"a group {role} may not make this member {body.role}")
    if current is None and not _user_in_tenant(who.tenant, uid):
        raise ApiError(404, "not_found", "user not found")
    _transact(_member_items(who.tenant, gid, uid, body.role, who.sub))
    count("MemberChanged")
    return ok({"member": {"user_id": uid, "role": body.role}}, 201 if current is None else 200)


@app.delete("/groups/<gid>/members/<uid>")
def remove_member(gid: str, uid: str) -> Response[str]:
    who = caller()
    group, role = _group_or_404(who, gid, "read")
    gid = str(group["group_id"])
    target = _role(who.tenant, gid, uid) if valid_id(uid.replace("-", "")) else None
    if target is None:
        raise ApiError(404, "not_found", "member not found")
    if not rbac.may_remove(role, who.sub, target, uid):
        raise ApiError(403, "forbidden", f"a group {role} may not remove a {target}")
    _transact([
        {"kind": "group_members", "delete": {"tenant_id": who.tenant, "resource_id": f"group#{gid}#member#{uid}"}},
        {"kind": "group_members", "delete": {"tenant_id": who.tenant, "resource_id": f"member#{uid}#group#{gid}"}},
    ])  # fmt: skip
    count("MemberRemoved")
    return ok({"removed": uid})


@app.get("/groups/<gid>/settings")
def list_group_settings(gid: str) -> Response[str]:
    who = caller()
    group, _ = _group_or_404(who, gid, "read")
    items = _query("settings", who.tenant, f"group#{group['group_id']}#")
    return ok({"items": [_setting_out(i) for i in items]})


@app.get("/groups/<gid>/settings/<key>")
def get_group_setting(gid: str, key: str) -> Response[str]:
    who = caller()
    group, _ = _group_or_404(who, gid, "read")
    item = _get("settings", who.tenant, f"group#{group['group_id']}#{path_key(key)}")
    if item is None:
        raise ApiError(404, "not_found", "setting not found")
    return ok({"setting": _setting_out(item)})


@app.put("/groups/<gid>/settings/<key>")
def put_group_setting(gid: str, key: str) -> Response[str]:
    who = caller()
    group, _ = _group_or_404(who, gid, "write_settings")
    key = path_key(key)
    rid = f"group#{group['group_id']}#{key}"
    return ok({"setting": _put_setting(who.tenant, rid, key, parse(SettingIn), who.sub)})


@app.delete("/groups/<gid>/settings/<key>")
def delete_group_setting(gid: str, key: str) -> Response[str]:
    who = caller()
    group, _ = _group_or_404(who, gid, "write_settings")
    _delete_or_404("settings", who.tenant, f"group#{group['group_id']}#{path_key(key)}", "setting")
    return ok({"deleted": key})


@app.get("/groups/<gid>/settings/<key>/history")
def group_setting_history(gid: str, key: str) -> Response[str]:
    who = caller()
    group, _ = _group_or_404(who, gid, "read")
    rid = f"group#{group['group_id']}#{path_key(key)}"
    return ok({"items": _history(who.tenant, "settings", rid)})


# -- sessions: paired devices and their emoji feedback ------------------------------------------


class SessionIn(_Body):
    device_name: str = Field(min_length=1, max_length=128)
    client: str = Field("vscode", pattern=r"^[a-z0-9-]{1,32}$")


class FeedbackIn(_Body):
    emoji: str
    comment: str = Field("", max_length=1000)

    @field_validator("emoji")
    @classmethod
    def _emoji(cls, value: str) -> str:
        if value not in EMOJIS:
            raise ValueError("emoji must be one of " + " ".join(sorted(EMOJIS)))
        return value


def _session_out(item: dict[str, Any]) -> dict[str, Any]:
    keys = ("session_id", "device_name", "client", "paired_at", "paired_via", "feedback_count")
    return {k: plain(item.get(k)) for k in keys}


def _new_session(who: Caller, name: str, client: str, via: str) -> dict[str, Any]:
    sid = new_id()
    item = {"tenant_id": who.tenant, "resource_id": f"user#{who.sub}#session#{sid}",
            "session_id": sid, "user_id": who.sub, "device_name": name, "client": client,
            "paired_at": now_iso(), "paired_via": via, "feedback_count": 0}  # fmt: skip
    table("sessions").put_item(Item=item)
    count("DevicePaired")
    return item


def _session_or_404(who: Caller, sid: str) -> dict[str, Any]:
    item = _get("sessions", who.tenant, f"user#{who.sub}#session#{path_id(sid, 'session')}")
    if item is None:
        raise ApiError(404, "not_found", "session not found")
    return item


@app.get("/sessions")
def list_sessions() -> Response[str]:
    who = caller()
    items = _query("sessions", who.tenant, f"user#{who.sub}#session#")
    return ok({"items": [_session_out(i) for i in items if "#feedback#" not in i["resource_id"]]})


@app.post("/sessions")
def create_session() -> Response[str]:
    who = caller()
    body = parse(SessionIn)
    return ok(
        {"session": _session_out(_new_session(who, body.device_name, body.client, "manual"))}, 201
    )


@app.get("/sessions/<sid>")
def get_session(sid: str) -> Response[str]:
    who = caller()
    item = _session_or_404(who, sid)
    feedback = _query("sessions", who.tenant, f"{item['resource_id']}#feedback#")
    out = _session_out(item)
    out["feedback"] = [{k: i.get(k) for k in ("emoji", "comment", "at")} for i in feedback]
    return ok({"session": out})


@app.delete("/sessions/<sid>")
def delete_session(sid: str) -> Response[str]:
    who = caller()
    item = _session_or_404(who, sid)
    for fb in _query("sessions", who.tenant, f"{item['resource_id']}#feedback#"):
        table("sessions").delete_item(
            Key={"tenant_id": who.tenant, "resource_id": fb["resource_id"]}
        )
    table("sessions").delete_item(Key={"tenant_id": who.tenant, "resource_id": item["resource_id"]})
    return ok({"deleted": sid})


@app.post("/sessions/<sid>/feedback")
def add_feedback(sid: str) -> Response[str]:
    who = caller()
    item = _session_or_404(who, sid)
    body = parse(FeedbackIn)
    at = now_iso()
    table("sessions").put_item(Item={
        "tenant_id": who.tenant, "resource_id": f"{item['resource_id']}#feedback#{at}#{new_id()}",
        "session_id": item["session_id"], "user_id": who.sub, "emoji": body.emoji,
        "comment": body.comment, "at": at,
    })  # fmt: skip
    table("sessions").update_item(
        Key={"tenant_id": who.tenant, "resource_id": item["resource_id"]},
        UpdateExpression="ADD feedback_count :one",
        ExpressionAttributeValues={":one": 1},
    )
    count("Feedback")
    return ok({"feedback": {"emoji": body.emoji, "comment": body.comment, "at": at}}, 201)


# -- the device flow (RFC 8628) ----------------------------------------------------------------


def _form() -> dict[str, str]:
    """Token requests are form-encoded (RFC 8628 3.4); JSON is accepted too."""
    headers = app.current_event.headers or {}
    kind = (headers.get("content-type") or "").split(";")[0].strip().lower()
    raw = app.current_event.body or ""
    if app.current_event.is_base64_encoded:
        raw = base64.b64decode(raw).decode("utf-8", errors="replace")
    if kind == "application/x-www-form-urlencoded":
        return {k: v[0] for k, v in parse_qs(raw).items()}
    data = body_json()
    if not isinstance(data, dict):
        raise ApiError(400, "invalid_request", "the body must be a form or a JSON object")
    return {str(k): str(v) for k, v in data.items() if isinstance(v, str | int)}


def oauth_error(error: str, description: str, status: int = 400) -> Response[str]:
    return Response(status, content_types.APPLICATION_JSON,
                    json.dumps({"error": error, "error_description": description}),
                    headers={"Cache-Control": "no-store"})  # fmt: skip


@app.post("/auth/device/code")
def device_code() -> Response[str]:
    form = _form()
    if form.get("client_id") != os.environ["DEVICE_CLIENT_ID"]:
        return oauth_error("invalid_client", "unknown client_id", 401)
    ttl = int(os.environ.get("DEVICE_CODE_TTL", "600"))
    interval = int(os.environ.get("DEVICE_POLL_INTERVAL", "5"))
    code, at = device.new_device_code(), now()
    for _ in range(5):  # a user code collision is unlikely; try another
        user_code = device.new_user_code()
        try:
            table("sessions").put_item(
                Item={"tenant_id": DEVICE_TENANT, "resource_id": f"user_code#{user_code}",
                      "code_hash": device.code_hash(code), "expires_at": int(at + ttl)},
                ConditionExpression="attribute_not_exists(resource_id) OR expires_at < :now",
                ExpressionAttributeValues={":now": int(at)},
            )  # fmt: skip
            break
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
    else:
        return oauth_error("temporarily_unavailable", "try again", 503)
    table("sessions").put_item(Item={
        "tenant_id": DEVICE_TENANT, "resource_id": f"code#{device.code_hash(code)}",
        "user_code": user_code, "status": "pending", "client_id": form["client_id"],
        "device_name": form.get("device_name", "VS Code")[:128], "interval": interval,
        "expires_at": int(at + ttl), "created_at": now_iso(),
    })  # fmt: skip
    verify = os.environ.get("WEB_CONSOLE_URL", "").rstrip("/") + "/device"
    count("DeviceCodeIssued")
    return Response(200, content_types.APPLICATION_JSON, json.dumps({
        "device_code": code, "user_code": user_code, "verification_uri": verify,
        "verification_uri_complete": f"{verify}?user_code={user_code}",
        "expires_in": ttl, "interval": interval,
    }), headers={"Cache-Control": "no-store"})  # fmt: skip


def _grant(code_hash: str) -> dict[str, Any] | None:
    return _get("sessions", DEVICE_TENANT, f"code#{code_hash}")


@app.post("/auth/device/token")
def device_token() -> Response[str]:
    form = _form()
    if form.get("grant_type") != device.GRANT_TYPE:
        return oauth_error("unsupported_grant_type", f"grant_type must be {device.GRANT_TYPE}")
    if form.get("client_id") != os.environ["DEVICE_CLIENT_ID"]:
        return oauth_error("invalid_client", "unknown client_id", 401)
    code = form.get("device_code") or ""
    if not code or len(code) > 128:
        return oauth_error("invalid_request", "device_code is required")
    key = device.code_hash(code)
    grant = _grant(key)
    decision = device.poll(grant, now())
    if grant is not None and decision.updates:
        table("sessions").update_item(
            Key={"tenant_id": DEVICE_TENANT, "resource_id": f"code#{key}"},
            UpdateExpression="SET " + ", ".join(f"#{k} = :{k}" for k in decision.updates),
            ExpressionAttributeNames={f"#{k}": k for k in decision.updates},
            ExpressionAttributeValues={f":{k}": _num(v) for k, v in decision.updates.items()},
        )
    if decision.outcome != "issue":
        descriptions = {
            "authorization_pending": "the user has not approved the code yet",
            "slow_down": f"poll at most every {decision.updates.get('interval')} s",
            "access_denied": "the user denied the request",
            "expired_token": "the device code expired: start again",
            "invalid_grant": "unknown or already used device code",
        }
        return oauth_error(decision.outcome, descriptions[decision.outcome])
    assert grant is not None
    # claim the approved grant: only one poll gets tokens
    try:
        table("sessions").update_item(
            Key={"tenant_id": DEVICE_TENANT, "resource_id": f"code#{key}"},
            UpdateExpression="SET #s = :consumed, consumed_at = :now",
            ConditionExpression="#s = :approved",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={
                ":consumed": "consumed",
                ":approved": "approved",
                ":now": _num(now()),
            },
        )
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
            return oauth_error("invalid_grant", "the device code was already used")
        raise
    try:
        tokens = _custom_auth(str(grant["username"]), code)
    except Exception:
        logger.exception("CUSTOM_AUTH sign-in for a device grant failed")
        table("sessions").update_item(  # let the device try again
            Key={"tenant_id": DEVICE_TENANT, "resource_id": f"code#{key}"},
            UpdateExpression="SET #s = :approved",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":approved": "approved"},
        )
        return oauth_error("temporarily_unavailable", "could not issue tokens: poll again", 503)
    count("DeviceTokenIssued")
    return Response(200, content_types.APPLICATION_JSON, json.dumps({
        "access_token": tokens["AccessToken"], "id_token": tokens["IdToken"],
        "refresh_token": tokens.get("RefreshToken"), "token_type": "Bearer",
        "expires_in": tokens.get("ExpiresIn", 3600), "session_id": grant.get("session_id"),
    }), headers={"Cache-Control": "no-store"})  # fmt: skip


def _num(value: Any) -> Any:
    from decimal import Decimal

    return Decimal(str(value)) if isinstance(value, float) else value


def _custom_auth(username: str, code: str) -> dict[str, Any]:
    """The approving user's tokens from the pool: CUSTOM_AUTH whose one challenge is answered
    with the device code (AuthChallengeFunction checks it against the consumed grant)."""
    pool, client = os.environ["USER_POOL_ID"], os.environ["DEVICE_CLIENT_ID"]
    started = cognito().admin_initiate_auth(
        UserPoolId=pool, ClientId=client, AuthFlow="CUSTOM_AUTH",
        AuthParameters={"USERNAME": username},
    )  # fmt: skip
    if "AuthenticationResult" in started:
        return dict(started["AuthenticationResult"])
    answer = cognito().admin_respond_to_auth_challenge(
        UserPoolId=pool, ClientId=client, ChallengeName="CUSTOM_CHALLENGE",
        Session=started["Session"], ChallengeResponses={"USERNAME": username, "ANSWER": code},
    )  # fmt: skip
    return dict(answer["AuthenticationResult"])


class DecisionIn(_Body):
    user_code: str
    approve: bool = True
    device_name: str = Field("VS Code", min_length=1, max_length=128)


@app.post("/auth/device/approve")
def device_approve() -> Response[str]:
    who = caller()
    body = parse(DecisionIn)
    user_code = device.normalize_user_code(body.user_code)
    pointer = _get("sessions", DEVICE_TENANT, f"user_code#{user_code}") if user_code else None
    grant = _grant(str(pointer["code_hash"])) if pointer else None
    problem = device.can_decide(grant, now())
    if problem or grant is None:
        raise ApiError(400, "invalid_user_code", problem or "unknown user code")
    session = _new_session(who, str(grant.get("device_name") or body.device_name), "vscode",
                           "device_flow") if body.approve else None  # fmt: skip
    values: dict[str, Any] = {":new": "approved" if body.approve else "denied", ":pending": "pending",
                              ":user": who.username, ":sub": who.sub, ":tenant": who.tenant,
                              ":sid": session["session_id"] if session else ""}  # fmt: skip
    try:
        table("sessions").update_item(
            Key={"tenant_id": DEVICE_TENANT, "resource_id": grant["resource_id"]},
            UpdateExpression="SET #s = :new, username = :user, approver_sub = :sub, "
            "approver_tenant = :tenant, session_id = :sid",
            ConditionExpression="#s = :pending",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues=values,
        )
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
            raise ApiError(400, "invalid_user_code", "the code was already used") from None
        raise
    count("DeviceApproved" if body.approve else "DeviceDenied")
    return ok({"status": "approved" if body.approve else "denied",
               "session": _session_out(session) if session else None})  # fmt: skip


# -- errors ------------------------------------------------------------------------------------


@app.exception_handler(ApiError)  # type: ignore[untyped-decorator]
def _api_error(exc: ApiError) -> Response[str]:
    if exc.status >= 500:
        logger.error("request failed", extra={"code": exc.code})
    elif exc.status in (403, 404):
        logger.info("refused", extra={"code": exc.code, "status": exc.status})
    return Response(exc.status, content_types.APPLICATION_JSON,
                    json.dumps({"message": exc.message, "code": exc.code}))  # fmt: skip


@app.exception_handler(Exception)  # type: ignore[untyped-decorator]
def _unexpected(exc: Exception) -> Response[str]:
    """A dependency failed (DynamoDB, Cognito...): a JSON 500, logged with its trace."""
    logger.exception("unexpected error")
    return Response(500, content_types.APPLICATION_JSON,
                    json.dumps({"message": "internal error", "code": "internal"}))  # fmt: skip


@app.not_found
def _not_found(exc: Exception) -> Response[str]:
    return Response(404, content_types.APPLICATION_JSON,
                    json.dumps({"message": "Not Found", "code": "not_found"}))  # fmt: skip


@logger.inject_lambda_context(correlation_id_path='headers."x-correlation-id"', clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    metrics.add_dimension(name="stage", value=os.environ.get("STAGE", "dev"))
    result = app.resolve(event, context)
    status = int(result.get("statusCode", 200))
    metrics.add_metric(name=f"Answered{status // 100}xx", unit=MetricUnit.Count, value=1)
    http = (event.get("requestContext") or {}).get("http") or {}
    logger.info("answered", extra={"method": http.get("method"), "path": http.get("path"),
                                   "status": status})  # fmt: skip
    return result
