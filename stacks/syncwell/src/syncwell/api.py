"""The SyncWell HTTP API (section 3d), behind the dual-issuer Lambda authorizer (payload 2.0;
``syncwell.authorizer``) or a JWT authorizer.

The tenant is the user: every query is keyed by the authorizer's ``userId`` (a JWT authorizer's
``sub`` claim), never by a value from the body or the path (section 6.2). State-changing calls need an ``Idempotency-Key`` (a
UUID; 400 without it) and replay: the same key gives the same job id and does not enqueue twice.
Bad input is always a 4xx with ``{"error": {"code", "message", "field"?}}``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
import uuid
from typing import Any

from syncwell import settings
from syncwell import validation as v
from syncwell.common import client, correlation, env, log
from syncwell.providers import (
    DISPLAY,
    PermanentError,
    ProviderClient,
    ProviderError,
    ProviderTokens,
    create_secret,
    save_tokens,
)
from syncwell.providers import Unauthorized as ProviderUnauthorized
from syncwell.store import Table, is_conditional_failure, user_pk
from syncwell.users import (
    chunks_for,
    delete_connection,
    delete_user,
    ensure_profile,
    invalidate_config,
    iso,
    load_user_config,
)

__all__ = ["handler"]

JOB_TTL_S = 30 * 86400
PRESIGN_TTL_S = 3600
STATE_CHANGING = ("POST", "PUT", "PATCH", "DELETE")


def _response(
    status: int, body: Any = None, headers: dict[str, str] | None = None
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "statusCode": status,
        "headers": {"content-type": "application/json", **(headers or {})},
    }
    if body is not None:
        out["body"] = json.dumps(body, separators=(",", ":"))
    else:
        out["body"] = ""
    return out


def _user_id(event: dict[str, Any]) -> str:
    auth = (event.get("requestContext") or {}).get("authorizer") or {}
    claims = (auth.get("jwt") or {}).get("claims") or auth.get("claims") or {}
    sub = claims.get("sub") or (auth.get("lambda") or {}).get("userId")
    if not isinstance(sub, str) or not sub or len(sub) > 128 or "#" in sub:
        raise v.ApiError(401, "Unauthorized", "no authenticated user")
    return sub


def _tier(event: dict[str, Any]) -> str:
    auth = (event.get("requestContext") or {}).get("authorizer") or {}
    claims = (auth.get("jwt") or {}).get("claims") or auth.get("lambda") or {}
    tier = str(claims.get("custom:tier") or claims.get("tier") or "FREE").upper()
    return tier if tier in ("FREE", "PRO") else "FREE"


_ROUTES: list[tuple[str, re.Pattern[str], str]] = [
    ("GET", re.compile(r"^/v1/connections$"), "list_connections"),
    ("POST", re.compile(r"^/v1/connections$"), "create_connection"),
    ("DELETE", re.compile(r"^/v1/connections/(?P<id>[^/]+)$"), "remove_connection"),
    ("GET", re.compile(r"^/v1/sync-configs$"), "list_sync_configs"),
    ("POST", re.compile(r"^/v1/sync-configs$"), "put_sync_config"),
    ("DELETE", re.compile(r"^/v1/sync-configs/(?P<id>[^/]+)$"), "remove_sync_config"),
    ("POST", re.compile(r"^/v1/sync-jobs$"), "create_sync_job"),
    ("GET", re.compile(r"^/v1/sync-jobs/(?P<id>[^/]+)$"), "get_sync_job"),
    ("GET", re.compile(r"^/v1/users/me/settings$"), "get_settings"),
    ("PUT", re.compile(r"^/v1/users/me/settings$"), "put_settings"),
    ("POST", re.compile(r"^/v1/export-jobs$"), "create_export_job"),
    ("GET", re.compile(r"^/v1/export-jobs/(?P<id>[^/]+)$"), "get_export_job"),
    ("POST", re.compile(r"^/v1/device-upload$"), "device_upload"),
    ("DELETE", re.compile(r"^/v1/users/me$"), "remove_user"),
]


def _route(method: str, path: str) -> tuple[str, dict[str, str]]:
    allowed = False
    for m, pattern, name in _ROUTES:
        match = pattern.match(path)
        if match:
            allowed = True
            if m == method:
                return name, match.groupdict()
    if allowed:
        raise v.ApiError(405, "MethodNotAllowed", f"{method} is not allowed on {path}")
    raise v.ApiError(404, "NotFound", "no such resource")


class Request:
    def __init__(self, event: dict[str, Any]) -> None:
        http = (event.get("requestContext") or {}).get("http") or {}
        self.event = event
        self.method = str(http.get("method") or event.get("httpMethod") or "GET").upper()
        path = str(event.get("rawPath") or http.get("path") or event.get("path") or "/")
        # an HTTP API's named stage is the first segment of rawPath (AWS sends /dev/v1/...)
        stage = str((event.get("requestContext") or {}).get("stage") or "$default")
        if stage != "$default" and path.startswith(f"/{stage}/"):
            path = path[len(stage) + 1 :]
        self.path = path
        self.headers = {str(k).lower(): str(val) for k, val in (event.get("headers") or {}).items()}
        # the edge's correlation id (the gateway generates one when the client sent none), else
        # API Gateway's request id
        self.correlation_id = str(
            self.headers.get("x-correlation-id")
            or (event.get("requestContext") or {}).get("requestId")
            or uuid.uuid4()
        )[:128]
        self.user_id = _user_id(event)
        self.tier = _tier(event)
        self.key: str | None = None

    def body(self, limit: int = v.MAX_BODY_BYTES, required: bool = True) -> Any:
        return v.parse_json_body(v.raw_body(self.event), limit, required)


def _unavailable(retry_after: str) -> dict[str, Any]:
    """503 with the seed's generic user-facing message (AppConfig section, [T-004])."""
    body = {
        "error": {
            "code": "ServiceUnavailable",
            "message": "Something went wrong, please try again later",
        }
    }
    return _response(503, body, {"retry-after": retry_after})


