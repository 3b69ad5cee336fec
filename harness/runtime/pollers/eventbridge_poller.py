"""EventBridge rule target: the emulator matches patterns and delivers to an internal SQS target.

The rule is the one the deployer created (``source_arn``); the poller adds a target that points
at its own queue (``Input`` passed through when the source records one) and turns each delivered
event into an asynchronous invocation, as EventBridge invokes Lambda asynchronously.
"""

from __future__ import annotations

import json
import time
from typing import Any

from harness.runtime.destinations import arn_parts
from harness.runtime.pollers.poller import Poller
from harness.runtime.pollers.sqs_poller import delete_messages, receive_messages

__all__ = ["EventBridgePoller", "rule_name_and_bus"]


def rule_name_and_bus(rule_arn: str) -> tuple[str, str]:
    """``arn:...:rule/name`` → (name, "default"); ``arn:...:rule/bus/name`` → (name, bus)."""
    resource = arn_parts(rule_arn)[3]
    parts = resource.split("/")
    if parts[0] != "rule" or len(parts) < 2:
        raise ValueError(f"not a rule ARN: {rule_arn!r}")
    return parts[-1], parts[1] if len(parts) == 3 else "default"


class EventBridgePoller(Poller):
    kind = "eventbridge"

    def event_source(self) -> str:
        return "aws:events"

    def setup(self) -> None:
        if not self.source.source_arn:
            raise ValueError(f"EventBridge source {self.name} names no rule")
        self.rule, self.bus = rule_name_and_bus(self.source.source_arn)
        self.sqs = self.aws.client("sqs")
        self.fast = self.aws.sqs_fast()
        self.events = self.aws.client("events")
        self.queue_url = self.sqs.create_queue(QueueName=self.internal_name("eb"))["QueueUrl"]
        target: dict[str, Any] = {
            "Id": self.internal_name("t")[:64],
            "Arn": self.aws.queue_arn(self.queue_url),
        }
        if self.source.input is not None:
            target["Input"] = self.source.input
        self.target_id = target["Id"]
        self.events.put_targets(Rule=self.rule, EventBusName=self.bus, Targets=[target])

    def poll_events(self) -> bool:
        messages = receive_messages(self.fast, self.queue_url, 10, self.config.poll_wait_s, 0.0)
        if not messages:
            return False
        self.metrics.batch(len(messages), None, time.time())
        events: list[Any] = []
        for message in messages:
            if self.source.input is not None:
                event: Any = json.loads(self.source.input)  # constant Input, whatever matched
            else:
                try:
                    event = json.loads(message.get("Body") or "null")
                except ValueError:
                    event = message.get("Body")
            events.append(event)
        # EventBridge invokes its target with the PutEvents caller's X-Ray context
        traces = self.carried_traces(
            [str(e.get("id") or "") if isinstance(e, dict) else None for e in events]
        )
        for event, trace in zip(events, traces, strict=True):
            self.invoke_async(event, trace)
        delete_messages(self.fast, self.queue_url, [m["ReceiptHandle"] for m in messages])
        return True

    def teardown(self) -> None:
        self.events.remove_targets(Rule=self.rule, EventBusName=self.bus, Ids=[self.target_id])
        self.sqs.delete_queue(QueueUrl=self.queue_url)

    def extra_metrics(self) -> dict[str, Any]:
        if not getattr(self, "queue_url", None):
            return {}
        attrs = self.sqs.get_queue_attributes(
            QueueUrl=self.queue_url, AttributeNames=["ApproximateNumberOfMessages"]
        )["Attributes"]
        return {"queue_depth": int(attrs.get("ApproximateNumberOfMessages", 0))}
