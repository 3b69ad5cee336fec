"""DynamoDB Streams event source mapping (against the ``dynamodbstreams`` endpoint directly).

Per shard, in order: ``GetRecords`` up to ``BatchSize``, invoke synchronously, and move on only
when the batch succeeded. A failed batch is retried (``MaximumRetryAttempts``, -1 = until it
succeeds), split in two first when ``BisectBatchOnFunctionError`` is set, and finally skipped
after its batch info is sent to the on-failure destination. ``ReportBatchItemFailures``
(``itemIdentifier`` = sequence number) retries from the first failed record.
"""

from __future__ import annotations

import time
from typing import Any

from botocore.exceptions import ClientError

from harness.metrics.publishers import iterator_age
from harness.runtime.events import (
    ddb_batch_info,
    ddb_record,
    destination_record,
    parse_batch_response,
)
from harness.runtime.filters import matches_any
from harness.runtime.pollers.poller import Poller

__all__ = ["DynamoDBPoller"]


class DynamoDBPoller(Poller):
    kind = "dynamodb"

    def event_source(self) -> str:
        return "aws:dynamodb"

    # what differs between stream kinds (kinesis_poller.py overrides these)
    stream_arn_param = "StreamArn"
    batch_info_key = "DDBStreamBatchInfo"

    def stream_client(self) -> Any:
        return self.aws.client("dynamodbstreams", direct=True)

    def convert(self, raw: dict[str, Any], shard_id: str) -> dict[str, Any]:
        """A GetRecords record (of ``shard_id``) as the function gets it."""
        return ddb_record(raw, self.source.source_arn or "", self.aws.region)

    def sequence(self, record: dict[str, Any]) -> str:
        return str(record["dynamodb"].get("SequenceNumber", ""))

    def created(self, record: dict[str, Any]) -> float | None:
        ts = record["dynamodb"].get("ApproximateCreationDateTime")
        return float(ts) if isinstance(ts, int | float) else None

    def batch_info(self, records: list[dict[str, Any]], shard_id: str) -> dict[str, Any]:
        # the records' own ARN: the stream's, in the environment's region
        arn = records[0].get("eventSourceARN") if records else None
        return ddb_batch_info(records, shard_id, arn or self.source.source_arn or "")

    def function_name(self) -> str:
        try:
            return self.runtime.resolve(self.function).name
        except Exception:  # deleted meanwhile: the name it was registered with
            return self.function.rsplit(":", 1)[-1]

    def kinesis_stream(self) -> str | None:
        return None

    def setup(self) -> None:
        if not self.source.source_arn:
            raise ValueError(f"{self.kind} source {self.name} names no stream")
        self.streams = self.stream_client()
        self.iterators: dict[str, str | None] = {}
        self.checkpoints: dict[str, str] = {}  # shard → last sequence number handled
        self.positions: dict[str, str] = {}  # shard → iterator type it started from
        self.caught_up: dict[str, float] = {}  # shard → when a read last reached its end
        self.done_shards: set[str] = set()
        self.last_describe = 0.0
        self._discover(initial=True)

    def _discover(self, initial: bool = False) -> None:
        stream = self.streams.describe_stream(**{self.stream_arn_param: self.source.source_arn})[
            "StreamDescription"
        ]
        for shard in stream.get("Shards", []):
            shard_id = shard["ShardId"]
            if shard_id in self.iterators or shard_id in self.done_shards:
                continue
            position = (self.source.starting_position or "LATEST") if initial else "TRIM_HORIZON"
            self.positions[shard_id] = position
            self.iterators[shard_id] = self._iterator(shard_id)
        self.last_describe = time.monotonic()

    def _iterator(self, shard_id: str) -> str:
        """A fresh iterator: after the checkpoint, else from the starting position."""
        params: dict[str, Any] = {
            self.stream_arn_param: self.source.source_arn,
            "ShardId": shard_id,
        }
        if shard_id in self.checkpoints:
            params["ShardIteratorType"] = "AFTER_SEQUENCE_NUMBER"
            params["SequenceNumber"] = self.checkpoints[shard_id]
        else:
            params["ShardIteratorType"] = self.positions.get(shard_id, "TRIM_HORIZON")
        return str(self.streams.get_shard_iterator(**params)["ShardIterator"])

    def idle_delay(self) -> float:
        return self.config.stream_poll_interval_s

    def poll_events(self) -> bool:
        if time.monotonic() - self.last_describe > 5.0:
            self._discover()
        found = False
        for shard_id, iterator in list(self.iterators.items()):
            if iterator is None or self.stopped:
                continue
            limit = max(1, min(self.source.batch_size, 1000))
            asked = time.time()
            try:
                response = self.streams.get_records(ShardIterator=iterator, Limit=limit)
            except ClientError as exc:
                code = exc.response.get("Error", {}).get("Code", "")
                if code not in ("TrimmedDataAccessException", "ExpiredIteratorException"):
                    raise
                # DynamoDB Local answers TrimmedDataAccess for TRIM_HORIZON on an empty shard;
                # iterators also expire after 15 minutes. Start again from the checkpoint.
                if code == "TrimmedDataAccessException":
                    self.caught_up[shard_id] = asked  # empty when asked
                self.iterators[shard_id] = self._iterator(shard_id)
                continue
            records = [self.convert(r, shard_id) for r in response.get("Records", [])]
            last_sequence = self.sequence(records[-1]) if records else None
            if records and self.source.filter_patterns:
                kept = [r for r in records if matches_any(self.source.filter_patterns, r)]
                self.metrics.add(filtered=len(records) - len(kept))
                records = kept
            # a shard read to its end at ``asked`` held nothing newer: what the next read finds
            # was created after it, whatever the record's own stamp says (DynamoDB Local rounds
            # ApproximateCreationDateTime down to the minute, which made ages up to 60 s)
            floor = self.caught_up.get(shard_id, 0.0)
            if len(response.get("Records", [])) < limit:
                self.caught_up[shard_id] = asked
            if records:
                found = True
                now = time.time()
                created = self.created(records[0])
                age = now - max(created, floor) if created is not None else None
                self.metrics.batch(len(records), age, now)
                last = self.created(records[-1])
                if last is not None:  # AWS/Lambda IteratorAge: the batch's last record
                    iterator_age(
                        self.function_name(),
                        (now - max(last, floor)) * 1000,
                        self.kinesis_stream(),
                    )
                self._process(shard_id, records, 0)
            if last_sequence is not None:
                self.checkpoints[shard_id] = last_sequence
                if self.positions.get(shard_id) == "LATEST":
                    self.positions[shard_id] = "TRIM_HORIZON"
            next_iterator = response.get("NextShardIterator")
            if next_iterator is None:
                self.done_shards.add(shard_id)
                del self.iterators[shard_id]
            else:
                self.iterators[shard_id] = next_iterator
        return found

    def _process(self, shard_id: str, records: list[dict[str, Any]], attempts: int) -> None:
        """Invoke until the batch succeeds, is bisected, or its retries are exhausted."""
        source = self.source
        while not self.stopped:
            result = self.invoke({"Records": records})
            if result.ok and not source.report_batch_item_failures:
                return
            if result.ok:
                ids = [self.sequence(r) for r in records]
                failed = parse_batch_response(result.payload, ids)
                if not failed.failed_ids:
                    return
                first = min(ids.index(i) for i in failed.failed_ids)
                records = records[first:]
            attempts += 1
            self.metrics.add(failures=len(records))
            limit = source.maximum_retry_attempts
            if limit >= 0 and attempts > limit:
                self._give_up(
                    shard_id, records, attempts, result.json() if result.payload else None
                )
                return
            self.metrics.add(retries=1)
            if source.bisect_on_error and len(records) > 1:
                half = len(records) // 2
                self._process(shard_id, records[:half], attempts)
                self._process(shard_id, records[half:], attempts)
                return
            self._stop.wait(min(30.0, self.config.stream_retry_delay_s * 2 ** min(attempts - 1, 6)))

    def _give_up(
        self, shard_id: str, records: list[dict[str, Any]], attempts: int, response: Any
    ) -> None:
        self.metrics.add(sent_to_failure_destination=1)
        target = self.source.on_failure_arn
        if not target:
            return
        record = destination_record(
            request_id=records[0].get("eventID") or "",
            function_arn=self.runtime.function_arn(self.runtime.resolve(self.function)),
            condition="RetryAttemptsExhausted",
            invoke_count=attempts,
            function_error="Unhandled",
            extra={self.batch_info_key: self.batch_info(records, shard_id)},
        )
        self.aws.send(target, record)

    def extra_metrics(self) -> dict[str, Any]:
        return {"shards": len(getattr(self, "iterators", {}))}