def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    started = time.perf_counter()
    request: Request | None = None
    try:
        request = Request(event)
        correlation(request.correlation_id)
        name, params = _route(request.method, request.path)
        if request.method in STATE_CHANGING:
            request.key = v.validate_idempotency_key(request.headers)
        answer = globals()["_" + name](request, Table(), **params)
    except v.ApiError as exc:
        answer = _response(exc.status, exc.body())
    except settings.ConfigUnavailable:  # logged CRITICAL by settings
        answer = _unavailable("5")
    except Exception as exc:  # a dependency failed: 503, never a stack trace
        log(
            logging.ERROR,
            "request failed",
            error=repr(exc)[:300],
            correlationId=request.correlation_id if request else None,
        )
        answer = _unavailable("1")
    if request is not None:
        answer["headers"]["x-correlation-id"] = request.correlation_id
        log(
            logging.INFO,
            "request",
            method=request.method,
            path=request.path,
            status=answer["statusCode"],
            ms=round((time.perf_counter() - started) * 1000, 2),
            correlationId=request.correlation_id,
        )
    return answer


# -- connections ---------------------------------------------------------------------------------


def _connection_view(conn_id: str, conn: dict[str, Any]) -> dict[str, Any]:
    provider = str(conn.get("provider", ""))
    return {
        "connectionId": conn_id,
        "provider": provider,
        "displayName": conn.get("displayName") or DISPLAY.get(provider, provider.title()),
        "providerIconUrl": f"{env('ASSETS_BASE_URL', 'https://assets.syncwell.example')}/icons/{provider}_icon.png",
        "status": conn.get("Status", "active"),
    }


def _list_connections(req: Request, table: Table) -> dict[str, Any]:
    config = load_user_config(table, req.user_id) or {"connections": {}}
    items = [_connection_view(cid, c) for cid, c in sorted(config["connections"].items())]
    return _response(200, {"connections": items})


