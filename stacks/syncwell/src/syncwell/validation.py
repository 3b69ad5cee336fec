"""Request validation for the API contracts of section 3d (pure functions, no I/O).

Every check raises :class:`ApiError` with an HTTP status, a stable error code and, for field
errors, the field's name, so that bad input is always a 4xx with a JSON body, never a 500.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import uuid
from datetime import date, datetime
from typing import Any

__all__ = [
    "DATA_TYPES",
    "MODES",
    "PRIORITIES",
    "ApiError",
    "deterministic_uuid4",
    "parse_json_body",
    "validate_device_upload",
    "validate_export_request",
    "validate_idempotency_key",
    "validate_new_connection",
    "validate_settings",
    "validate_sync_job",
]

DATA_TYPES = ("workout", "sleep_session", "steps", "weight")
MODES = ("manual", "historical")
PRIORITIES = ("high", "medium", "low")
PROVIDERS = ("fitbit", "strava", "garmin")
CONFLICT_STRATEGIES = ("source_wins", "dest_wins", "newest_wins", "AI_POWERED_MERGE")

MAX_BODY_BYTES = 16 * 1024
MAX_UPLOAD_BYTES = 1024 * 1024
MAX_UPLOAD_RECORDS = 500
MAX_HISTORY_DAYS = 5 * 366
MAX_SETTINGS = 50

CONNECTION_ID = re.compile(r"^conn_[A-Za-z0-9_-]{1,64}$")
JOB_ID = re.compile(r"^job_[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
EXPORT_JOB_ID = re.compile(
    r"^export-job-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"
)
SETTING_KEY = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")
UUID_TEXT = re.compile(
    r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
)


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.field:
            error["field"] = self.field
        return {"error": error}


def _bad(message: str, field: str | None = None, code: str = "ValidationError") -> ApiError:
    return ApiError(400, code, message, field)


def deterministic_uuid4(*parts: str) -> str:
    """A UUIDv4-formatted id derived from ``parts``: a retried request gets the same job id."""
    digest = bytearray(hashlib.sha256("\x1f".join(parts).encode()).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x40
    digest[8] = (digest[8] & 0x3F) | 0x80
    return str(uuid.UUID(bytes=bytes(digest)))


def validate_idempotency_key(headers: dict[str, str]) -> str:
    key = headers.get("idempotency-key")
    if key is None or not key.strip():
        raise _bad(
            "the Idempotency-Key header is required", "Idempotency-Key", "MissingIdempotencyKey"
        )
    key = key.strip()
    if not UUID_TEXT.match(key):
        raise _bad("Idempotency-Key must be a UUID", "Idempotency-Key", "InvalidIdempotencyKey")
    return key.lower()


def raw_body(event: dict[str, Any]) -> bytes | None:
    """A proxy event's body as bytes (base64-decoded when ``isBase64Encoded``)."""
    body = event.get("body")
    if body is None:
        return None
    if event.get("isBase64Encoded"):
        try:
            return base64.b64decode(body)
        except ValueError:
            raise ApiError(400, "ValidationError", "the body is not valid base64") from None
    return body.encode("utf-8", "surrogatepass") if isinstance(body, str) else bytes(body)


def parse_json_body(raw: bytes | None, limit: int = MAX_BODY_BYTES, required: bool = True) -> Any:
    if raw is None or not raw.strip():
        if required:
            raise _bad("a JSON request body is required")
        return {}
    if len(raw) > limit:
        raise ApiError(413, "PayloadTooLarge", f"the body is larger than {limit} bytes")
    try:
        value = json.loads(raw, parse_constant=_no_constant)
        # lone surrogates ("\ud800") parse, but no store can encode them
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except (ValueError, UnicodeError, RecursionError):
        raise _bad("the body is not valid JSON") from None
    return value


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed in JSON")


