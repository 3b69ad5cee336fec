"""AWS error answers, byte-for-byte in each service's wire protocol.

An SDK must not be able to tell an injected error from the real thing: the status, the error code
where the SDK looks for it (``__type``, ``x-amzn-query-error``, ``<Code>``,
``x-amzn-ErrorType``) and the request-id header are what botocore's parsers and retry handlers
read, so a throttle injected here is retried exactly as in production.
"""

from __future__ import annotations

import json
import uuid
from email.utils import formatdate

__all__ = ["DEFAULT_MESSAGES", "render_error"]

# Protocols by signing name (botocore's service model "protocol").
_JSON_10 = {"dynamodb", "dynamodbstreams", "sqs", "states", "swf"}
_JSON_11 = {
    "ssm", "secretsmanager", "events", "logs", "cognito-idp", "cognito-identity", "kinesis", "kms",
    "firehose", "ecr", "codebuild", "monitoring",
}  # fmt: skip
_REST_XML = {"s3", "route53", "cloudfront"}
_REST_JSON = {"lambda", "apigateway", "execute-api", "scheduler", "xray", "appsync"}
_QUERY = {"sns", "sts", "iam", "cloudformation", "elasticache", "rds", "ses", "autoscaling"}
_XML_NAMESPACES = {
    "sns": "http://sns.amazonaws.com/doc/2010-03-31/",
    "sts": "https://sts.amazonaws.com/doc/2011-06-15/",
    "iam": "https://iam.amazonaws.com/doc/2010-05-08/",
    "sqs": "http://queue.amazonaws.com/doc/2012-11-05/",
}

DEFAULT_MESSAGES = {
    "ProvisionedThroughputExceededException": (
        "The level of configured provisioned throughput for the table was exceeded. "
        "Consider increasing your provisioning level with the UpdateTable API."
    ),
    "ThrottlingException": "Rate exceeded",
    "Throttling": "Rate exceeded",
    "RequestThrottled": "Request is throttled.",
    "TooManyRequestsException": "Rate Exceeded.",
    "SlowDown": "Please reduce your request rate.",
    "ServiceUnavailable": "Service Unavailable",
    "ServiceUnavailableException": "Service Unavailable",
    "InternalServerError": "Internal server error",
    "InternalFailure": "The request processing has failed because of an unknown error, exception or failure.",
    "InternalError": "We encountered an internal error. Please try again.",
    "InternalServiceError": "An error occurred on the server side.",
    "RequestLimitExceeded": "Throughput exceeds the current throughput limit for your account.",
}

# DynamoDB puts availability errors in another namespace than its own modeled errors.
_DYNAMODB_AVAILABILITY = {
    "ThrottlingException",
    "ServiceUnavailable",
    "ServiceUnavailableException",
}


def protocol_of(service: str, request_content_type: str) -> str:
    if service == "sqs" and "json" not in request_content_type:
        return "query"  # older SDKs still speak SQS's XML query protocol
    if service in _JSON_10:
        return "json1.0"
    if service in _JSON_11:
        return "json1.1"
    if service in _REST_XML:
        return "rest-xml"
    if service in _REST_JSON:
        return "rest-json"
    if service in _QUERY:
        return "query"
    return "json1.1"


def _reason(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _http(status: int, headers: list[tuple[str, str]], body: bytes) -> bytes:
    head = [f"HTTP/1.1 {status} {_reason(status)}"]
    head += [f"{name}: {value}" for name, value in headers]
    head.append(f"Content-Length: {len(body)}")
    head.append(f"Date: {formatdate(usegmt=True)}")
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body


def render_error(
    service: str,
    status: int,
    code: str,
    message: str | None = None,
    *,
    request_content_type: str = "",
    request_id: str | None = None,
) -> bytes:
    """A complete raw HTTP/1.1 response carrying the AWS error ``code`` for ``service``."""
    request_id = request_id or str(uuid.uuid4())
    text: str = message if message is not None else DEFAULT_MESSAGES.get(code, code)
    fault = "Sender" if status < 500 else "Receiver"
    protocol = protocol_of(service, request_content_type)
    if protocol in ("json1.0", "json1.1"):
        if service == "dynamodb" or service == "dynamodbstreams":
            namespace = (
                "com.amazon.coral.availability"
                if code in _DYNAMODB_AVAILABILITY
                else "com.amazonaws.dynamodb.v20120810"
            )
            type_ = f"{namespace}#{code}"
        elif service == "sqs":
            type_ = f"com.amazonaws.sqs#{code}"
        else:
            type_ = code
        body = json.dumps({"__type": type_, "message": text}, separators=(",", ":")).encode()
        headers = [
            ("Content-Type", f"application/x-amz-json-{protocol[-3:]}"),
            ("x-amzn-RequestId", request_id),
        ]
        if service == "sqs":
            headers.append(("x-amzn-query-error", f"{code};{fault}"))
        return _http(status, headers, body)
    if protocol == "rest-json":
        body = json.dumps(
            {"Type": "User" if status < 500 else "Service", "message": message}
        ).encode()
        headers = [
            ("Content-Type", "application/json"),
            ("x-amzn-RequestId", request_id),
            ("x-amzn-ErrorType", f"{code}:"),
        ]
        return _http(status, headers, body)
    if protocol == "rest-xml":
        host_id = uuid.uuid4().hex
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{code}</Code><Message>{_xml(text)}</Message>"
            f"<RequestId>{request_id}</RequestId><HostId>{host_id}</HostId></Error>"
        ).encode()
        headers = [
            ("Content-Type", "application/xml"),
            ("x-amz-request-id", request_id),
            ("x-amz-id-2", host_id),
        ]
        return _http(status, headers, body)
    xml_namespace = _XML_NAMESPACES.get(service)
    xmlns = f' xmlns="{xml_namespace}"' if xml_namespace else ""
    body = (
        f"<ErrorResponse{xmlns}><Error><Type>{fault}</Type><Code>{code}</Code>"
        f"<Message>{_xml(text)}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>"
    ).encode()
    return _http(status, [("Content-Type", "text/xml"), ("x-amzn-RequestId", request_id)], body)


def _xml(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