def _create_connection(req: Request, table: Table) -> dict[str, Any]:
    spec = v.validate_new_connection(req.body())
    assert req.key is not None
    conn_id = f"conn_{spec['provider']}_{v.deterministic_uuid4(req.user_id, req.key).replace('-', '')[:16]}"
    pk = user_pk(req.user_id)
    existing = table.get(pk, f"CONN#{conn_id}")
    if existing is not None:
        return _response(201, _connection_view(conn_id, existing))
    provider = ProviderClient(spec["provider"])
    try:
        tokens = ProviderTokens.from_oauth(
            provider.exchange_code(spec["authorizationCode"]), time.time()
        )
    except (ProviderUnauthorized, PermanentError):
        raise v.ApiError(
            400, "InvalidAuthorizationCode", "the provider refused the code", "authorizationCode"
        ) from None
    except ProviderError:
        raise v.ApiError(503, "ProviderUnavailable", "the provider did not answer; retry") from None
    ensure_profile(table, req.user_id, req.tier)
    reauthorized = _reauthorize(table, req.user_id, spec["provider"], tokens)
    if reauthorized is not None:
        invalidate_config(req.user_id)
        return _response(200, _connection_view(str(reauthorized["connectionId"]), reauthorized))
    pointer = create_secret(tokens, req.user_id)
    item = {
        "PK": pk,
        "SK": f"CONN#{conn_id}",
        "connectionId": conn_id,
        "provider": spec["provider"],
        "displayName": DISPLAY[spec["provider"]],
        "Status": "active",
        "CredentialArn": pointer,
        "providerUserId": tokens.owner_id,
        "ProviderAccount": f"{spec['provider']}#{tokens.owner_id}" if tokens.owner_id else None,
        "CreatedAt": iso(),
        "version": 1,
    }
    table.put(item)
    invalidate_config(req.user_id)
    return _response(201, _connection_view(conn_id, item))


def _reauthorize(
    table: Table, user_id: str, provider: str, tokens: ProviderTokens
) -> dict[str, Any] | None:
    """Re-authentication (seed: ``ReAuthStatus`` ``pending_user_action`` until the user signs in
    to the provider again): a new authorization for an account the user already has a
    connection to renews that connection — same id, so its sync configs and schedule go on —
    with the new tokens in its secret, ``Status`` active and ``ReAuthStatus`` removed (the sparse
    GSI lists only connections that still need the user). None when there is no such
    connection."""
    if not tokens.owner_id:
        return None
    for item in table.query(user_pk(user_id), "CONN#", consistent=True):
        if item.get("provider") != provider or item.get("providerUserId") != tokens.owner_id:
            continue
        save_tokens(str(item["CredentialArn"]), tokens)
        table.update(
            user_pk(user_id),
            str(item["SK"]),
            "SET #st = :a, version = version + :one, updatedAt = :now REMOVE ReAuthStatus",
            names={"#st": "Status"},
            values={":a": "active", ":one": 1, ":now": iso()},
            condition="attribute_exists(PK)",
        )
        item.update(Status="active")
        item.pop("ReAuthStatus", None)
        return item
    return None


def _remove_connection(req: Request, table: Table, id: str) -> dict[str, Any]:
    if not v.CONNECTION_ID.match(id):
        raise v.ApiError(
            400, "ValidationError", "connectionId must look like conn_<id>", "connectionId"
        )
    pk = user_pk(req.user_id)
    marker = f"DELREQ#{req.key}"
    if delete_connection(table, req.user_id, id):
        # remembered for 24 h so that a retried DELETE (same key) is a 204 as well
        table.put({"PK": pk, "SK": marker, "connectionId": id, "ttl": int(time.time() + 86400)})
        return {"statusCode": 204, "headers": {}, "body": ""}
    replay = table.get(pk, marker)
    if replay is not None and replay.get("connectionId") == id:
        return {"statusCode": 204, "headers": {}, "body": ""}
    raise v.ApiError(404, "NotFound", "no such connection")


# -- sync configs (the mobile client's offline action queue replays these) -----------------------