def _object(value: Any, name: str, allowed: set[str]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _bad(f"{name} must be a JSON object", name if name != "body" else None)
    unknown = sorted(set(value) - allowed)
    if unknown:
        raise _bad(f"unknown field '{unknown[0]}'", unknown[0], "UnknownField")
    return value


def _enum(
    body: dict[str, Any], field: str, values: tuple[str, ...], default: str | None = None
) -> str:
    value = body.get(field, default)
    if value is None:
        raise _bad(f"{field} is required", field)
    if not isinstance(value, str) or value not in values:
        raise _bad(f"{field} must be one of {', '.join(values)}", field)
    return value


def _connection_id(body: dict[str, Any], field: str) -> str:
    value = body.get(field)
    if value is None:
        raise _bad(f"{field} is required", field)
    if not isinstance(value, str) or not CONNECTION_ID.match(value):
        raise _bad(f"{field} must look like conn_<id>", field)
    return value


def _date(value: Any, field: str) -> date:
    if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        raise _bad(f"{field} must be a date YYYY-MM-DD", field)
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise _bad(f"{field} is not a valid date", field) from None


def validate_sync_job(body: Any) -> dict[str, Any]:
    """POST /v1/sync-jobs: the normalised job request."""
    allowed = {
        "sourceConnectionId",
        "destinationConnectionId",
        "dataType",
        "mode",
        "priority",
        "dateRange",
    }
    body = _object(body, "body", allowed)
    source = _connection_id(body, "sourceConnectionId")
    destination = _connection_id(body, "destinationConnectionId")
    if source == destination:
        raise _bad(
            "destinationConnectionId must differ from sourceConnectionId", "destinationConnectionId"
        )
    job: dict[str, Any] = {
        "sourceConnectionId": source,
        "destinationConnectionId": destination,
        "dataType": _enum(body, "dataType", DATA_TYPES),
        "mode": _enum(body, "mode", MODES),
        "priority": _enum(body, "priority", PRIORITIES, "medium"),
    }
    if job["mode"] == "historical":
        if "dateRange" not in body:
            raise _bad("dateRange is required when mode is historical", "dateRange")
        rng = _object(body["dateRange"], "dateRange", {"startDate", "endDate"})
        start = _date(rng.get("startDate"), "dateRange.startDate")
        end = _date(rng.get("endDate"), "dateRange.endDate")
        if end < start:
            raise _bad("dateRange.endDate is before dateRange.startDate", "dateRange.endDate")
        if (end - start).days > MAX_HISTORY_DAYS:
            raise _bad("dateRange is longer than 5 years", "dateRange")
        job["dateRange"] = {"startDate": start.isoformat(), "endDate": end.isoformat()}
    elif "dateRange" in body:
        raise _bad("dateRange is only allowed when mode is historical", "dateRange")
    return job


def validate_settings(body: Any) -> tuple[dict[str, Any], int | None]:
    """PUT /v1/users/me/settings: (settings, expected version or None)."""
    body = _object(body, "body", {"settings", "version"})
    settings = body.get("settings")
    if not isinstance(settings, dict):
        raise _bad("settings must be a JSON object", "settings")
    if not settings:
        raise _bad("settings must not be empty", "settings")
    if len(settings) > MAX_SETTINGS:
        raise _bad(f"at most {MAX_SETTINGS} settings", "settings")
    clean: dict[str, Any] = {}
    for key, value in settings.items():
        if not SETTING_KEY.match(key):
            raise _bad(f"setting name '{key[:64]}' is not allowed", f"settings.{key[:64]}")
        if key == "conflictResolutionStrategy":
            if value not in CONFLICT_STRATEGIES:
                raise _bad(
                    f"conflictResolutionStrategy must be one of {', '.join(CONFLICT_STRATEGIES)}",
                    "settings.conflictResolutionStrategy",
                )
        elif key == "notificationsEnabled":
            if not isinstance(value, bool):
                raise _bad(
                    "notificationsEnabled must be a boolean", "settings.notificationsEnabled"
                )
        elif isinstance(value, str):
            if len(value) > 256:
                raise _bad(f"setting '{key}' is longer than 256 characters", f"settings.{key}")
        elif isinstance(value, float) and value != value:  # NaN
            raise _bad(f"setting '{key}' is not a number", f"settings.{key}")
        elif not isinstance(value, (bool, int, float)) and value is not None:
            raise _bad(
                f"setting '{key}' must be a string, number, boolean or null", f"settings.{key}"
            )
        clean[key] = value
    version = body.get("version")
    if version is not None and (
        not isinstance(version, int) or isinstance(version, bool) or version < 0
    ):
        raise _bad("version must be a non-negative integer", "version")
    return clean, version


def validate_export_request(body: Any) -> dict[str, Any]:
    """POST /v1/export-jobs: an empty object, or ``{"dataTypes": [...]}``."""
    body = _object(body, "body", {"dataTypes"})
    types = body.get("dataTypes", list(DATA_TYPES))
    if not isinstance(types, list) or not types or any(t not in DATA_TYPES for t in types):
        raise _bad(f"dataTypes must be a non-empty list of {', '.join(DATA_TYPES)}", "dataTypes")
    return {"dataTypes": sorted(set(types))}


_WORKOUT_FIELDS = {
    "id",
    "activityType",
    "startTime",
    "endTime",
    "durationSeconds",
    "calories",
    "distanceMeters",
    "timezone",
    "notes",
    "source",
}


def _datetime(value: Any, field: str) -> datetime:
    if not isinstance(value, str) or len(value) > 40:
        raise _bad(f"{field} must be an ISO-8601 timestamp", field)
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise _bad(f"{field} must be an ISO-8601 timestamp", field) from None


def _number(item: dict[str, Any], key: str, field: str, upper: float) -> None:
    value = item.get(key)
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= upper:
        raise _bad(f"{field} must be a number between 0 and {upper:g}", field)


def validate_device_upload(body: Any) -> dict[str, Any]:
    """POST /v1/device-upload: ``{"data": [CanonicalWorkout...], "destinationConnectionId"?}``."""
    body = _object(body, "body", {"data", "destinationConnectionId"})
    data = body.get("data")
    if not isinstance(data, list) or not data:
        raise _bad("data must be a non-empty list of CanonicalWorkout objects", "data")
    if len(data) > MAX_UPLOAD_RECORDS:
        raise ApiError(413, "PayloadTooLarge", f"at most {MAX_UPLOAD_RECORDS} records per upload")
    ids = set()
    for i, item in enumerate(data):
        where = f"data[{i}]"
        item = _object(item, where, _WORKOUT_FIELDS)
        wid = item.get("id")
        if not isinstance(wid, str) or not 1 <= len(wid) <= 128:
            raise _bad(f"{where}.id must be a string of 1-128 characters", f"{where}.id")
        if wid in ids:
            raise _bad(f"{where}.id is duplicated", f"{where}.id")
        ids.add(wid)
        kind = item.get("activityType")
        if not isinstance(kind, str) or not 1 <= len(kind) <= 64:
            raise _bad(f"{where}.activityType is required", f"{where}.activityType")
        start = _datetime(item.get("startTime"), f"{where}.startTime")
        if "endTime" in item and _datetime(item["endTime"], f"{where}.endTime") < start:
            raise _bad(f"{where}.endTime is before startTime", f"{where}.endTime")
        _number(item, "durationSeconds", f"{where}.durationSeconds", 7 * 86400)
        _number(item, "calories", f"{where}.calories", 100_000)
        _number(item, "distanceMeters", f"{where}.distanceMeters", 10_000_000)
        for text in ("timezone", "notes", "source"):
            value = item.get(text)
            if value is not None and (not isinstance(value, str) or len(value) > 1024):
                raise _bad(f"{where}.{text} must be a string", f"{where}.{text}")
    out: dict[str, Any] = {"data": data}
    if "destinationConnectionId" in body:
        out["destinationConnectionId"] = _connection_id(body, "destinationConnectionId")
    return out


def validate_jwks_invalidation(body: Any) -> dict[str, Any]:
    """POST /v1/admin/jwks-cache/invalidate: ``{"issuer", "kid"?}`` (the issuer is checked
    against the accepted ones by the authorizer)."""
    body = _object(body, "body", {"issuer", "kid"})
    issuer = body.get("issuer")
    if not isinstance(issuer, str) or not issuer:
        raise _bad("issuer is required", "issuer")
    kid = body.get("kid")
    if kid is not None and (not isinstance(kid, str) or not 1 <= len(kid) <= 256):
        raise _bad("kid must be a non-empty string of at most 256 characters", "kid")
    return {"issuer": issuer, "kid": kid}


SYNC_CONFIG_ID = re.compile(r"^(conn_[A-Za-z0-9_-]{1,64}):([a-z_]{1,32})$")


def validate_sync_config(body: Any) -> dict[str, Any]:
    """POST /v1/sync-configs: ``{"sourceConnectionId", "destinationConnectionId", "dataType",
    "conflictStrategy"?, "isEnabled"?, "version"?}`` (version: the one the client last saw, to
    change an existing config; absent to create one)."""
    body = _object(
        body,
        "body",
        {
            "sourceConnectionId",
            "destinationConnectionId",
            "dataType",
            "conflictStrategy",
            "isEnabled",
            "version",
        },
    )
    source = _connection_id(body, "sourceConnectionId")
    dest = _connection_id(body, "destinationConnectionId")
    if source == dest:
        raise _bad(
            "destinationConnectionId must differ from sourceConnectionId", "destinationConnectionId"
        )
    data_type = _enum(body, "dataType", DATA_TYPES)
    strategy = _enum(body, "conflictStrategy", CONFLICT_STRATEGIES, "newest_wins")
    enabled = body.get("isEnabled", True)
    if not isinstance(enabled, bool):
        raise _bad("isEnabled must be a boolean", "isEnabled")
    version = body.get("version")
    if version is not None and (
        not isinstance(version, int) or isinstance(version, bool) or version < 1
    ):
        raise _bad("version must be a positive integer", "version")
    return {
        "sourceConnectionId": source,
        "destinationConnectionId": dest,
        "dataType": data_type,
        "conflictStrategy": strategy,
        "isEnabled": enabled,
        "version": version,
    }


def validate_new_connection(body: Any) -> dict[str, Any]:
    """POST /v1/connections (OAuth code exchange): ``{"provider", "authorizationCode"}``."""
    body = _object(body, "body", {"provider", "authorizationCode"})
    provider = _enum(body, "provider", PROVIDERS)
    code = body.get("authorizationCode")
    if not isinstance(code, str) or not 1 <= len(code) <= 512:
        raise _bad("authorizationCode is required", "authorizationCode")
    return {"provider": provider, "authorizationCode": code}
