"""SQS event source mapping: batches, batching window, partial batch responses, FIFO groups.

Messages the function did not process are simply not deleted: they become visible again after
the queue's visibility timeout, and the queue's own ``RedrivePolicy`` moves them to its
dead-letter queue after ``maxReceiveCount`` receives (MiniStack implements redrive on receive, as
SQS does, so the poller does not move anything itself). FIFO order holds because SQS does not hand
out a message of a group while an earlier one of that group is in flight, whichever poller thread
holds it.
"""

from __future__ import annotations

import time
from typing import Any

from harness.runtime.events import parse_batch_response, sqs_record
from harness.runtime.filters import matches_any, sqs_filter_view
from harness.runtime.pollers.poller import Poller

__all__ = ["SqsPoller", "delete_messages", "receive_messages"]

MAX_RECEIVE = 10  # SQS ReceiveMessage limit per call


def receive_messages(
    sqs: Any, queue_url: str, count: int, wait_s: float, window_s: float, stop: Any = None
) -> list[dict[str, Any]]:
    """Up to ``count`` messages: long-poll for the first, then fill until the window closes."""
    messages: list[dict[str, Any]] = []
    deadline = time.monotonic() + window_s
    while len(messages) < count:
        first = not messages
        wait = round(wait_s) if first else 0
        if not first and window_s > 0:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            wait = min(20, max(0, int(remaining)))
        response = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=min(MAX_RECEIVE, count - len(messages)),
            WaitTimeSeconds=wait,
            AttributeNames=["All"],
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        got = response.get("Messages") or []
        messages += got
        if first and not got:
            break
        if not got and (window_s <= 0 or time.monotonic() >= deadline):
            break
        if window_s <= 0 and len(got) < MAX_RECEIVE:
            break
        if stop is not None and stop.is_set():
            break
    return messages


def delete_messages(sqs: Any, queue_url: str, receipts: list[str]) -> int:
    """Delete by receipt handle in batches of 10; returns how many could not be deleted."""
    failed = 0
    for start in range(0, len(receipts), 10):
        chunk = receipts[start : start + 10]
        response = sqs.delete_message_batch(
            QueueUrl=queue_url,
            Entries=[{"Id": str(i), "ReceiptHandle": h} for i, h in enumerate(chunk)],
        )
        failed += len(response.get("Failed") or [])
    return failed


class SqsPoller(Poller):
    kind = "sqs"

    def event_source(self) -> str:
        return "aws:sqs"

    def setup(self) -> None:
        source = self.source
        if source.queue_url:
            self.queue_url = source.queue_url
            self.queue_arn = source.source_arn or self.aws.queue_arn(source.queue_url)
        elif source.source_arn:
            self.queue_arn = source.source_arn
            self.queue_url = self.aws.queue_url(source.source_arn)
        else:
            raise ValueError(f"SQS source {self.name} names no queue")
        self.sqs = self.aws.sqs_fast()

    def threads(self) -> int:
        # ScalingConfig.MaximumConcurrency caps concurrent invocations: one poller thread each
        # (each thread runs one batch at a time), bounded by sqs_max_pollers on this machine.
        limit = self.source.maximum_concurrency
        if limit:
            return max(1, min(limit, self.config.sqs_max_pollers))
        return max(1, self.config.sqs_pollers)

    def poll_events(self) -> bool:
        source = self.source
        messages = receive_messages(
            self.sqs,
            self.queue_url,
            max(1, source.batch_size),
            self.config.poll_wait_s,
            source.batching_window_s,
            self._stop,
        )
        if not messages:
            return False
        now = time.time()
        sent = [int(m.get("Attributes", {}).get("SentTimestamp", now * 1000)) for m in messages]
        self.metrics.batch(len(messages), now - min(sent) / 1000, now)
        records = [sqs_record(m, self.queue_arn, self.aws.region) for m in messages]
        patterns = source.filter_patterns
        if patterns:
            # Lambda deletes messages that match no filter without invoking the function.
            skipped = [r for r in records if not matches_any(patterns, sqs_filter_view(r))]
            if skipped:
                delete_messages(self.sqs, self.queue_url, [r["receiptHandle"] for r in skipped])
                self.metrics.add(filtered=len(skipped))
                records = [r for r in records if r not in skipped]
            if not records:
                return True
        result = self.invoke({"Records": records})
        ids = [r["messageId"] for r in records]
        if not result.ok:
            failed = set(ids)
        elif source.report_batch_item_failures:
            failed = set(parse_batch_response(result.payload, ids).failed_ids)
        else:
            failed = set()
        done = [r["receiptHandle"] for r in records if r["messageId"] not in failed]
        if failed:
            self.metrics.add(failures=len(failed))
        if done:
            delete_messages(self.sqs, self.queue_url, done)
        return True

    def extra_metrics(self) -> dict[str, Any]:
        if not getattr(self, "queue_url", None):
            return {}
        attrs = self.sqs.get_queue_attributes(
            QueueUrl=self.queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return {
            "queue_depth": int(attrs.get("ApproximateNumberOfMessages", 0)),
            "in_flight": int(attrs.get("ApproximateNumberOfMessagesNotVisible", 0)),
        }