def _config_view(item: dict[str, Any]) -> dict[str, Any]:
    source, _, data_type = str(item["SK"]).removeprefix("SYNCCONFIG#").partition("##")
    return {
        "syncConfigId": f"{source}:{data_type}",
        "sourceConnectionId": source,
        "destinationConnectionId": item.get("destinationConnectionId"),
        "dataType": data_type,
        "conflictStrategy": item.get("ConflictStrategy", "newest_wins"),
        "isEnabled": bool(item.get("IsEnabled", True)),
        "version": int(item.get("version", 1)),
    }


def _list_sync_configs(req: Request, table: Table) -> dict[str, Any]:
    items = table.query(user_pk(req.user_id), "SYNCCONFIG#", consistent=True)
    return _response(200, {"syncConfigs": [_config_view(i) for i in items]})


def _put_sync_config(req: Request, table: Table) -> dict[str, Any]:
    """Create (no ``version``: 201, 409 if it exists) or change (``version`` = the current one:
    200, 409 if it moved on, 404 if it is gone) the config of one source and data type. Both
    connections must be the caller's own. A retry with the same Idempotency-Key answers what
    the first call answered."""
    spec = v.validate_sync_config(req.body())
    assert req.key is not None
    pk = user_pk(req.user_id)
    marker = f"CFGREQ#{req.key}"
    replay = table.get(pk, marker)
    if replay is not None:
        return _response(int(replay["status"]), json.loads(str(replay["answer"])))
    for field in ("sourceConnectionId", "destinationConnectionId"):
        if table.get(pk, f"CONN#{spec[field]}") is None:
            raise v.ApiError(404, "NotFound", f"no such connection: {spec[field]}", field)
    sk = f"SYNCCONFIG#{spec['sourceConnectionId']}##{spec['dataType']}"
    current = table.get(pk, sk)
    expected = spec["version"]
    if expected is None and current is not None:
        raise v.ApiError(
            409, "VersionConflict",
            f"the sync config exists at version {current.get('version', 1)}", "version",
        )  # fmt: skip
    if expected is not None and current is None:
        raise v.ApiError(404, "NotFound", "no such sync config", "version")
    item = {
        "PK": pk,
        "SK": sk,
        "destinationConnectionId": spec["destinationConnectionId"],
        "ConflictStrategy": spec["conflictStrategy"],
        "IsEnabled": spec["isEnabled"],
        "version": 1 if expected is None else expected + 1,
        "updatedAt": iso(),
    }
    try:
        table.put(
            item,
            condition="attribute_not_exists(PK)" if expected is None else "version = :v",
            values=None if expected is None else {":v": expected},
        )
    except Exception as exc:
        if not is_conditional_failure(exc):
            raise
        raise v.ApiError(
            409, "VersionConflict", "the sync config changed meanwhile", "version"
        ) from None
    ensure_profile(table, req.user_id, req.tier)  # scheduled from now on
    invalidate_config(req.user_id)
    status, answer = (201 if expected is None else 200), _config_view(item)
    table.put(
        {
            "PK": pk,
            "SK": marker,
            "status": status,
            "answer": json.dumps(answer),
            "ttl": int(time.time() + 86400),
        }
    )
    return _response(status, answer)


def _remove_sync_config(req: Request, table: Table, id: str) -> dict[str, Any]:
    match = v.SYNC_CONFIG_ID.match(id)
    if not match:
        raise v.ApiError(
            400,
            "ValidationError",
            "syncConfigId must be <sourceConnectionId>:<dataType>",
            "syncConfigId",
        )
    pk = user_pk(req.user_id)
    marker = f"CFGREQ#{req.key}"
    try:
        table.delete(pk, f"SYNCCONFIG#{match[1]}##{match[2]}", condition="attribute_exists(PK)")
    except Exception as exc:
        if not is_conditional_failure(exc):
            raise
        replay = table.get(pk, marker)
        if replay is not None and replay.get("answer") == id:
            return {"statusCode": 204, "headers": {}, "body": ""}
        raise v.ApiError(404, "NotFound", "no such sync config") from None
    table.put(
        {"PK": pk, "SK": marker, "status": 204, "answer": id, "ttl": int(time.time() + 86400)}
    )
    invalidate_config(req.user_id)
    return {"statusCode": 204, "headers": {}, "body": ""}


