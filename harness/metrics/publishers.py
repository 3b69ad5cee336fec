"""What each component publishes, as CloudWatch names it: small functions the gateway, the
runtime and the AWS edge call on their hot paths (keys are built once and cached).

* API Gateway (per request): ``Count``, ``4XXError``/``5XXError`` (REST) or ``4xx``/``5xx``
  (HTTP APIs), ``Latency``, ``IntegrationLatency``; REST under ``ApiName``, ``ApiName+Stage``,
  ``ApiName+Stage+Resource+Method``; HTTP under ``ApiId``, ``ApiId+Stage``,
  ``ApiId+Stage+Route``. 0 or 1 per request for the error metrics, so Average is the rate.
* Lambda (per invocation): ``Invocations``, ``Errors`` (0/1), ``Duration``,
  ``ConcurrentExecutions`` (in flight when it started), ``Throttles`` (a refused invocation),
  ``ProvisionedConcurrencySpilloverInvocations``; without dimensions, per ``FunctionName``
  and per ``FunctionName+Resource``.
* Stream event source mappings (per batch handed to the function): ``AWS/Lambda``
  ``IteratorAge`` (ms, the batch's last record, per ``FunctionName``, ``FunctionName+Resource``
  and without dimensions) and, for Kinesis, ``AWS/Kinesis`` ``GetRecords.IteratorAgeMilliseconds``
  per ``StreamName`` (as the mapping's GetRecords saw it; other consumers are not observed).
* Custom metrics (per output line of a function): Embedded Metric Format, :func:`emf_lines`.
* The edge's per-call metrics live in :mod:`harness.edge.metrics`.
"""

from __future__ import annotations

import logging

from harness.metrics.recorder import MetricKey, key, put

__all__ = ["api_request", "emf_lines", "iterator_age", "lambda_invocation", "lambda_throttle"]

logger = logging.getLogger(__name__)

_API_KEYS: dict[tuple[str, str, str, str], tuple[MetricKey, ...]] = {}
_LAMBDA_KEYS: dict[str, tuple[MetricKey, ...]] = {}


def _api_keys(kind: str, api: str, stage: str, route: str) -> tuple[MetricKey, ...]:
    cache = (kind, api, stage, route)
    keys = _API_KEYS.get(cache)
    if keys is None:
        if kind == "rest":
            method, _, resource = route.partition(" ")
            sets = (
                {"ApiName": api},
                {"ApiName": api, "Stage": stage},
                {"ApiName": api, "Stage": stage, "Resource": resource or "/", "Method": method},
            )
            names = ("Count", "4XXError", "5XXError", "Latency", "IntegrationLatency")
        else:
            sets = ({"ApiId": api}, {"ApiId": api, "Stage": stage},
                    {"ApiId": api, "Stage": stage, "Route": route})  # fmt: skip
            names = ("Count", "4xx", "5xx", "Latency", "IntegrationLatency")
        keys = _API_KEYS[cache] = tuple(key("AWS/ApiGateway", n, *sets) for n in names)
    return keys


def api_request(
    kind: str,
    api: str,
    stage: str,
    route: str,
    status: int,
    latency_ms: float,
    integration_ms: float | None,
) -> None:
    """One request answered by the gateway (``api``: ApiName for REST, ApiId for HTTP)."""
    count, e4, e5, latency, integration = _api_keys(kind, api, stage, route)
    put(count, 1.0)
    put(e4, 1.0 if 400 <= status < 500 else 0.0)
    put(e5, 1.0 if status >= 500 else 0.0)
    put(latency, round(latency_ms, 1))
    if integration_ms is not None:
        put(integration, round(integration_ms, 1))


def _lambda_keys(function: str) -> tuple[MetricKey, ...]:
    keys = _LAMBDA_KEYS.get(function)
    if keys is None:
        sets: tuple[dict[str, str], ...] = (
            {},
            {"FunctionName": function},
            {"FunctionName": function, "Resource": function},
        )
        keys = _LAMBDA_KEYS[function] = tuple(
            key("AWS/Lambda", n, *sets)
            for n in (
                "Invocations",
                "Errors",
                "Duration",
                "ConcurrentExecutions",
                "Throttles",
                "ProvisionedConcurrencySpilloverInvocations",
            )
        )
    return keys


def lambda_invocation(
    function: str, duration_ms: float, error: bool, concurrent: int, spillover: bool = False
) -> None:
    invocations, errors, duration, concurrency, _throttles, spill = _lambda_keys(function)
    put(invocations, 1.0)
    put(errors, 1.0 if error else 0.0)
    put(duration, round(duration_ms, 1))
    put(concurrency, float(concurrent))
    if spillover:
        put(spill, 1.0)


def lambda_throttle(function: str) -> None:
    put(_lambda_keys(function)[4], 1.0)


def iterator_age(function: str, age_ms: float, kinesis_stream: str | None = None) -> None:
    """A stream batch handed to ``function``; ``age_ms``: now minus its last record's arrival."""
    sets: tuple[dict[str, str], ...] = (
        {},
        {"FunctionName": function},
        {"FunctionName": function, "Resource": function},
    )
    put(key("AWS/Lambda", "IteratorAge", *sets), round(max(0.0, age_ms), 1))
    if kinesis_stream:
        dims = {"StreamName": kinesis_stream}
        put(key("AWS/Kinesis", "GetRecords.IteratorAgeMilliseconds", dims), round(max(0.0, age_ms)))


def emf_lines(lines: list[list[str]]) -> int:
    """Extract EMF custom metrics from a function's output lines (``[stream, level, text]``);
    returns the datapoints recorded. Lines CloudWatch would reject are logged, not recorded."""
    from harness.metrics import emf

    recorded = 0
    for line in lines:
        text = line[2] if len(line) > 2 else ""
        if not emf.looks_like_emf(text):
            continue
        points, problems = emf.extract(text)
        for problem in problems:
            logger.info("EMF line not extracted: %s", problem)
        for point in points:
            metric = key(point.namespace, point.name, point.dimensions)
            for value in point.values:
                put(metric, value, point.timestamp)
                recorded += 1
    return recorded
