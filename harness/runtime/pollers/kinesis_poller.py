"""Kinesis stream event source mapping: the DynamoDB Streams poller's semantics on a Kinesis
stream (ministack's Kinesis, through the AWS edge, so faults apply).

Per shard, in order: ``GetRecords`` up to ``BatchSize``, invoke synchronously, move on only when
the batch succeeded; retries (``MaximumRetryAttempts``), ``BisectBatchOnFunctionError``,
``ReportBatchItemFailures`` (``itemIdentifier`` = sequence number) and the on-failure destination
with ``KinesisBatchInfo`` are :class:`DynamoDBPoller`'s. Records are shaped as Lambda documents
them (``kinesis.data`` base64, ``eventID`` ``shardId:sequenceNumber``).
"""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

from harness.runtime.events import iso_ms
from harness.runtime.pollers.dynamodb_poller import DynamoDBPoller

__all__ = ["KinesisPoller", "kinesis_batch_info", "kinesis_record"]


def kinesis_record(
    raw: dict[str, Any], shard_id: str, stream_arn: str, region: str, role_arn: str | None = None
) -> dict[str, Any]:
    """Lambda's Kinesis event record from a GetRecords ``Records[]`` entry."""
    arrival = raw.get("ApproximateArrivalTimestamp")
    if isinstance(arrival, datetime):
        arrival = arrival.timestamp()
    data = raw.get("Data", b"")
    sequence = str(raw.get("SequenceNumber", ""))
    return {
        "kinesis": {
            "kinesisSchemaVersion": "1.0",
            "partitionKey": raw.get("PartitionKey"),
            "sequenceNumber": sequence,
            "data": base64.b64encode(
                data if isinstance(data, bytes) else str(data).encode()
            ).decode(),
            "approximateArrivalTimestamp": arrival,
        },
        "eventSource": "aws:kinesis",
        "eventVersion": "1.0",
        "eventID": f"{shard_id}:{sequence}",
        "eventName": "aws:kinesis:record",
        "invokeIdentityArn": role_arn or "",
        "awsRegion": region,
        "eventSourceARN": stream_arn,
    }


def kinesis_batch_info(
    records: list[dict[str, Any]], shard_id: str, stream_arn: str
) -> dict[str, Any]:
    """``KinesisBatchInfo`` of an on-failure record."""

    def arrival(record: dict[str, Any]) -> str:
        ts = record["kinesis"].get("approximateArrivalTimestamp")
        return iso_ms(float(ts)) if isinstance(ts, int | float) else iso_ms()

    return {
        "shardId": shard_id,
        "startSequenceNumber": records[0]["kinesis"]["sequenceNumber"],
        "endSequenceNumber": records[-1]["kinesis"]["sequenceNumber"],
        "approximateArrivalOfFirstRecord": arrival(records[0]),
        "approximateArrivalOfLastRecord": arrival(records[-1]),
        "batchSize": len(records),
        "streamArn": stream_arn,
    }


class KinesisPoller(DynamoDBPoller):
    kind = "kinesis"
    stream_arn_param = "StreamARN"
    batch_info_key = "KinesisBatchInfo"

    def event_source(self) -> str:
        return "aws:kinesis"

    def stream_client(self) -> Any:
        return self.aws.client("kinesis")

    def convert(self, raw: dict[str, Any], shard_id: str) -> dict[str, Any]:
        return kinesis_record(raw, shard_id, self.source.source_arn or "", self.aws.region)

    def sequence(self, record: dict[str, Any]) -> str:
        return str(record["kinesis"]["sequenceNumber"])

    def created(self, record: dict[str, Any]) -> float | None:
        ts = record["kinesis"].get("approximateArrivalTimestamp")
        return float(ts) if isinstance(ts, int | float) else None

    def kinesis_stream(self) -> str | None:
        arn = self.source.source_arn or ""
        return arn.rsplit("/", 1)[-1] if ":stream/" in arn else None

    def batch_info(self, records: list[dict[str, Any]], shard_id: str) -> dict[str, Any]:
        return kinesis_batch_info(records, shard_id, self.source.source_arn or "")
