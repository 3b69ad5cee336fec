"""The edge's own answers: control paths (which need the environment's secret), JSON and AWS
JSON 1.0 answers, plain-text refusals, an unreachable emulator as AWS's ServiceUnavailable, and
a request signed for a service AWS does not have."""

from __future__ import annotations

import contextlib
import json
import uuid
from typing import Any

__all__ = [
    "amz_json",
    "aws_unreachable",
    "is_control_path",
    "json_response",
    "known_services",
    "plain",
    "unknown_service_response",
]


# Paths no tenant code may use: the harness's own control API (but its health), the emulators'
# control APIs the edge would otherwise forward (reset, chaos, state, moto's reset).
_OPEN_CONTROL = frozenset(
    {"/_harness/edge/health", "/_localstack/health", "/_ministack/health", "/_aws/health"}
)
_CONTROL_PREFIXES = ("/_harness/", "/_localstack/", "/_ministack/", "/moto-api/")


def is_control_path(method: str, target: str) -> bool:
    """Does ``target`` name a control API (which needs the environment's secret)?"""
    path = target.split("?", 1)[0]
    if path.rstrip("/") in _OPEN_CONTROL and method in ("GET", "HEAD"):
        return False
    return path.startswith(_CONTROL_PREFIXES) or path.rstrip("/") in (
        "/_harness",
        "/_localstack",
        "/_ministack",
        "/moto-api",
    )


def json_response(status: int, payload: Any) -> bytes:
    body = json.dumps(payload).encode()
    reason = "OK" if status < 400 else "Error"
    return (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body


def amz_json(status: int, payload: Any) -> bytes:
    """An AWS JSON 1.0 protocol answer (DynamoDB's)."""
    body = json.dumps(payload).encode()
    reason = "OK" if status < 400 else "Bad Request" if status < 500 else "Internal Server Error"
    return (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/x-amz-json-1.0\r\n"
        f"x-amzn-RequestId: {uuid.uuid4()}\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body


def plain(status: int, text: str) -> bytes:
    body = text.encode()
    return (
        f"HTTP/1.1 {status} Error\r\nContent-Type: text/plain\r\nContent-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    ).encode() + body


def aws_unreachable(url: str, exc: BaseException) -> bytes:
    """The emulator at ``url`` does not answer: AWS's ServiceUnavailable, in JSON 1.0."""
    body = json.dumps(
        {
            "__type": "ServiceUnavailable",
            "message": f"harness edge: emulator at {url} is unreachable ({exc})",
        }
    ).encode()
    return (
        b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/x-amz-json-1.0\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )


_KNOWN: frozenset[str] | None = None


def known_services() -> frozenset[str]:
    """Every AWS signing name and endpoint prefix botocore knows (loaded once)."""
    global _KNOWN
    if _KNOWN is None:
        names: set[str] = set(_EXTRA_SERVICES)
        with contextlib.suppress(Exception):
            import botocore.loaders
            import botocore.session

            session = botocore.session.get_session()
            names |= set(session.get_available_services())
            endpoints = botocore.loaders.create_loader().load_data("endpoints")
            for partition in endpoints.get("partitions", []):
                names |= set(partition.get("services", {}))
        _KNOWN = frozenset(names)
    return _KNOWN


_EXTRA_SERVICES = (
    "dynamodbstreams",
    "execute-api",
    "monitoring",
    "states",
    "lambda",
    "s3",
    "sts",
    "iam",
    "cognito-idp",
    "cognito-identity",
    "events",
    "sqs",
    "sns",
)


def unknown_service_response(service: str) -> bytes:
    body = json.dumps(
        {
            "__type": "UnknownServiceException",
            "message": f"harness edge: the request is signed for service {service!r}, which is "
            "not an AWS service (check the client's service name / SigV4 credential scope)",
        }
    ).encode()
    return (
        b"HTTP/1.1 400 Bad Request\r\nContent-Type: application/x-amz-json-1.1\r\n"
        b"x-amzn-ErrorType: UnknownServiceException\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )
