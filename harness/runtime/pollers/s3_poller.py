"""S3 event notifications: a bucket's NotificationConfiguration delivered as S3 sends it.

The emulator's S3 does not deliver notifications to the harness's queues, topics or functions,
so this poller watches the bucket: it lists it (``ListObjectsV2``, every ``idle_delay()``),
compares with what it saw, and for each object that appeared or changed (``ObjectCreated:Put``)
or disappeared (``ObjectRemoved:Delete``) whose key matches the configuration's prefix/suffix
filter, it sends one S3 event record (``{"Records": [...]}``, the documented shape, key
URL-encoded as S3 does) to the destination:

* a Lambda function: an asynchronous (``Event``) invocation, as S3 invokes Lambda, with the
  function's retries and on-failure destination;
* an SQS queue: ``SendMessage`` with the JSON event as the body;
* an SNS topic: ``Publish`` with the JSON event as the message, subject ``Amazon S3 Notification``.

Limits, refused at deploy where a template asks for them (``s3_bucket.refusals``): every creation
is reported as ``ObjectCreated:Put`` (a copy or a multipart upload looks the same from a listing);
an object overwritten twice between two listings is reported once; the ``s3:TestEvent`` S3 sends
to a queue or topic when the configuration is put is not sent. An object written within
``GRACE_S`` before the poller started is reported (the deploy returns before the first listing).
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from typing import Any
from urllib.parse import quote_plus

from harness.runtime.events import iso_ms
from harness.runtime.pollers.poller import Poller

__all__ = ["S3Poller", "key_matches", "s3_record"]

logger = logging.getLogger(__name__)

GRACE_S = 10.0
_Seen = dict[str, tuple[str, int]]  # key -> (etag, size)


def key_matches(key: str, rule: dict[str, Any], event_name: str) -> bool:
    """Whether a notification configuration ``rule`` (events, prefix, suffix) takes the event."""
    wanted = [str(e) for e in rule.get("events") or []]
    family = event_name.split(":", 1)[0]  # ObjectCreated / ObjectRemoved
    if not any(e in (f"s3:{event_name}", f"s3:{family}:*") for e in wanted):
        return False
    return key.startswith(str(rule.get("prefix") or "")) and key.endswith(
        str(rule.get("suffix") or "")
    )


def s3_record(
    *,
    event_name: str,
    bucket: str,
    key: str,
    region: str,
    configuration_id: str,
    size: int | None = None,
    etag: str | None = None,
    sequencer: str,
    when: float | None = None,
) -> dict[str, Any]:
    """One record of an S3 event notification (event message structure version 2.1)."""
    obj: dict[str, Any] = {"key": quote_plus(key, safe="/")}
    if event_name.startswith("ObjectCreated"):
        obj["size"] = int(size or 0)
        obj["eTag"] = (etag or "").strip('"')
    obj["sequencer"] = sequencer
    request_id = uuid.uuid4().hex[:16].upper()
    return {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": region,
        "eventTime": iso_ms(when),
        "eventName": event_name,
        "userIdentity": {"principalId": "AWS:HARNESSLOCAL"},
        "requestParameters": {"sourceIPAddress": "127.0.0.1"},
        "responseElements": {
            "x-amz-request-id": request_id,
            "x-amz-id-2": uuid.uuid4().hex + uuid.uuid4().hex,
        },
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": configuration_id,
            "bucket": {
                "name": bucket,
                "ownerIdentity": {"principalId": "HARNESSLOCAL"},
                "arn": f"arn:aws:s3:::{bucket}",
            },
            "object": obj,
        },
    }


class S3Poller(Poller):
    kind = "s3"

    def event_source(self) -> str:
        return "aws:s3"

    def idle_delay(self) -> float:
        return 0.5

    def setup(self) -> None:
        self.bucket = str(self.source.queue_url or "")
        if not self.bucket:
            raise ValueError(f"S3 source {self.name} names no bucket")
        self.rule = dict(self.source.filter_patterns[0]) if self.source.filter_patterns else {}
        self.s3 = self.aws.client("s3")
        self._sequence = int(time.time() * 1000)
        started = time.time()
        self.seen: _Seen = {}
        for item in self._list():
            # objects written just before the first listing are news, not history
            modified = item["LastModified"].timestamp()
            if modified < started - GRACE_S:
                self.seen[item["Key"]] = (str(item.get("ETag", "")), int(item.get("Size", 0)))

    def _list(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"Bucket": self.bucket}
        prefix = str(self.rule.get("prefix") or "")
        if prefix:
            kwargs["Prefix"] = prefix
        while True:
            page = self.s3.list_objects_v2(**kwargs)
            items.extend(page.get("Contents") or [])
            if not page.get("IsTruncated"):
                return items
            kwargs["ContinuationToken"] = page["NextContinuationToken"]

    def poll_events(self) -> bool:
        now: _Seen = {
            item["Key"]: (str(item.get("ETag", "")), int(item.get("Size", 0)))
            for item in self._list()
        }
        changes: list[tuple[str, str, tuple[str, int] | None]] = [
            ("ObjectCreated:Put", key, state)
            for key, state in now.items()
            if self.seen.get(key) != state
        ]
        for key in self.seen.keys() - now.keys():
            changes.append(("ObjectRemoved:Delete", key, None))
        self.seen = now
        sent = 0
        for event_name, key, state in sorted(changes, key=lambda c: c[1]):
            if not key_matches(key, self.rule, event_name):
                continue
            self._sequence += 1
            record = s3_record(
                event_name=event_name,
                bucket=self.bucket,
                key=key,
                region=self.aws.region,
                configuration_id=str(self.rule.get("id") or self.name),
                etag=state[0] if state else None,
                size=state[1] if state else None,
                sequencer=f"{self._sequence:016X}",
            )
            self._deliver({"Records": [record]})
            sent += 1
        if sent:
            self.metrics.batch(sent, None, time.time())
        return sent > 0

    def _deliver(self, event: dict[str, Any]) -> None:
        target = self.source.target_arn
        if not target:
            self.invoke_async(event)
        elif ":sqs:" in target:
            sqs = self.aws.client("sqs")
            account, name = target.split(":")[4:6]
            url = sqs.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"]
            sqs.send_message(QueueUrl=url, MessageBody=json.dumps(event))
        elif ":sns:" in target:
            self.aws.client("sns").publish(
                TopicArn=target, Message=json.dumps(event), Subject="Amazon S3 Notification"
            )
        else:  # refused at deploy; a hand-edited stack file lands here
            logger.error("%s: S3 notification destination %s is not served", self.name, target)
