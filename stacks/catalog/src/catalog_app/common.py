"""What every catalog/orders handler shares: tenancy, keys, responses, logs, metrics, DynamoDB.

Tenancy: the tenant comes ONLY from the verified token, i.e. the authorizer's claims in the
event (``requestContext.authorizer.jwt.claims`` for an HTTP API JWT authorizer,
``requestContext.authorizer.claims`` for a REST Cognito authorizer). A tenant id anywhere else
(path, query string, body, ``x-tenant-id`` header) never scopes anything: when it names another
tenant the request is refused (403) and a ``security violation`` line is logged.

Keys (one table, the seed's single-table design)::

    PK = TENANT#{tenant_id}#PRODUCT   SK = PRODUCT#{product_id}
    PK = TENANT#{tenant_id}#ORDER     SK = ORDER#{order_id}

Every read is a GetItem/BatchGetItem/Query on the caller's own partition; nothing ever scans.

Logs are one JSON object per line (Powertools style) and metrics are CloudWatch Embedded Metric
Format lines (``_aws.CloudWatchMetrics``), per tenant: ``Requests``, ``ClientErrors``,
``ServerErrors``, ``Latency``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import re
import sys
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME", "catalog")
NAMESPACE = os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "CatalogApi")

TENANT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")  # never '#': it would cross prefixes
ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
IDEMPOTENCY_KEY_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
SIGNED_ORDER_RE = re.compile(r"^ord_([0-9a-f]{32})_([0-9a-f]{12})$")

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
_COLD = True

# -- errors -------------------------------------------------------------------------------------


class ApiError(Exception):
    """An answer other than success: status, machine-readable code, message, extra fields."""

    def __init__(self, status: int, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.extra = extra


def bad_request(message: str, code: str = "validation_error", **extra: Any) -> ApiError:
    return ApiError(400, code, message, **extra)


def not_found(what: str) -> ApiError:
    return ApiError(404, "not_found", f"{what} not found")


def forbidden(message: str = "forbidden") -> ApiError:
    return ApiError(403, "forbidden", message)


# -- request context -----------------------------------------------------------------------------


@dataclass
class Request:
    event: dict[str, Any]
    method: str
    route: str
    path: str
    request_id: str
    correlation_id: str
    tenant_id: str | None = None
    tier: str | None = None
    principal: str | None = None
    claims: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    query: dict[str, str] = field(default_factory=dict)
    path_params: dict[str, str] = field(default_factory=dict)
    started: float = field(default_factory=time.perf_counter)


def tenant_claim_name() -> str:
    return os.environ.get("TENANT_CLAIM", "tenant_id")


def tier_claim_name() -> str:
    return os.environ.get("TIER_CLAIM", "tier")


def authorizer_claims(event: Mapping[str, Any]) -> dict[str, Any]:
    """The verified claims the gateway put in the event (never headers or the raw token)."""
    context = event.get("requestContext") or {}
    authorizer = context.get("authorizer") or {}
    if not isinstance(authorizer, Mapping):
        return {}
    jwt = authorizer.get("jwt")
    if isinstance(jwt, Mapping) and isinstance(jwt.get("claims"), Mapping):
        return dict(jwt["claims"])  # HTTP API JWT authorizer (payload 2.0)
    if isinstance(authorizer.get("claims"), Mapping):
        return dict(authorizer["claims"])  # REST Cognito authorizer / HTTP API payload 1.0
    if isinstance(authorizer.get("lambda"), Mapping):
        return dict(authorizer["lambda"])  # HTTP API Lambda authorizer context
    return {}


def tenant_from_event(event: Mapping[str, Any]) -> tuple[str | None, dict[str, Any]]:
    """(tenant id from the token's tenant claim or None, the claims)."""
    claims = authorizer_claims(event)
    value = claims.get(tenant_claim_name())
    if value is None or value == "":
        return None, claims
    return str(value), claims


def valid_tenant(tenant: str | None) -> bool:
    return bool(tenant) and TENANT_RE.fullmatch(str(tenant)) is not None


def parse_request(event: Mapping[str, Any], context: Any = None) -> Request:
    rc = event.get("requestContext") or {}
    http = rc.get("http") or {}
    method = str(http.get("method") or event.get("httpMethod") or "GET").upper()
    route = str(event.get("routeKey") or f"{method} {event.get('resource') or event.get('path')}")
    headers = {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()}
    request_id = str(
        rc.get("requestId") or getattr(context, "aws_request_id", None) or uuid.uuid4()
    )
    tenant, claims = tenant_from_event(event)
    tier = claims.get(tier_claim_name())
    principal = claims.get("sub") or claims.get("client_id") or claims.get("username")
    return Request(
        event=dict(event),
        method=method,
        route=route,
        path=str(event.get("rawPath") or event.get("path") or ""),
        request_id=request_id,
        correlation_id=headers.get("x-correlation-id") or request_id,
        tenant_id=tenant,
        tier=str(tier) if tier else None,
        principal=str(principal) if principal else None,
        claims=claims,
        headers=headers,
        query={str(k): str(v) for k, v in (event.get("queryStringParameters") or {}).items()},
        path_params={str(k): str(v) for k, v in (event.get("pathParameters") or {}).items()},
    )


def require_tenant(req: Request) -> str:
    """The caller's tenant, or 403 (logged as a security violation) when the token has none."""
    if req.tenant_id is None:
        security_violation(req, "missing_tenant_claim", claim=tenant_claim_name())
        raise forbidden("the token carries no tenant")
    if not valid_tenant(req.tenant_id):
        security_violation(req, "malformed_tenant_claim", value=req.tenant_id[:100])
        raise forbidden("the token's tenant is not a valid tenant id")
    return req.tenant_id


def check_foreign_tenant(req: Request, body: Mapping[str, Any] | None = None) -> None:
    """403 when the request names another tenant in the query, a header or the body.

    A tenant id there is never used: it only tells us someone is trying to reach another
    tenant. Naming one's own tenant is harmless and ignored.
    """
    named: list[tuple[str, Any]] = []
    for key in ("tenant_id", "tenantId", "tenant"):
        if key in req.query:
            named.append((f"query.{key}", req.query[key]))
        if body is not None and key in body:
            named.append((f"body.{key}", body[key]))
        if key in req.path_params:
            named.append((f"path.{key}", req.path_params[key]))
    if "x-tenant-id" in req.headers:
        named.append(("header.x-tenant-id", req.headers["x-tenant-id"]))
    for where, value in named:
        if str(value) != req.tenant_id:
            security_violation(
                req, "foreign_tenant_in_request", where=where, requested_tenant=str(value)[:100]
            )
            raise forbidden("a request may only address the caller's own tenant")


# -- keys and ids --------------------------------------------------------------------------------


def product_pk(tenant: str) -> str:
    return f"TENANT#{tenant}#PRODUCT"


def order_pk(tenant: str) -> str:
    return f"TENANT#{tenant}#ORDER"


def product_sk(product_id: str) -> str:
    return f"PRODUCT#{product_id}"


def order_sk(order_id: str) -> str:
    return f"ORDER#{order_id}"


def key(pk: str, sk: str) -> dict[str, dict[str, str]]:
    return {"PK": {"S": pk}, "SK": {"S": sk}}


_ID_KEY: dict[str, tuple[float, bytes]] = {}
ID_KEY_TTL_S = 300.0


def _id_key() -> bytes:
    """The order-id HMAC key: the Secrets Manager secret ``ORDER_ID_KEY_SECRET`` (the deployed
    stack; cached ``ID_KEY_TTL_S`` per execution environment), or ``ORDER_ID_KEY`` itself (tests
    that call the handlers without a stack). Neither set is a configuration error: ids signed
    with a made-up key would not verify in the other function."""
    secret = os.environ.get("ORDER_ID_KEY_SECRET", "")
    if not secret:
        raw = os.environ.get("ORDER_ID_KEY", "")
        if not raw:
            raise RuntimeError("neither ORDER_ID_KEY_SECRET nor ORDER_ID_KEY is set")
        return raw.encode()
    now = time.monotonic()
    cached = _ID_KEY.get(secret)
    if cached is not None and cached[0] > now:
        return cached[1]
    client = _CLIENTS.get("secretsmanager")
    if client is None:
        import boto3
        from botocore.config import Config

        config = Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=2,
                        read_timeout=5)  # fmt: skip
        client = _CLIENTS["secretsmanager"] = boto3.client("secretsmanager", config=config)
    value = str(client.get_secret_value(SecretId=secret)["SecretString"]).encode()
    _ID_KEY[secret] = (now + ID_KEY_TTL_S, value)
    return value


