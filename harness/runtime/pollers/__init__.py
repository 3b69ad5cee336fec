"""Event sources: one poller class per kind, created by name with a lazy import."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from harness.runtime.pollers.poller import Poller

if TYPE_CHECKING:
    from harness.model import EventSourceSpec

__all__ = ["POLLERS", "Poller", "create_poller"]

POLLERS = {
    "sqs": "harness.runtime.pollers.sqs_poller:SqsPoller",
    "sns": "harness.runtime.pollers.sns_poller:SnsPoller",
    "eventbridge": "harness.runtime.pollers.eventbridge_poller:EventBridgePoller",
    "dynamodb": "harness.runtime.pollers.dynamodb_poller:DynamoDBPoller",
    "schedule": "harness.runtime.pollers.schedule_poller:SchedulePoller",
    "s3": "harness.runtime.pollers.s3_poller:S3Poller",
    "kinesis": "harness.runtime.pollers.kinesis_poller:KinesisPoller",
}


def create_poller(source: EventSourceSpec, function: str, runtime: Any) -> Poller:
    try:
        target = POLLERS[source.kind]
    except KeyError:
        raise ValueError(f"unknown event source kind {source.kind!r}") from None
    module, cls = target.split(":")
    poller: Poller = getattr(importlib.import_module(module), cls)(source, function, runtime)
    return poller