# -- sync jobs -----------------------------------------------------------------------------------


def _request_hash(spec: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()


def _send_job(message: dict[str, Any], user_id: str) -> None:
    # historical jobs go to the cold path's orchestrator (syncwell.historical), the rest to the
    # hot path
    historical = message.get("mode") == "historical" and env("HISTORICAL_QUEUE_URL")
    client("sqs").send_message(
        QueueUrl=env("HISTORICAL_QUEUE_URL") if historical else env("HOT_PATH_QUEUE_URL"),
        MessageBody=json.dumps(message, separators=(",", ":")),
        MessageAttributes={"userId": {"DataType": "String", "StringValue": user_id}},
    )


def _accept_job(
    req: Request, table: Table, job_id: str, item: dict[str, Any], message: dict[str, Any]
) -> dict[str, Any]:
    """Record the job (conditional on the id, which the idempotency key determines), enqueue it,
    then mark it ``enqueued``; only then is it accepted (202).

    The record is written first (so a worker never meets a message without its job), with
    ``enqueued: false``: if this invocation dies between the write and the send (its timeout, a
    crash), the client got a 5xx and retries with the same Idempotency-Key, and the retry sends
    the message instead of answering 202 for a job that was never queued. A message sent twice
    is harmless: the worker's idempotency lock answers the second one.
    """
    pk = user_pk(req.user_id)
    try:
        table.put({**item, "enqueued": False}, condition="attribute_not_exists(PK)")
    except Exception as exc:
        if not is_conditional_failure(exc):
            raise
        existing = table.get(pk, item["SK"]) or {}
        if existing.get("requestHash") != item["requestHash"]:
            raise v.ApiError(
                409, "IdempotencyKeyReused", "this Idempotency-Key was used for a different request"
            ) from None
        status = existing.get("status", "QUEUED")
        if status != "REJECTED" and existing.get("enqueued") is not False:
            return _response(202, {"jobId": job_id, "status": status})
        if status == "REJECTED":
            table.update(
                pk,
                item["SK"],
                "SET #s = :q, updatedAt = :now",
                names={"#s": "status"},
                values={":q": "QUEUED", ":now": iso()},
            )
    try:
        _send_job(message, req.user_id)
    except Exception:
        _reject(table, pk, item["SK"])
        raise
    table.update(
        pk,
        item["SK"],
        "SET enqueued = :t",
        values={":t": True},
        condition="attribute_exists(PK)",
    )
    return _response(202, {"jobId": job_id, "status": "QUEUED"})


def _reject(table: Table, pk: str, sk: str) -> None:
    """The send failed: the job is not accepted (unless a worker already ran it meanwhile)."""
    try:
        table.update(
            pk,
            sk,
            "SET #s = :r, updatedAt = :now",
            names={"#s": "status"},
            values={":r": "REJECTED", ":now": iso(), ":q": "QUEUED"},
            condition="#s = :q",
        )
    except Exception as exc:
        if not is_conditional_failure(exc):
            raise


def _job_item(
    req: Request, job_id: str, kind: str, spec: dict[str, Any], chunks: int
) -> dict[str, Any]:
    now = time.time()
    return {
        "PK": user_pk(req.user_id),
        "SK": f"JOB#{job_id}",
        "jobId": job_id,
        "kind": kind,
        "status": "QUEUED",
        "idempotencyKey": req.key,
        "requestHash": _request_hash(spec),
        "createdAt": iso(now),
        "updatedAt": iso(now),
        "acceptedAt": now,
        "attempts": 0,
        "progress": {"totalChunks": chunks, "processedChunks": 0, "failedChunks": 0},
        "ttl": int(now + JOB_TTL_S),
        **{k: val for k, val in spec.items() if k != "data"},
    }


def _create_sync_job(req: Request, table: Table) -> dict[str, Any]:
    spec = v.validate_sync_job(req.body())
    config = load_user_config(table, req.user_id) or {"connections": {}}
    for field in ("sourceConnectionId", "destinationConnectionId"):
        conn = config["connections"].get(spec[field])
        if conn is None:
            raise v.ApiError(404, "ConnectionNotFound", f"no connection {spec[field]}", field)
        if conn.get("Status") != "active":
            raise v.ApiError(
                409,
                "ConnectionNotActive",
                f"connection {spec[field]} is {conn.get('Status')}; re-authenticate",
                field,
            )
    assert req.key is not None
    job_id = "job_" + v.deterministic_uuid4(req.user_id, req.key)
    item = _job_item(req, job_id, "sync", spec, chunks_for(spec["mode"], spec.get("dateRange")))
    message = {
        "type": "sync",
        "jobId": job_id,
        "userId": req.user_id,
        "idempotencyKey": req.key,
        "correlationId": req.correlation_id,
        "enqueuedAt": time.time(),
        **spec,
    }
    return _accept_job(req, table, job_id, item, message)


def _get_sync_job(req: Request, table: Table, id: str) -> dict[str, Any]:
    if not v.JOB_ID.match(id):
        raise v.ApiError(400, "ValidationError", "jobId must be job_<UUIDv4>", "jobId")
    job = table.get(user_pk(req.user_id), f"JOB#{id}", consistent=False)
    if job is None:
        raise v.ApiError(404, "NotFound", "no such job")
    body = {
        "jobId": id,
        "status": job["status"],
        "progress": job.get("progress", {}),
        "mode": job.get("mode"),
        "dataType": job.get("dataType"),
        "createdAt": job.get("createdAt"),
        "updatedAt": job.get("updatedAt"),
    }
    if job.get("recordsWritten") is not None:
        body["recordsWritten"] = job["recordsWritten"]
    if job.get("error"):
        body["error"] = job["error"]
    return _response(200, {k: val for k, val in body.items() if val is not None})


# -- settings ------------------------------------------------------------------------------------


def _get_settings(req: Request, table: Table) -> dict[str, Any]:
    profile = table.get(user_pk(req.user_id), "PROFILE", consistent=False) or {}
    return _response(
        200, {"settings": profile.get("settings", {}), "version": profile.get("version", 0)}
    )


def _put_settings(req: Request, table: Table) -> dict[str, Any]:
    settings, expected = v.validate_settings(req.body())
    pk = user_pk(req.user_id)
    for _attempt in range(4):
        profile = ensure_profile(table, req.user_id, req.tier)
        current = int(profile.get("version", 1))
        if expected is not None and expected != current:
            raise v.ApiError(
                409, "VersionConflict", f"the settings are at version {current}", "version"
            )
        merged = {**profile.get("settings", {}), **settings}
        try:
            table.update(
                pk,
                "PROFILE",
                "SET settings = :s, version = :next, updatedAt = :now",
                values={":s": merged, ":next": current + 1, ":v": current, ":now": iso()},
                condition="version = :v",
            )
        except Exception as exc:
            if not is_conditional_failure(exc):
                raise
            if expected is not None:
                raise v.ApiError(
                    409, "VersionConflict", "the settings changed meanwhile", "version"
                ) from None
            continue
        invalidate_config(req.user_id)
        return _response(200, {"settings": merged, "version": current + 1})
    raise v.ApiError(409, "VersionConflict", "too many concurrent updates; retry", "version")


# -- exports -------------------------------------------------------------------------------------


def _create_export_job(req: Request, table: Table) -> dict[str, Any]:
    spec = v.validate_export_request(req.body(required=False))
    assert req.key is not None
    job_id = "export-job-" + v.deterministic_uuid4(req.user_id, "export", req.key)
    now = time.time()
    item = {
        "PK": user_pk(req.user_id),
        "SK": f"EXPORT#{job_id}",
        "jobId": job_id,
        "status": "PENDING",
        "requestHash": _request_hash(spec),
        "createdAt": iso(now),
        "ttl": int(now + 7 * 86400),
        **spec,
    }
    try:
        table.put(item, condition="attribute_not_exists(PK)")
    except Exception as exc:
        if not is_conditional_failure(exc):
            raise
        existing = table.get(user_pk(req.user_id), item["SK"]) or {}
        return _response(202, {"jobId": job_id, "status": existing.get("status", "PENDING")})
    client("sqs").send_message(
        QueueUrl=env("EXPORT_QUEUE_URL"),
        MessageBody=json.dumps(
            {
                "type": "export",
                "jobId": job_id,
                "userId": req.user_id,
                "correlationId": req.correlation_id,
                **spec,
            }
        ),
    )
    return _response(202, {"jobId": job_id, "status": "PENDING"})


def _get_export_job(req: Request, table: Table, id: str) -> dict[str, Any]:
    if not v.EXPORT_JOB_ID.match(id):
        raise v.ApiError(400, "ValidationError", "jobId must be export-job-<UUIDv4>", "jobId")
    job = table.get(user_pk(req.user_id), f"EXPORT#{id}", consistent=False)
    if job is None:
        raise v.ApiError(404, "NotFound", "no such export job")
    body: dict[str, Any] = {"jobId": id, "status": job["status"]}
    if job["status"] == "SUCCEEDED" and job.get("s3Key"):
        body["downloadUrl"] = client("s3").generate_presigned_url(
            "get_object",
            Params={"Bucket": env("EXPORT_BUCKET"), "Key": job["s3Key"]},
            ExpiresIn=PRESIGN_TTL_S,
        )
        body["expiresAt"] = iso(time.time() + PRESIGN_TTL_S)
    return _response(200, body)


# -- device upload -------------------------------------------------------------------------------


def _device_upload(req: Request, table: Table) -> dict[str, Any]:
    spec = v.validate_device_upload(req.body(limit=v.MAX_UPLOAD_BYTES))
    config = load_user_config(table, req.user_id) or {"connections": {}}
    active = {cid: c for cid, c in config["connections"].items() if c.get("Status") == "active"}
    dest = spec.get("destinationConnectionId")
    if dest is None:
        if not active:
            raise v.ApiError(409, "NoDestination", "connect a cloud provider first")
        dest = sorted(active)[0]
    elif dest not in config["connections"]:
        raise v.ApiError(
            404, "ConnectionNotFound", f"no connection {dest}", "destinationConnectionId"
        )
    elif dest not in active:
        raise v.ApiError(
            409,
            "ConnectionNotActive",
            f"connection {dest} needs re-authentication",
            "destinationConnectionId",
        )
    assert req.key is not None
    job_id = "job_" + v.deterministic_uuid4(req.user_id, req.key)
    staged = f"uploads/{req.user_id}/{job_id}.json"
    job_spec = {
        "destinationConnectionId": dest,
        "dataType": "workout",
        "mode": "device",
        "priority": "medium",
        "records": len(spec["data"]),
        "dataHash": _request_hash(spec["data"]),
    }
    # stage before recording the job: the worker reads it, then deletes it (1-day lifecycle too)
    client("s3").put_object(
        Bucket=env("UPLOAD_BUCKET"), Key=staged, Body=json.dumps(spec["data"]).encode()
    )
    item = _job_item(req, job_id, "device_upload", job_spec, 1)
    item["stagedKey"] = staged
    message = {
        "type": "device_upload",
        "jobId": job_id,
        "userId": req.user_id,
        "idempotencyKey": req.key,
        "stagedKey": staged,
        "correlationId": req.correlation_id,
        "enqueuedAt": time.time(),
        **job_spec,
    }
    return _accept_job(req, table, job_id, item, message)


# -- account -------------------------------------------------------------------------------------


def _remove_user(req: Request, table: Table) -> dict[str, Any]:
    delete_user(table, req.user_id)
    return _response(202, {"status": "DELETION_ACCEPTED"})