def order_signature(tenant: str, raw: str) -> str:
    """12 hex chars of HMAC(key, tenant/raw): ties an order id to the tenant it was issued to
    without revealing the tenant."""
    return hmac.new(_id_key(), f"{tenant}/{raw}".encode(), hashlib.sha256).hexdigest()[:12]


def new_order_id(tenant: str) -> str:
    raw = uuid.uuid4().hex
    return f"ord_{raw}_{order_signature(tenant, raw)}"


def idempotent_order_id(tenant: str, idempotency_key: str) -> str:
    """The same order id for the same tenant and ``Idempotency-Key``: a retried POST cannot
    create a second order."""
    raw = hashlib.sha256(f"{tenant}\n{idempotency_key}".encode()).hexdigest()[:32]
    return f"ord_{raw}_{order_signature(tenant, raw)}"


def order_id_issued_to(tenant: str, order_id: str) -> bool | None:
    """True/False for ids this API issued (signed); None for other ids (e.g. seeded ones)."""
    match = SIGNED_ORDER_RE.fullmatch(order_id)
    if match is None:
        return None
    return hmac.compare_digest(match.group(2), order_signature(tenant, match.group(1)))


def valid_id(value: str | None) -> bool:
    return value is not None and ID_RE.fullmatch(value) is not None


