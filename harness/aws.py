"""boto3 clients and environment variables pointed at a running environment."""

from __future__ import annotations

from typing import Any

__all__ = ["TEST_CREDENTIALS", "aws_environ", "client_for"]

TEST_CREDENTIALS = {"aws_access_key_id": "test", "aws_secret_access_key": "test"}

_CLIENT_TO_SIGNING = {"cloudwatch": "monitoring", "stepfunctions": "states"}


def _service_url(endpoints: dict[str, Any], service: str, direct: bool) -> str:
    if not direct:
        return str(endpoints["aws_endpoint"])
    services: dict[str, str] = endpoints["services"]
    signing = _CLIENT_TO_SIGNING.get(service, service)
    return services.get(signing, services["default"])


def client_for(
    endpoints: dict[str, Any], service: str, *, direct: bool = False, **kwargs: Any
) -> Any:
    """A boto3 client for ``service``; ``direct`` skips the edge (and so any injected fault)."""
    import boto3
    from botocore.config import Config

    config = kwargs.pop("config", None) or Config(
        retries={"max_attempts": 3, "mode": "standard"},
        max_pool_connections=32,
        connect_timeout=5,
        read_timeout=30,
    )
    params: dict[str, Any] = {
        "endpoint_url": _service_url(endpoints, service, direct),
        "region_name": endpoints.get("region", "us-east-1"),
        "config": config,
        **TEST_CREDENTIALS,
    }
    params.update(kwargs)
    return boto3.client(service, **params)


def aws_environ(endpoints: dict[str, Any]) -> dict[str, str]:
    """Environment variables that make any AWS SDK in a child process use the edge.

    The same static key as the harness's own clients and no session token: the services
    emulator checks the token of a pre-signed S3 URL against the one it knows for the key (none),
    so a URL a function pre-signed with a made-up token would be refused (InvalidToken)."""
    return {
        "AWS_ENDPOINT_URL": str(endpoints["aws_endpoint"]),
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": str(endpoints.get("region", "us-east-1")),
        "AWS_REGION": str(endpoints.get("region", "us-east-1")),
    }
