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

    # Timeouts per function (template environment): a dependency that hangs (a blackholed
    # endpoint) must cost a synchronous function less than its caller's timeout, so the API
    # answers 503 instead of running into its own 10 s timeout (a 504 at the client's 10 s).
    # total_max_attempts counts the first attempt: the worst case is attempts x (connect+read).
    config = Config(
        retries={"total_max_attempts": env_int("AWS_MAX_ATTEMPTS", 4), "mode": "standard"},
        connect_timeout=env_float("AWS_CONNECT_TIMEOUT_S", 2.0),
        read_timeout=env_float("AWS_READ_TIMEOUT_S", 10.0),
        max_pool_connections=20,
    )
    made = boto3.session.Session().client(
        service, endpoint_url=endpoint or None, region_name=region, config=config
    )
    from syncwell import failfast  # imports this module: imported here, not at the top

    failfast.install(made, service)
    return made


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