# -- pagination ----------------------------------------------------------------------------------


def parse_limit(req: Request) -> int:
    raw = req.query.get("limit")
    if raw is None:
        return DEFAULT_LIMIT
    if not re.fullmatch(r"\d{1,4}", raw.strip()):
        raise bad_request(f"limit must be a whole number from 1 to {MAX_LIMIT}", field="limit")
    limit = int(raw)
    if not 1 <= limit <= MAX_LIMIT:
        raise bad_request(f"limit must be a whole number from 1 to {MAX_LIMIT}", field="limit")
    return limit


def encode_next_token(last_key: Mapping[str, Any] | None) -> str | None:
    """Only the sort key goes in the token: the partition always comes from the caller's tenant."""
    if not last_key:
        return None
    sk = last_key["SK"]["S"]
    return base64.urlsafe_b64encode(json.dumps({"sk": sk}).encode()).decode().rstrip("=")


def decode_next_token(req: Request, prefix: str) -> str | None:
    raw = req.query.get("next_token")
    if raw is None or raw == "":
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise bad_request("next_token is not valid", field="next_token") from None
    sk = data.get("sk") if isinstance(data, dict) else None
    if not isinstance(sk, str) or not sk.startswith(prefix) or len(sk) > 200:
        raise bad_request("next_token is not valid", field="next_token")
    return sk


# -- JSON ----------------------------------------------------------------------------------------


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def dumps(value: Any) -> str:
    return json.dumps(value, default=_default, separators=(",", ":"))


def parse_json_body(req: Request, max_bytes: int = 64 * 1024) -> dict[str, Any]:
    body = req.event.get("body")
    if body is None or body == "":
        raise bad_request("a JSON object body is required", code="invalid_body")
    if req.event.get("isBase64Encoded"):
        try:
            body = base64.b64decode(body).decode("utf-8")
        except (binascii.Error, ValueError, UnicodeDecodeError):
            raise bad_request("the body is not valid UTF-8 JSON", code="invalid_body") from None
    if len(body) > max_bytes:
        raise ApiError(413, "payload_too_large", f"the body exceeds {max_bytes} bytes")
    try:
        data = json.loads(body, parse_float=Decimal)
    except (ValueError, RecursionError):  # RecursionError: nesting deeper than the parser goes
        raise bad_request("the body is not valid JSON", code="invalid_body") from None
    if not isinstance(data, dict):
        raise bad_request("the body must be a JSON object", code="invalid_body")
    return data


