"""SNS subscription: an internal SQS queue subscribed to the topic, drained into async invokes.

SNS invokes Lambda asynchronously, one record per invocation, so each notification becomes an
``Event`` invocation (with the function's own retries and on-failure destination).

The internal queue's name is derived from the function and topic, so a restarted runtime finds
the same queue and subscription: notifications published while it was down are delivered when it
comes back. They are removed only when the source disappears from the stack (``teardown``).
"""

from __future__ import annotations

import json
import time
from typing import Any

from harness.runtime.events import sns_record
from harness.runtime.pollers.poller import Poller
from harness.runtime.pollers.sqs_poller import delete_messages, receive_messages

__all__ = ["SnsPoller"]


class SnsPoller(Poller):
    kind = "sns"

    def event_source(self) -> str:
        return "aws:sns"

    def setup(self) -> None:
        if not self.source.source_arn:
            raise ValueError(f"SNS source {self.name} names no topic")
        self.sqs = self.aws.client("sqs")
        self.fast = self.aws.sqs_fast()
        self.sns = self.aws.client("sns")
        self.queue_url = self.sqs.create_queue(QueueName=self.internal_name("sns"))["QueueUrl"]
        queue_arn = self.aws.queue_arn(self.queue_url)
        attributes: dict[str, str] = {}
        if self.source.filter_patterns:
            attributes["FilterPolicy"] = json.dumps(self.source.filter_patterns[0])
        self.subscription_arn = self.sns.subscribe(
            TopicArn=self.source.source_arn,
            Protocol="sqs",
            Endpoint=queue_arn,
            Attributes=attributes,
            ReturnSubscriptionArn=True,
        )["SubscriptionArn"]

    def poll_events(self) -> bool:
        messages = receive_messages(self.fast, self.queue_url, 10, self.config.poll_wait_s, 0.0)
        if not messages:
            return False
        self.metrics.batch(len(messages), None, time.time())
        notifications: list[dict[str, Any]] = []
        for message in messages:
            try:
                notification = json.loads(message.get("Body") or "{}")
            except ValueError:
                notification = {"Message": message.get("Body", "")}
            if not isinstance(notification, dict) or "Message" not in notification:
                notification = {
                    "Message": message.get("Body", ""),
                    "TopicArn": self.source.source_arn,
                }
            notifications.append(notification)
        # SNS invokes the function with the publisher's X-Ray context (harness/obs/carry.py)
        traces = self.carried_traces([str(n.get("MessageId") or "") for n in notifications])
        for notification, trace in zip(notifications, traces, strict=True):
            record = sns_record(notification, self.subscription_arn)
            self.invoke_async({"Records": [record]}, trace)
        delete_messages(self.fast, self.queue_url, [m["ReceiptHandle"] for m in messages])
        return True

    def teardown(self) -> None:
        self.sns.unsubscribe(SubscriptionArn=self.subscription_arn)
        self.sqs.delete_queue(QueueUrl=self.queue_url)

    def extra_metrics(self) -> dict[str, Any]:
        if not getattr(self, "queue_url", None):
            return {}
        attrs = self.sqs.get_queue_attributes(
            QueueUrl=self.queue_url, AttributeNames=["ApproximateNumberOfMessages"]
        )["Attributes"]
        return {"queue_depth": int(attrs.get("ApproximateNumberOfMessages", 0))}
