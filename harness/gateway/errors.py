"""API Gateway's own answers (the responses it sends when it never reaches, or cannot use, the
integration), as a small exception a handler raises and the chain turns into a response.

Bodies, status codes and ``x-amzn-ErrorType`` values follow what API Gateway answers; the REST
variants differ in wording where AWS's REST APIs do ("Internal server error").
"""

from __future__ import annotations

__all__ = [
    "GatewayError",
    "access_denied",
    "bad_gateway",
    "bad_request",
    "forbidden",
    "internal_error",
    "limit_exceeded",
    "missing_auth_token",
    "not_found",
    "payload_too_large",
    "service_unavailable",
    "throttled",
    "timed_out",
    "unauthorized",
]


class GatewayError(Exception):
    """An answer API Gateway itself gives: status, ``{"message": ...}`` body and error type."""

    __slots__ = ("error_type", "headers", "message", "status")

    def __init__(
        self,
        status: int,
        message: str,
        error_type: str,
        headers: list[tuple[bytes, bytes]] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.error_type = error_type
        self.headers = headers or []


def not_found() -> GatewayError:
    return GatewayError(404, "Not Found", "NotFoundException")


def missing_auth_token() -> GatewayError:
    """What a REST API answers for a path/method it has no resource for."""
    return GatewayError(403, "Missing Authentication Token", "MissingAuthenticationTokenException")


def unauthorized() -> GatewayError:
    return GatewayError(401, "Unauthorized", "UnauthorizedException")


def forbidden() -> GatewayError:
    return GatewayError(403, "Forbidden", "ForbiddenException")


def access_denied() -> GatewayError:
    """A Lambda authorizer's policy denied the call (REST / payload 1.0 wording)."""
    return GatewayError(
        403, "User is not authorized to access this resource", "AccessDeniedException"
    )


def throttled() -> GatewayError:
    return GatewayError(429, "Too Many Requests", "TooManyRequestsException")


def limit_exceeded() -> GatewayError:
    return GatewayError(429, "Limit Exceeded", "LimitExceededException")


def payload_too_large() -> GatewayError:
    return GatewayError(413, "Request Entity Too Large", "RequestTooLargeException")


def headers_too_large() -> GatewayError:
    return GatewayError(
        431, "Request Header Fields Too Large", "RequestHeaderFieldsTooLargeException"
    )


def bad_request(message: str = "Bad Request") -> GatewayError:
    return GatewayError(400, message, "BadRequestException")


def internal_error(rest: bool = False) -> GatewayError:
    return GatewayError(
        500,
        "Internal server error" if rest else "Internal Server Error",
        "InternalServerErrorException",
    )


def bad_gateway(rest: bool = False) -> GatewayError:
    """A function error or a response API Gateway cannot map."""
    return GatewayError(
        502, "Internal server error" if rest else "Internal Server Error", "BadGatewayException"
    )


def service_unavailable() -> GatewayError:
    return GatewayError(503, "Service Unavailable", "ServiceUnavailableException")


def timed_out() -> GatewayError:
    return GatewayError(504, "Endpoint request timed out", "IntegrationTimeoutException")