# -- DynamoDB ------------------------------------------------------------------------------------


def table_name() -> str:
    return os.environ["TABLE_NAME"]


_CLIENTS: dict[str, Any] = {}
_TENANT_CREDS: dict[str, tuple[float, Any]] = {}


def _base_client() -> Any:
    client = _CLIENTS.get("dynamodb")
    if client is None:
        import boto3
        from botocore.config import Config

        config = Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=2,
                        read_timeout=5)  # fmt: skip
        client = _CLIENTS["dynamodb"] = boto3.client("dynamodb", config=config)
    return client


def ddb(tenant: str) -> Any:
    """The DynamoDB client to use for ``tenant``.

    With ``TENANT_ROLE_ARN`` set (the stronger variant), credentials come from assuming the
    tenant-scoped role with the session tag ``TenantId=<tenant>``: its policy only allows keys
    whose partition starts with ``TENANT#<tenant>#`` (``dynamodb:LeadingKeys``), so even a bug in
    this code cannot reach another tenant's rows on AWS. Credentials are cached per tenant.
    """
    role = os.environ.get("TENANT_ROLE_ARN", "")
    if not role:
        return _base_client()
    now = time.time()
    cached = _TENANT_CREDS.get(tenant)
    if cached is not None and cached[0] - 60 > now:
        return cached[1]
    import boto3
    from botocore.config import Config

    sts = _CLIENTS.get("sts")
    if sts is None:
        sts = _CLIENTS["sts"] = boto3.client("sts")
    creds = sts.assume_role(
        RoleArn=role,
        RoleSessionName=f"catalog-{tenant}"[:64],
        Tags=[{"Key": "TenantId", "Value": tenant}],
        DurationSeconds=900,
    )["Credentials"]
    client = boto3.client(
        "dynamodb",
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        config=Config(retries={"max_attempts": 3, "mode": "standard"}),
    )
    expires = creds.get("Expiration")
    expiry = expires.timestamp() if hasattr(expires, "timestamp") else now + 900
    _TENANT_CREDS[tenant] = (expiry, client)
    return client


def to_attr(value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, (int, Decimal)):
        return {"N": str(value)}
    if isinstance(value, float):
        return {"N": repr(value)}
    if isinstance(value, str):
        return {"S": value}
    if value is None:
        return {"NULL": True}
    if isinstance(value, Mapping):
        return {"M": {str(k): to_attr(v) for k, v in value.items()}}
    if isinstance(value, (list, tuple)):
        return {"L": [to_attr(v) for v in value]}
    raise TypeError(f"cannot store {type(value).__name__}")


def from_attr(attr: Mapping[str, Any]) -> Any:
    (kind, value), = attr.items()  # fmt: skip
    if kind == "S":
        return value
    if kind == "N":
        return Decimal(value)
    if kind == "BOOL":
        return bool(value)
    if kind == "NULL":
        return None
    if kind == "M":
        return {k: from_attr(v) for k, v in value.items()}
    if kind == "L":
        return [from_attr(v) for v in value]
    if kind == "SS":
        return list(value)
    raise TypeError(f"unsupported attribute type {kind}")


def to_item(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: to_attr(v) for k, v in values.items()}


def from_item(item: Mapping[str, Any]) -> dict[str, Any]:
    return {k: from_attr(v) for k, v in item.items()}


# -- logs and metrics ----------------------------------------------------------------------------


def log(level: str, message: str, req: Request | None = None, **fields: Any) -> None:
    record: dict[str, Any] = {
        "level": level,
        "message": message,
        "service": SERVICE,
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
        + f".{int(time.time() * 1000) % 1000:03d}Z",
        "function_name": os.environ.get("AWS_LAMBDA_FUNCTION_NAME", ""),
    }
    if req is not None:
        record.update(
            tenant_id=req.tenant_id,
            request_id=req.request_id,
            correlation_id=req.correlation_id,
            route=req.route,
        )
    record.update(fields)
    sys.stdout.write(dumps(record) + "\n")
    sys.stdout.flush()


