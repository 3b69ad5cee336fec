"""Shared plumbing: configuration from the environment, lazily created AWS clients, JSON logs
with the correlation id of the request or job in hand, and EMF metrics."""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from contextvars import ContextVar, Token
from functools import cache
from typing import Any

__all__ = [
    "client",
    "correlation",
    "env",
    "env_float",
    "env_int",
    "log",
    "metric",
    "now",
    "receive_count",
]

# The correlation id (seed: generated at the edge, propagated through SQS and Lambda, "included
# in every log line"): set per API request and per queue record; log() adds it.
_correlation: ContextVar[str | None] = ContextVar("syncwell_correlation", default=None)

_logger = logging.getLogger("syncwell")
if not _logger.handlers:
    _handler = logging.StreamHandler(sys.stderr)
    _handler.setFormatter(logging.Formatter("%(message)s"))
    _logger.addHandler(_handler)
    _logger.setLevel(os.environ.get("LOG_LEVEL", "WARNING").upper())
    _logger.propagate = False


def env(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_int(name: str, default: int) -> int:
    try:
        return int(os.environ.get(name, default))
    except ValueError:
        return default


def env_float(name: str, default: float) -> float:
    try:
        return float(os.environ.get(name, default))
    except ValueError:
        return default


def now() -> float:
    return time.time()


def correlation(correlation_id: str | None) -> Token[str | None]:
    """Make ``correlation_id`` the one every following log line of this context carries."""
    return _correlation.set(correlation_id or None)


def log(level: int, message: str, **fields: Any) -> None:
    """One structured JSON log line, with the current ``correlationId`` unless given."""
    if _logger.isEnabledFor(level):
        if fields.get("correlationId") is None:
            fields["correlationId"] = _correlation.get()
        _logger.log(
            level,
            json.dumps(
                {"level": logging.getLevelName(level), "msg": message, **fields}, default=str
            ),
        )


def metric(name: str, value: float, unit: str = "Count", **dimensions: str) -> None:
    """One CloudWatch Embedded Metric Format record (Powertools ``single_metric``) in namespace
    ``SyncWell``. Dimensions must stay low-cardinality (Tier, Outcome, Provider: never a user
    or job id). Never raises."""
    try:
        from aws_lambda_powertools.metrics import MetricUnit, single_metric

        with single_metric(
            name=name, unit=MetricUnit(unit), value=value, namespace="SyncWell"
        ) as emf:
            emf.add_dimension("service", "syncwell")
            for key, dim in dimensions.items():
                emf.add_dimension(key, str(dim))
    except Exception as exc:  # metrics must never fail the work they describe
        log(logging.DEBUG, "metric not emitted", metric=name, error=repr(exc)[:200])


@cache
def _client(service: str, endpoint: str | None, region: str) -> Any:
    import boto3
    from botocore.config import Config

    config = Config(
        retries={"max_attempts": 3, "mode": "standard"},
        connect_timeout=2,
        read_timeout=10,
        max_pool_connections=20,
    )
    return boto3.session.Session().client(
        service, endpoint_url=endpoint or None, region_name=region, config=config
    )


def client(service: str) -> Any:
    """A boto3 client, reused across invocations (keyed by the current endpoint settings)."""
    endpoint = os.environ.get(f"AWS_ENDPOINT_URL_{service.upper()}") or os.environ.get(
        "AWS_ENDPOINT_URL"
    )
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    return _client(service, endpoint, region)


def receive_count(record: dict[str, Any]) -> int:
    """An SQS record's ``ApproximateReceiveCount`` (1 when missing)."""
    try:
        return int((record.get("attributes") or {}).get("ApproximateReceiveCount", "1"))
    except ValueError:
        return 1
