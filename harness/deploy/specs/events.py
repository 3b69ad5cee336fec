"""EventSourceSpec for every way something invokes a function: event source mappings (SQS,
DynamoDB streams), SNS subscriptions with protocol lambda, EventBridge rule targets (patterns
and schedules) and EventBridge Scheduler schedules."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from typing import Any, Literal

from harness.deploy.specs.functions import FunctionIndex
from harness.deploy.unsupported import Unsupported
from harness.model import EventSourceSpec, ResourceRecord
from harness.runtime.filters import OPERATORS, unknown_operators

__all__ = ["build_event_sources"]

logger = logging.getLogger(__name__)

BACKEND = "harness runtime (event sources)"


def _pattern(value: Any) -> dict[str, Any] | None:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            return None
    return value if isinstance(value, dict) else None


def _mapping(
    logical_id: str,
    rec: ResourceRecord,
    index: FunctionIndex,
    records: Mapping[str, ResourceRecord],
    refuse: Callable[[str, str], None],
) -> EventSourceSpec | None:
    props = rec.properties
    function = index.target(props.get("FunctionName"))
    source = str(props.get("EventSourceArn", ""))
    if function is None:
        refuse(
            "FunctionName",
            f"{props.get('FunctionName')} is not a function of this stack; nothing would be invoked",
        )
        return None
    kind: Literal["sqs", "dynamodb", "kinesis"]
    if ":sqs:" in source:
        kind = "sqs"
    elif ":dynamodb:" in source or source.startswith("arn:aws:dynamodb"):
        kind = "dynamodb"
    elif ":kinesis:" in source and ":stream/" in source and "/consumer/" not in source:
        kind = "kinesis"
    else:
        refuse(
            "EventSourceArn",
            f"event source {source} is not polled locally (SQS queues, DynamoDB streams and "
            "Kinesis streams are)",
        )
        return None
    queue_url = None
    if kind == "sqs":
        for other in records.values():
            if other.type == "AWS::SQS::Queue" and other.arn == source:
                queue_url = other.physical_id
    filters = [
        p
        for p in (
            _pattern(f.get("Pattern"))
            for f in (props.get("FilterCriteria") or {}).get("Filters", [])
        )
        if p
    ]
    for n, pattern in enumerate(filters):
        unknown = unknown_operators(pattern)
        if unknown:
            refuse(
                f"FilterCriteria.Filters[{n}].Pattern",
                f"filter operator(s) {', '.join(unknown)} are not evaluated locally (known: "
                + ", ".join(sorted(OPERATORS))
                + ")",
            )
    scaling = props.get("ScalingConfig") or {}
    on_failure = ((props.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination")
    return EventSourceSpec(
        kind=kind,
        function=function,
        source_arn=source,
        queue_url=queue_url,
        batch_size=int(props.get("BatchSize", 10 if kind == "sqs" else 100)),
        batching_window_s=float(props.get("MaximumBatchingWindowInSeconds", 0)),
        maximum_concurrency=int(scaling["MaximumConcurrency"])
        if "MaximumConcurrency" in scaling
        else None,
        report_batch_item_failures="ReportBatchItemFailures"
        in (props.get("FunctionResponseTypes") or []),
        starting_position=props.get("StartingPosition"),
        bisect_on_error=bool(props.get("BisectBatchOnFunctionError", False)),
        maximum_retry_attempts=int(props.get("MaximumRetryAttempts", -1)),
        on_failure_arn=on_failure,
        filter_patterns=filters,
        enabled=str(props.get("Enabled", True)).lower() != "false",
        name=logical_id,
    )


def _s3_filter(entry: Mapping[str, Any]) -> dict[str, Any]:
    rules = ((entry.get("Filter") or {}).get("S3Key") or {}).get("Rules") or []
    out: dict[str, Any] = {"events": [str(entry.get("Event", ""))], "id": entry.get("Id")}
    for rule in rules:
        name = str(rule.get("Name", "")).lower()
        if name in ("prefix", "suffix"):
            out[name] = str(rule.get("Value", ""))
    return out


def _s3_notifications(
    logical_id: str,
    rec: ResourceRecord,
    index: FunctionIndex,
    refuse: Callable[[str, str], None],
) -> list[EventSourceSpec]:
    """One source per destination of the bucket's NotificationConfiguration (SAM's
    ``Events: Type: S3`` arrive here too, as LambdaConfigurations)."""
    config = rec.properties["NotificationConfiguration"]
    out = []
    for key, arn_key in (
        ("LambdaConfigurations", "Function"),
        ("QueueConfigurations", "Queue"),
        ("TopicConfigurations", "Topic"),
    ):
        for n, entry in enumerate(config.get(key) or []):
            target = str(entry.get(arn_key, ""))
            function = index.target(target) if key == "LambdaConfigurations" else None
            if key == "LambdaConfigurations" and function is None:
                refuse(
                    f"NotificationConfiguration.{key}[{n}].Function",
                    f"{target} is not a function of this stack; nothing would be invoked",
                )
                continue
            out.append(
                EventSourceSpec(
                    kind="s3",
                    function=function or "",
                    source_arn=rec.arn,
                    queue_url=rec.physical_id,  # the bucket's name
                    batch_size=1,
                    filter_patterns=[_s3_filter(entry)],
                    target_arn=None if function else target,
                    name=f"{logical_id}:{key}[{n}]",
                )
            )
    return out


def build_event_sources(
    records: Mapping[str, ResourceRecord],
    *,
    unsupported: list[Unsupported] | None = None,
    file: str = "template.yaml",
) -> list[EventSourceSpec]:
    """Every event source; one that would invoke nothing is added to ``unsupported`` (logged
    when no list is given)."""
    index = FunctionIndex(records)
    sources: list[EventSourceSpec] = []
    for logical_id, rec in records.items():
        props = rec.properties

        def refuse(where: str, reason: str, logical_id: str = logical_id) -> None:
            if unsupported is None:
                logger.warning("%s.%s: %s", logical_id, where, reason)
            else:
                unsupported.append(Unsupported(file, logical_id, where, reason, BACKEND))

        if rec.type == "AWS::Lambda::EventSourceMapping":
            spec = _mapping(logical_id, rec, index, records, refuse)
            if spec:
                sources.append(spec)
        elif (
            rec.type == "AWS::SNS::Subscription"
            and str(props.get("Protocol", "")).lower() == "lambda"
        ):
            function = index.target(props.get("Endpoint"))
            if function is None:
                refuse(
                    "Endpoint",
                    f"{props.get('Endpoint')} is not a function of this stack; SNS deliveries to "
                    "Lambda reach only the stack's own functions locally",
                )
            else:
                filter_policy = _pattern(props.get("FilterPolicy"))
                sources.append(
                    EventSourceSpec(
                        kind="sns",
                        function=function,
                        source_arn=props.get("TopicArn"),
                        batch_size=1,
                        filter_patterns=[filter_policy] if filter_policy else [],
                        name=logical_id,
                    )
                )
        elif rec.type == "AWS::SNS::Topic":
            for n, sub in enumerate(props.get("Subscription") or []):
                function = index.target(sub.get("Endpoint"))
                if str(sub.get("Protocol", "")).lower() == "lambda" and function:
                    sources.append(
                        EventSourceSpec(
                            kind="sns",
                            function=function,
                            source_arn=rec.arn,
                            batch_size=1,
                            name=f"{logical_id}Subscription{n}",
                        )
                    )
        elif rec.type == "AWS::Events::Rule":
            for n, target in enumerate(props.get("Targets") or []):
                function = index.target(target.get("Arn"))
                if not function:
                    service = str(target.get("Arn", "")).split(":")[2:3]
                    if service and service[0] not in ("sqs", "sns", "events"):
                        refuse(
                            f"Targets[{n}].Arn",
                            f"{target.get('Arn')}: the local EventBridge delivers to SQS, SNS, "
                            "other buses and the stack's own functions only",
                        )
                    continue
                schedule = props.get("ScheduleExpression")
                pattern = _pattern(props.get("EventPattern"))
                retry = target.get("RetryPolicy") or {}
                sources.append(
                    EventSourceSpec(
                        kind="schedule" if schedule else "eventbridge",
                        function=function,
                        source_arn=rec.arn,
                        batch_size=1,
                        schedule=schedule,
                        filter_patterns=[pattern] if pattern else [],
                        input=target.get("Input"),
                        maximum_retry_attempts=int(retry.get("MaximumRetryAttempts", -1)),
                        on_failure_arn=(target.get("DeadLetterConfig") or {}).get("Arn"),
                        enabled=str(props.get("State", "ENABLED")).upper() == "ENABLED",
                        name=f"{logical_id}:{target.get('Id', function)}",
                    )
                )
        elif rec.type == "AWS::S3::Bucket" and isinstance(
            props.get("NotificationConfiguration"), Mapping
        ):
            sources.extend(_s3_notifications(logical_id, rec, index, refuse))
        elif rec.type == "AWS::Scheduler::Schedule":
            target = props.get("Target") or {}
            function = index.target(target.get("Arn"))
            if function is None:
                refuse(
                    "Target.Arn",
                    f"{target.get('Arn')} is not a function of this stack; the runtime fires "
                    "Scheduler schedules only at the stack's own functions",
                )
            else:
                retry = target.get("RetryPolicy") or {}
                sources.append(
                    EventSourceSpec(
                        kind="schedule",
                        function=function,
                        source_arn=rec.arn,
                        batch_size=1,
                        schedule=props.get("ScheduleExpression"),
                        input=target.get("Input"),
                        maximum_retry_attempts=int(retry.get("MaximumRetryAttempts", -1)),
                        on_failure_arn=(target.get("DeadLetterConfig") or {}).get("Arn"),
                        enabled=str(props.get("State", "ENABLED")).upper() == "ENABLED",
                        name=logical_id,
                    )
                )
    return sources