def security_violation(req: Request, kind: str, **detail: Any) -> None:
    """A structured WARNING line, ``"message": "security violation"`` — what alarms key on."""
    log(
        "WARNING",
        "security violation",
        req,
        violation=kind,
        principal=req.principal,
        source_ip=((req.event.get("requestContext") or {}).get("http") or {}).get("sourceIp"),
        detail=detail,
    )


def emit_metrics(req: Request, status: int, latency_ms: float) -> None:
    """One EMF line per request: per-tenant request volume, errors and latency."""
    tenant = req.tenant_id if valid_tenant(req.tenant_id) else "unknown"
    record = {
        "_aws": {
            "Timestamp": int(time.time() * 1000),
            "CloudWatchMetrics": [
                {
                    "Namespace": NAMESPACE,
                    "Dimensions": [["service", "tenant_id"], ["service", "route"], ["service"]],
                    "Metrics": [
                        {"Name": "Requests", "Unit": "Count"},
                        {"Name": "ClientErrors", "Unit": "Count"},
                        {"Name": "ServerErrors", "Unit": "Count"},
                        {"Name": "Latency", "Unit": "Milliseconds"},
                    ],
                }
            ],
        },
        "service": SERVICE,
        "tenant_id": tenant,
        "tier": req.tier or "unknown",
        "route": req.route,
        "status": status,
        "request_id": req.request_id,
        "Requests": 1,
        "ClientErrors": 1 if 400 <= status < 500 else 0,
        "ServerErrors": 1 if status >= 500 else 0,
        "Latency": round(latency_ms, 3),
    }
    sys.stdout.write(dumps(record) + "\n")
    sys.stdout.flush()


# -- responses and the handler wrapper -------------------------------------------------------------


def response(req: Request, status: int, payload: Mapping[str, Any], **headers: str) -> dict:
    body = {**payload, "tenant_id": req.tenant_id, "request_id": req.request_id}
    return {
        "statusCode": status,
        "headers": {
            "content-type": "application/json",
            "x-request-id": req.request_id,
            "x-correlation-id": req.correlation_id,
            **headers,
        },
        "body": dumps(body),
    }


def error_response(req: Request, err: ApiError) -> dict:
    payload = {"error": err.code, "message": err.message, **err.extra}
    extra = {"retry-after": "1"} if err.status in (429, 503) else {}
    return response(req, err.status, payload, **extra)


def run(event: Any, context: Any, dispatch: Any) -> dict:
    """Parse, dispatch, answer: API errors as JSON, AWS throttling as 503, anything else 500 —
    always JSON with ``tenant_id`` and ``request_id``; one log line and one EMF line per call."""
    global _COLD
    cold, _COLD = _COLD, False
    if not isinstance(event, Mapping):
        event = {}
    req = parse_request(event, context)
    try:
        result = dispatch(req)
    except ApiError as err:
        result = error_response(req, err)
    except Exception as exc:  # never a stack trace to the client
        status, code = 500, "internal_error"
        aws_code = getattr(exc, "response", {}).get("Error", {}).get("Code", "")
        if aws_code in (
            "ProvisionedThroughputExceededException",
            "ThrottlingException",
            "RequestLimitExceeded",
            "ServiceUnavailable",
            "InternalServerError",
        ) or type(exc).__name__ in ("EndpointConnectionError", "ConnectTimeoutError",
                                    "ReadTimeoutError", "ConnectionClosedError"):  # fmt: skip
            status, code = 503, "service_unavailable"
        log("ERROR", "request failed", req, error=type(exc).__name__, detail=str(exc)[:500],
            aws_error_code=aws_code or None)  # fmt: skip
        message = "try again later" if status == 503 else "internal error"
        result = error_response(req, ApiError(status, code, message))
    latency_ms = (time.perf_counter() - req.started) * 1000
    status = int(result.get("statusCode", 200))
    log(
        "INFO" if status < 500 else "ERROR",
        "request completed",
        req,
        method=req.method,
        path=req.path,
        status=status,
        latency_ms=round(latency_ms, 3),
        tier=req.tier,
        cold_start=cold,
    )
    emit_metrics(req, status, latency_ms)
    return result
