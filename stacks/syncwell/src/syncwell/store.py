"""The single table ``SyncWellMetadata`` (section 3c): keys, items and the idempotency lock.

All of a user's items share the partition ``USER#{userId}`` (the authorizer's ``sub``; never a
value from the body or the path): ``PROFILE``, ``CONN#{connectionId}``,
``SYNCCONFIG#{sourceId}##{dataType}``, ``JOB#{jobId}``, ``EXPORT#{jobId}`` and the idempotency
locks ``IDEM#{key}``. The lock lives in the user's partition rather than in a partition of its
own (the seed's ``IDEM##{key}``) so that (a) two users choosing the same key never collide,
(b) the ``dynamodb:LeadingKeys = USER#${userId}`` policy of section 6.2 covers it and (c)
deleting a user deletes its locks. Webhooks find their user through the sparse index
``ProviderAccount-gsi`` (``{provider}#{ownerId}`` on connection items), so no item lives outside
a user's partition.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from syncwell import settings
from syncwell.common import client

__all__ = [
    "IdempotencyDecision",
    "LockStore",
    "Table",
    "decide_idempotency",
    "user_pk",
]

IDEM_TTL_S = 24 * 3600

_ser = TypeSerializer()
_de = TypeDeserializer()


def user_pk(user_id: str) -> str:
    return f"USER#{user_id}"


def to_ddb(item: dict[str, Any]) -> dict[str, Any]:
    return {k: _ser.serialize(_clean(v)) for k, v in item.items() if v is not None}


def from_ddb(item: dict[str, Any] | None) -> dict[str, Any] | None:
    if item is None:
        return None
    return {k: _plain(_de.deserialize(v)) for k, v in item.items()}


def _clean(value: Any) -> Any:
    from decimal import Decimal

    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def _plain(value: Any) -> Any:
    from decimal import Decimal

    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, set):
        return sorted(_plain(v) for v in value)
    return value


def is_conditional_failure(exc: Exception) -> bool:
    response = getattr(exc, "response", None) or {}
    return (response.get("Error") or {}).get("Code") == "ConditionalCheckFailedException"


class Table:
    """Thin typed access to the table through a boto3 DynamoDB client."""

    def __init__(self, name: str | None = None, ddb: Any = None) -> None:
        self.name = name or settings.table_name()
        self.ddb = ddb or client("dynamodb")

    # -- plain item access -------------------------------------------------------------------
    def get(self, pk: str, sk: str, consistent: bool = True) -> dict[str, Any] | None:
        answer = self.ddb.get_item(
            TableName=self.name, Key=to_ddb({"PK": pk, "SK": sk}), ConsistentRead=consistent
        )
        return from_ddb(answer.get("Item"))

    def put(
        self,
        item: dict[str, Any],
        condition: str | None = None,
        names: dict[str, str] | None = None,
        values: dict[str, Any] | None = None,
    ) -> None:
        kwargs: dict[str, Any] = {"TableName": self.name, "Item": to_ddb(item)}
        if condition:
            kwargs["ConditionExpression"] = condition
        if names:
            kwargs["ExpressionAttributeNames"] = names
        if values:
            kwargs["ExpressionAttributeValues"] = to_ddb(values)
        self.ddb.put_item(**kwargs)

    def update(
        self,
        pk: str,
        sk: str,
        expression: str,
        names: dict[str, str] | None = None,
        values: dict[str, Any] | None = None,
        condition: str | None = None,
    ) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "TableName": self.name,
            "Key": to_ddb({"PK": pk, "SK": sk}),
            "UpdateExpression": expression,
            "ReturnValues": "ALL_NEW",
        }
        if names:
            kwargs["ExpressionAttributeNames"] = names
        if values:
            kwargs["ExpressionAttributeValues"] = to_ddb(values)
        if condition:
            kwargs["ConditionExpression"] = condition
        return from_ddb(self.ddb.update_item(**kwargs).get("Attributes")) or {}

    def delete(
        self, pk: str, sk: str, condition: str | None = None, values: dict[str, Any] | None = None
    ) -> None:
        kwargs: dict[str, Any] = {"TableName": self.name, "Key": to_ddb({"PK": pk, "SK": sk})}
        if condition:
            kwargs["ConditionExpression"] = condition
        if values:
            kwargs["ExpressionAttributeValues"] = to_ddb(values)
        self.ddb.delete_item(**kwargs)

    def query(
        self,
        pk: str,
        prefix: str | None = None,
        index: str | None = None,
        pk_name: str = "PK",
        consistent: bool = False,
        limit: int | None = None,
        extra: dict[str, Any] | None = None,
    ) -> Iterator[dict[str, Any]]:
        names = {"#pk": pk_name}
        values: dict[str, Any] = {":pk": pk}
        expression = "#pk = :pk"
        if prefix is not None:
            names["#sk"] = "SK"
            values[":sk"] = prefix
            expression += " AND begins_with(#sk, :sk)"
        kwargs: dict[str, Any] = {
            "TableName": self.name,
            "KeyConditionExpression": expression,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": to_ddb(values),
        }
        if index:
            kwargs["IndexName"] = index
        elif consistent:
            kwargs["ConsistentRead"] = True
        if extra:
            kwargs.update(extra)
        seen = 0
        while True:
            answer = self.ddb.query(**kwargs)
            for raw in answer.get("Items", []):
                yield from_ddb(raw)  # type: ignore[misc]
                seen += 1
                if limit is not None and seen >= limit:
                    return
            last = answer.get("LastEvaluatedKey")
            if not last:
                return
            kwargs["ExclusiveStartKey"] = last

    def batch_write(
        self, puts: Iterable[dict[str, Any]] = (), deletes: Iterable[tuple[str, str]] = ()
    ) -> int:
        """BatchWriteItem in chunks of 25, retrying unprocessed items; the number of requests."""
        requests = [{"PutRequest": {"Item": to_ddb(i)}} for i in puts]
        requests += [{"DeleteRequest": {"Key": to_ddb({"PK": p, "SK": s})}} for p, s in deletes]
        calls = 0
        for start in range(0, len(requests), 25):
            pending = {self.name: requests[start : start + 25]}
            for attempt in range(8):
                answer = self.ddb.batch_write_item(RequestItems=pending)
                calls += 1
                pending = answer.get("UnprocessedItems") or {}
                if not pending:
                    break
                time.sleep(min(1.0, 0.02 * 2**attempt))
            else:
                raise RuntimeError("BatchWriteItem left unprocessed items")
        return calls

    def delete_partition(self, pk: str) -> int:
        keys = [
            (i["PK"], i["SK"])
            for i in self.query(pk, consistent=True, extra={"ProjectionExpression": "PK, SK"})
        ]
        if keys:
            self.batch_write(deletes=keys)
        return len(keys)


# -- idempotency (section 3a, diagram 9) ---------------------------------------------------------


class LockStore:
    """What the idempotency state machine needs from storage (DynamoDB or a fake in tests)."""

    def try_acquire(
        self, user_id: str, key: str, job_id: str, owner: str, now: float, lease_s: float
    ) -> bool:
        raise NotImplementedError

    def read(self, user_id: str, key: str) -> dict[str, Any] | None:
        raise NotImplementedError

    def complete(self, user_id: str, key: str, owner: str, now: float) -> None:
        raise NotImplementedError

    def release(self, user_id: str, key: str, owner: str) -> None:
        raise NotImplementedError


class DynamoLockStore(LockStore):
    def __init__(self, table: Table) -> None:
        self.table = table

    def try_acquire(
        self, user_id: str, key: str, job_id: str, owner: str, now: float, lease_s: float
    ) -> bool:
        try:
            self.table.put(
                {
                    "PK": user_pk(user_id),
                    "SK": f"IDEM#{key}",
                    "status": "INPROGRESS",
                    "jobId": job_id,
                    "owner": owner,
                    "leaseUntil": int(now + lease_s),
                    "ttl": int(now + IDEM_TTL_S),
                },
                # a new lock, or the takeover of an INPROGRESS lock whose holder died
                condition="attribute_not_exists(PK) OR (#s = :inprogress AND leaseUntil < :now)",
                names={"#s": "status"},
                values={":inprogress": "INPROGRESS", ":now": int(now)},
            )
            return True
        except Exception as exc:
            if is_conditional_failure(exc):
                return False
            raise

    def read(self, user_id: str, key: str) -> dict[str, Any] | None:
        return self.table.get(user_pk(user_id), f"IDEM#{key}")

    def complete(self, user_id: str, key: str, owner: str, now: float) -> None:
        self.table.update(
            user_pk(user_id),
            f"IDEM#{key}",
            "SET #s = :done, #ttl = :ttl, completedAt = :now REMOVE leaseUntil",
            names={"#s": "status", "#ttl": "ttl"},
            values={":done": "COMPLETED", ":ttl": int(now + IDEM_TTL_S), ":now": int(now)},
        )

    def release(self, user_id: str, key: str, owner: str) -> None:
        try:
            self.table.ddb.delete_item(
                TableName=self.table.name,
                Key=to_ddb({"PK": user_pk(user_id), "SK": f"IDEM#{key}"}),
                ConditionExpression="#o = :owner AND #s = :inprogress",
                ExpressionAttributeNames={"#o": "owner", "#s": "status"},
                ExpressionAttributeValues=to_ddb({":owner": owner, ":inprogress": "INPROGRESS"}),
            )
        except Exception as exc:
            if not is_conditional_failure(exc):
                raise


@dataclass(frozen=True)
class IdempotencyDecision:
    action: Literal["process", "duplicate", "busy"]
    lock: dict[str, Any] | None = None


def decide_idempotency(
    store: LockStore, user_id: str, key: str, job_id: str, owner: str, now: float, lease_s: float
) -> IdempotencyDecision:
    """Diagram 9: acquire the lock (process); else COMPLETED → duplicate (discard, success);
    INPROGRESS → busy (retry the job later with backoff). A lock whose lease expired (its
    holder crashed) is taken over, so a crash never strands a job."""
    if store.try_acquire(user_id, key, job_id, owner, now, lease_s):
        return IdempotencyDecision("process")
    current = store.read(user_id, key)
    if current is None:  # released between our put and get: try once more
        if store.try_acquire(user_id, key, job_id, owner, now, lease_s):
            return IdempotencyDecision("process")
        current = store.read(user_id, key)
    if current is not None and current.get("status") == "COMPLETED":
        return IdempotencyDecision("duplicate", current)
    return IdempotencyDecision("busy", current)
