"""Custom metrics from Embedded Metric Format log lines, extracted as CloudWatch Logs does.

A function (Powertools' ``Metrics``, ``aws-embedded-metrics``) prints one JSON object per line::

    {"_aws": {"Timestamp": 1765100000000,
              "CloudWatchMetrics": [{"Namespace": "SyncWell", "Dimensions": [["service"]],
                                     "Metrics": [{"Name": "JobsFailed", "Unit": "Count"}]}]},
     "service": "sync", "JobsFailed": 2}

Each metric directive yields, for each dimension set, the metric named by ``Metrics[].Name``
with the root member of that name as its value (a number, or an array of up to 100 numbers),
at ``Timestamp``. As in CloudWatch, a directive whose dimension names a member that is absent
(or not a string), or a metric whose value is not numeric, is not extracted; the reason is
returned so the runtime can log it. Specification:
https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

__all__ = ["EmfDatapoint", "extract", "looks_like_emf"]


@dataclass(frozen=True, slots=True)
class EmfDatapoint:
    namespace: str
    name: str
    dimensions: dict[str, str]
    values: tuple[float, ...]
    timestamp: float  # seconds


def looks_like_emf(text: str) -> bool:
    return text.startswith("{") and '"_aws"' in text


def _numbers(value: Any) -> tuple[float, ...] | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return (float(value),)
    if (
        isinstance(value, list)
        and 0 < len(value) <= 100
        and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
    ):
        return tuple(float(v) for v in value)
    return None


def extract(text: str) -> tuple[list[EmfDatapoint], list[str]]:
    """Datapoints of one log line, and why anything in it was not extracted."""
    try:
        doc = json.loads(text)
    except ValueError:
        return [], ["not JSON"]
    if not isinstance(doc, dict):
        return [], ["not a JSON object"]
    meta = doc.get("_aws")
    if not isinstance(meta, dict):
        return [], ["no _aws member"]
    timestamp = meta.get("Timestamp")
    if not isinstance(timestamp, int | float) or isinstance(timestamp, bool):
        return [], ["_aws.Timestamp is not a number of milliseconds"]
    directives = meta.get("CloudWatchMetrics")
    if not isinstance(directives, list):
        return [], ["_aws.CloudWatchMetrics is not a list"]
    out: list[EmfDatapoint] = []
    problems: list[str] = []
    for directive in directives:
        if not isinstance(directive, dict) or not isinstance(directive.get("Namespace"), str):
            problems.append("a metric directive without a Namespace")
            continue
        namespace = directive["Namespace"]
        dimension_sets = directive.get("Dimensions") or [[]]
        metrics = directive.get("Metrics") or []
        sets: list[dict[str, str]] = []
        for names in dimension_sets:
            if not isinstance(names, list) or len(names) > 30:
                problems.append(f"{namespace}: a dimension set is not a list of up to 30 names")
                continue
            missing = [n for n in names if not isinstance(doc.get(n), str)]
            if missing:
                problems.append(
                    f"{namespace}: dimension {', '.join(map(str, missing))} has no string value"
                )
                continue
            sets.append({n: doc[n] for n in names})
        for metric in metrics:
            name = metric.get("Name") if isinstance(metric, dict) else None
            if not isinstance(name, str):
                problems.append(f"{namespace}: a metric without a Name")
                continue
            values = _numbers(doc.get(name))
            if values is None:
                problems.append(f"{namespace}/{name}: the value is not a number or number array")
                continue
            for dims in sets:
                out.append(EmfDatapoint(namespace, name, dims, values, timestamp / 1000))
    return out, problems
