"""Work out which AWS service (and operation) an SDK request is for, from its headers alone.

boto3 signs every request with SigV4, whose credential scope names the service
(``Credential=AKID/20260101/us-east-1/dynamodb/aws4_request``). Unsigned calls (Cognito's
``InitiateAuth``, a JWKS download, a pre-signed S3 URL) are recognised by ``X-Amz-Target``, the
query string or the path.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qs

__all__ = ["RequestInfo", "classify"]

_SCOPE = re.compile(r"Credential=[^/,\s]+/\d{8}/([a-z0-9-]+)/([a-z0-9-]+)/aws4_request")
_QUERY_SCOPE = re.compile(
    r"X-Amz-Credential=[^&/]+(?:/|%2F)\d{8}(?:/|%2F)([a-z0-9-]+)(?:/|%2F)([a-z0-9-]+)"
)

# X-Amz-Target prefixes of the JSON protocols, by service signing name.
_TARGET_PREFIXES = {
    "DynamoDB_20120810": "dynamodb",
    "DynamoDBStreams_20120810": "dynamodbstreams",
    "AmazonSQS": "sqs",
    "AWSEvents": "events",
    "AmazonSSM": "ssm",
    "secretsmanager": "secretsmanager",
    "Logs_20140328": "logs",
    "AWSCognitoIdentityProviderService": "cognito-idp",
    "AWSCognitoIdentityService": "cognito-identity",
    "AWSStepFunctions": "states",
    "Kinesis_20131202": "kinesis",
    "TrentService": "kms",
    "GraniteServiceVersion20100801": "monitoring",
    "AWSIdentityManagementV20100508": "iam",
}

# Signing names that differ from the name boto3 clients use for endpoints.
SIGNING_TO_CLIENT = {
    "monitoring": "cloudwatch",
    "execute-api": "apigateway",
    "states": "stepfunctions",
}


@dataclass(frozen=True, slots=True)
class RequestInfo:
    """What the edge knows about a request before it forwards it."""

    service: str
    region: str
    operation: str


def classify(method: str, target: str, headers: dict[str, str], body: bytes) -> RequestInfo:
    """Service, region and operation of a request (``headers`` keys are lower-case)."""
    service = ""
    region = ""
    auth = headers.get("authorization", "")
    match = _SCOPE.search(auth) if auth else None
    if match:
        region, service = match.group(1), match.group(2)
    elif "X-Amz-Credential" in target:
        qmatch = _QUERY_SCOPE.search(target)
        if qmatch:
            region, service = qmatch.group(1), qmatch.group(2)
    amz_target = headers.get("x-amz-target", "")
    operation = ""
    if amz_target:
        prefix, _, operation = amz_target.partition(".")
        if not service:
            service = _TARGET_PREFIXES.get(prefix, "")
    if not service:
        service = _service_from_path(target)
    if not operation:
        operation = _operation(method, target, headers, body, service)
    return RequestInfo(
        service=service or "unknown", region=region or "us-east-1", operation=operation
    )


def _service_from_path(target: str) -> str:
    path = target.split("?", 1)[0]
    if path.endswith("/.well-known/jwks.json") or path.endswith(
        "/.well-known/openid-configuration"
    ):
        return "cognito-idp"
    if path.startswith("/oauth2/"):
        return "cognito-idp"
    return ""


def _operation(method: str, target: str, headers: dict[str, str], body: bytes, service: str) -> str:
    """The operation name for query-protocol services (Action=) and a REST-ish name otherwise."""
    _, _, query = target.partition("?")
    if query and "Action=" in query:
        values = parse_qs(query).get("Action")
        if values:
            return values[0]
    content_type = headers.get("content-type", "")
    if body and "x-www-form-urlencoded" in content_type and b"Action=" in body:
        values = parse_qs(body.decode("utf-8", errors="replace")).get("Action")
        if values:
            return values[0]
    if service == "s3":
        return _s3_operation(method, target)
    return method


def _s3_operation(method: str, target: str) -> str:
    path, _, query = target.partition("?")
    parts = [p for p in path.split("/") if p]
    has_key = len(parts) > 1
    if method == "GET":
        return "GetObject" if has_key else ("ListObjectsV2" if parts else "ListBuckets")
    if method == "PUT":
        if "uploadId=" in query:
            return "UploadPart"
        return "PutObject" if has_key else "CreateBucket"
    if method == "DELETE":
        return "DeleteObject" if has_key else "DeleteBucket"
    if method == "HEAD":
        return "HeadObject" if has_key else "HeadBucket"
    if method == "POST":
        if "delete" in query:
            return "DeleteObjects"
        if "uploads" in query:
            return "CreateMultipartUpload"
        if "uploadId=" in query:
            return "CompleteMultipartUpload"
        return "PostObject"
    return method
