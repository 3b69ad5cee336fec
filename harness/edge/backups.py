"""DynamoDB backups and point-in-time recovery, which DynamoDB Local does not have.

The edge answers the eight backup operations of the DynamoDB API with AWS's shapes and errors,
so a DR drill (`dr:restore` in a scenario, or a runbook script through ``aws_endpoint``) runs
unchanged against the harness:

* ``CreateBackup`` / ``DescribeBackup`` / ``ListBackups`` / ``DeleteBackup`` /
  ``RestoreTableFromBackup``: an on-demand backup is a full copy of the table (its key schema,
  indexes and billing mode, and every item, read with consistent scans) kept as a JSON file
  under ``<state_dir>/data/dynamodb-backups/`` (owner-only; ``harness down`` removes it with the
  rest of the emulators' data unless ``--keep-data``).
* ``UpdateContinuousBackups`` / ``DescribeContinuousBackups`` / ``RestoreTableToPointInTime``:
  enabling point-in-time recovery copies the table once (the base) and from then on the edge
  keeps a change log of the table: after every successful write it sees (``PutItem``,
  ``UpdateItem``, ``DeleteItem``, ``BatchWriteItem``, ``TransactWriteItems``) it reads each
  written key back and appends the item's new image (or its deletion) with the write's time. A
  restore to ``T`` writes the base plus every change up to ``T`` into a new table.

What a restore restores is what AWS's does: keys, local and global secondary indexes and the
billing mode; not streams, TTL, tags, alarms or the PITR setting itself (the new table starts
with PITR off). Differences, stated: the latest restorable time is the last change seen (AWS
lags about five minutes); writes that reach DynamoDB Local without going through the edge are
not in the log; a change is logged from a read made just after the write, so two writes to the
same key within a few milliseconds may be logged as the later one's image twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

__all__ = ["BACKUP_OPERATIONS", "WRITE_OPERATIONS", "DynamoBackups"]

_METHODS = {  # the DynamoDB operation -> the method of DynamoBackups that answers it
    "CreateBackup": "create_backup",
    "DescribeBackup": "describe_backup",
    "ListBackups": "list_backups",
    "DeleteBackup": "delete_backup",
    "RestoreTableFromBackup": "restore_from_backup",
    "UpdateContinuousBackups": "update_continuous",
    "DescribeContinuousBackups": "describe_continuous",
    "RestoreTableToPointInTime": "restore_to_point_in_time",
}
BACKUP_OPERATIONS = frozenset(_METHODS)
WRITE_OPERATIONS = frozenset(
    {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}
)
_PREFIX = "com.amazonaws.dynamodb.v20120810#"

# (operation, payload, region) -> (HTTP status, decoded answer) on the DynamoDB emulator
Call = Callable[[str, dict[str, Any], str], Awaitable[tuple[int, dict[str, Any]]]]


class _Refused(Exception):
    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


class DynamoBackups:
    """The backup operations, answered with the emulator doing the table work (see module)."""

    def __init__(self, state_dir: Path, call: Call, *, account: str = "000000000000") -> None:
        from harness.env.private import DATA_DIR

        self.root = state_dir / DATA_DIR / "dynamodb-backups"
        self.call = call
        self.account = account
        self._tables: dict[str, dict[str, Any]] = {}  # PITR state per table (loaded lazily)
        self._loaded = False
        self._lock = asyncio.Lock()

    # -- the edge's two entry points ----------------------------------------------------------

    async def answer(self, operation: str, body: bytes, region: str) -> tuple[int, dict[str, Any]]:
        """The answer to one backup operation (an AWS-shaped error on bad input)."""
        try:
            params = json.loads(body or b"{}")
            if not isinstance(params, dict):
                raise ValueError("not an object")
        except ValueError:
            return 400, _error("SerializationException", "the request body is not a JSON object")
        try:
            async with self._lock:
                self._load()
                handler = getattr(self, "_" + _METHODS[operation])
                return 200, await handler(params, region)
        except _Refused as exc:
            return exc.status, _error(exc.code, exc.message)

    def tracking(self) -> bool:
        """True when some table has point-in-time recovery on (writes must be observed)."""
        self._load()
        return any(state.get("enabled") for state in self._tables.values())

    async def observe(self, operation: str, body: bytes, region: str, at: float) -> None:
        """After a successful write: log the new image of each key it wrote to a PITR table."""
        try:
            params = json.loads(body or b"{}")
        except ValueError:
            return
        writes = [(t, k) for t, k in _written_keys(operation, params, self._key_names) if t]
        for table, key in writes:
            state = self._tables.get(table)
            if not state or not state.get("enabled") or key is None:
                continue
            status, got = await self.call(
                "GetItem", {"TableName": table, "Key": key, "ConsistentRead": True}, region
            )
            if status != 200:
                continue  # the table went away (or a fault): nothing to log
            entry = {"t": at, "key": key, "item": got.get("Item")}
            with open(self._log_path(table), "a", encoding="utf-8") as log:
                log.write(json.dumps(entry, separators=(",", ":")) + "\n")
            state["latest"] = max(float(state.get("latest") or 0.0), at)

    def _key_names(self, table: str) -> list[str] | None:
        state = self._tables.get(table)
        return list(state["keys"]) if state and state.get("keys") else None

    # -- on-demand backups --------------------------------------------------------------------

    async def _create_backup(self, params: dict[str, Any], region: str) -> dict[str, Any]:
        table = _required(params, "TableName")
        name = _required(params, "BackupName")
        description = await self._describe(table, region)
        items = await self._scan(table, region)
        created = time.time()
        backup_id = f"{int(created * 1000):013d}-{secrets.token_hex(4)}"
        arn = f"{description['TableArn']}/backup/{backup_id}"
        document = {
            "details": {
                "BackupArn": arn,
                "BackupName": name,
                "BackupSizeBytes": len(json.dumps(items)),
                "BackupStatus": "AVAILABLE",
                "BackupType": "USER",
                "BackupCreationDateTime": created,
            },
            "source": _source_details(description, len(items)),
            "items": items,
        }
        self._write(self._backup_path(backup_id), document)
        return {"BackupDetails": document["details"]}

    async def _describe_backup(self, params: dict[str, Any], region: str) -> dict[str, Any]:
        document = self._backup(_required(params, "BackupArn"))
        return {"BackupDescription": _backup_description(document)}

    async def _list_backups(self, params: dict[str, Any], region: str) -> dict[str, Any]:
        table = params.get("TableName")
        lower = float(params.get("TimeRangeLowerBound") or 0)
        upper = float(params.get("TimeRangeUpperBound") or float("inf"))
        kind = params.get("BackupType") or "ALL"
        summaries = []
        for path in sorted(self.root.glob("backup-*.json")):
            document = json.loads(path.read_text())
            details, source = document["details"], document["source"]
            if table and source["TableName"] != table:
                continue
            if not lower <= details["BackupCreationDateTime"] <= upper:
                continue
            if kind not in ("ALL", details["BackupType"]):
                continue
            summaries.append(
                {
                    "TableName": source["TableName"],
                    "TableId": source["TableId"],
                    "TableArn": source["TableArn"],
                    **details,
                }
            )
        limit = int(params.get("Limit") or 0)
        return {"BackupSummaries": summaries[:limit] if limit else summaries}

    async def _delete_backup(self, params: dict[str, Any], region: str) -> dict[str, Any]:
        arn = _required(params, "BackupArn")
        document = self._backup(arn)
        with contextlib.suppress(FileNotFoundError):
            self._backup_path(arn.rsplit("/", 1)[-1]).unlink()
        document["details"]["BackupStatus"] = "DELETED"
        return {"BackupDescription": _backup_description(document)}

    async def _restore_from_backup(self, params: dict[str, Any], region: str) -> dict[str, Any]:
        target = _required(params, "TargetTableName")
        document = self._backup(_required(params, "BackupArn"))
        summary = {
            "SourceBackupArn": document["details"]["BackupArn"],
            "SourceTableArn": document["source"]["TableArn"],
            "RestoreDateTime": document["details"]["BackupCreationDateTime"],
            "RestoreInProgress": False,
        }
        schema = document["source"]["schema"]
        described = await self._restore(target, schema, document["items"], region, summary)
        return {"TableDescription": described}

    # -- point-in-time recovery ---------------------------------------------------------------

    async def _update_continuous(self, params: dict[str, Any], region: str) -> dict[str, Any]:
        table = _required(params, "TableName")
        spec = params.get("PointInTimeRecoverySpecification")
        if not isinstance(spec, dict) or "PointInTimeRecoveryEnabled" not in spec:
            raise _Refused(
                "ValidationException",
                "PointInTimeRecoverySpecification.PointInTimeRecoveryEnabled is required",
            )
        description = await self._describe(table, region)
        state = self._tables.get(table) or {}
        if spec["PointInTimeRecoveryEnabled"] and not state.get("enabled"):
            items = await self._scan(table, region)
            since = time.time()
            self._write(self._base_path(table), {"items": items})
            self._log_path(table).write_text("")
            os.chmod(self._log_path(table), 0o600)
            state = {
                "enabled": True,
                "since": since,
                "latest": since,
                "keys": [k["AttributeName"] for k in description["KeySchema"]],
                "schema": _schema(description),
                "arn": description["TableArn"],
            }
        elif not spec["PointInTimeRecoveryEnabled"]:
            state = {**state, "enabled": False}
        self._tables[table] = state
        self._save_states()
        return {"ContinuousBackupsDescription": self._continuous(state)}

    async def _describe_continuous(self, params: dict[str, Any], region: str) -> dict[str, Any]:
        table = _required(params, "TableName")
        await self._describe(table, region)
        return {"ContinuousBackupsDescription": self._continuous(self._tables.get(table) or {})}

    async def _restore_to_point_in_time(
        self, params: dict[str, Any], region: str
    ) -> dict[str, Any]:
        source = (
            params.get("SourceTableName")
            or str(params.get("SourceTableArn") or "").rsplit("/", 1)[-1]
        )
        if not source:
            raise _Refused("ValidationException", "SourceTableName or SourceTableArn is required")
        target = _required(params, "TargetTableName")
        state = self._tables.get(source)
        if not state or not state.get("enabled"):
            raise _Refused(
                "PointInTimeRecoveryUnavailableException",
                f"Point in time recovery is not enabled for table '{source}'",
            )
        earliest, latest = float(state["since"]), max(float(state["latest"]), float(state["since"]))
        if params.get("UseLatestRestorableTime"):
            point = latest
        elif params.get("RestoreDateTime") is not None:
            point = float(params["RestoreDateTime"])
            if not earliest <= point <= time.time():
                raise _Refused(
                    "InvalidRestoreTimeException",
                    f"RestoreDateTime {point} is outside the restorable window "
                    f"[{earliest}, {latest}]",
                )
        else:
            raise _Refused(
                "ValidationException", "RestoreDateTime or UseLatestRestorableTime is required"
            )
        names = state["keys"]
        base = self._read(self._base_path(source))["items"]
        items = {_key_text(item, names): item for item in base}
        with open(self._log_path(source), encoding="utf-8") as log:
            changes = [entry for line in log if (entry := json.loads(line))["t"] <= point]
        for entry in sorted(changes, key=lambda e: float(e["t"])):  # logged as reads completed
            key = _key_text(entry["key"], names)
            if entry.get("item") is None:
                items.pop(key, None)
            else:
                items[key] = entry["item"]
        summary = {
            "SourceTableArn": state["arn"],
            "RestoreDateTime": point,
            "RestoreInProgress": False,
        }
        described = await self._restore(
            target, state["schema"], list(items.values()), region, summary
        )
        return {"TableDescription": described}

    # -- helpers ------------------------------------------------------------------------------

    async def _describe(self, table: str, region: str) -> dict[str, Any]:
        status, got = await self.call("DescribeTable", {"TableName": table}, region)
        if status != 200 or not isinstance(got.get("Table"), dict):
            raise _Refused("TableNotFoundException", f"Table not found: {table}")
        return dict(got["Table"])

    async def _scan(self, table: str, region: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        request: dict[str, Any] = {"TableName": table, "ConsistentRead": True}
        while True:
            status, got = await self.call("Scan", request, region)
            if status != 200:
                raise _Refused("InternalServerError", f"reading {table} failed: {got}", 500)
            items.extend(got.get("Items") or [])
            if not got.get("LastEvaluatedKey"):
                return items
            request["ExclusiveStartKey"] = got["LastEvaluatedKey"]

    async def _restore(
        self,
        target: str,
        schema: dict[str, Any],
        items: list[dict[str, Any]],
        region: str,
        summary: dict[str, Any],
    ) -> dict[str, Any]:
        status, _got = await self.call("DescribeTable", {"TableName": target}, region)
        if status == 200:
            raise _Refused("TableAlreadyExistsException", f"Table already exists: {target}")
        status, created = await self.call("CreateTable", {**schema, "TableName": target}, region)
        if status != 200:
            raise _Refused("ValidationException", f"creating {target} failed: {created}")
        for start in range(0, len(items), 25):
            pending: dict[str, Any] = {
                target: [{"PutRequest": {"Item": item}} for item in items[start : start + 25]]
            }
            for _attempt in range(20):
                status, got = await self.call("BatchWriteItem", {"RequestItems": pending}, region)
                if status != 200:
                    raise _Refused("InternalServerError", f"restoring {target} failed: {got}", 500)
                pending = got.get("UnprocessedItems") or {}
                if not pending:
                    break
                await asyncio.sleep(0.05)
            if pending:  # never a restore that says it succeeded with items left out
                raise _Refused(
                    "InternalServerError",
                    f"restoring {target}: items still unprocessed after 20 attempts",
                    500,
                )
        description = dict(created.get("TableDescription") or {})
        description["RestoreSummary"] = summary
        description["ItemCount"] = len(items)
        return description

    def _continuous(self, state: dict[str, Any]) -> dict[str, Any]:
        pitr: dict[str, Any] = {
            "PointInTimeRecoveryStatus": "ENABLED" if state.get("enabled") else "DISABLED"
        }
        if state.get("enabled"):
            pitr["EarliestRestorableDateTime"] = state["since"]
            pitr["LatestRestorableDateTime"] = max(float(state["latest"]), float(state["since"]))
            pitr["RecoveryPeriodInDays"] = 35
        return {"ContinuousBackupsStatus": "ENABLED", "PointInTimeRecoveryDescription": pitr}

    def _backup(self, arn: str) -> dict[str, Any]:
        path = self._backup_path(arn.rsplit("/", 1)[-1])
        if "/backup/" not in arn or not path.is_file():
            raise _Refused("BackupNotFoundException", f"Backup not found: {arn}")
        return self._read(path)

    def _backup_path(self, backup_id: str) -> Path:
        safe = "".join(c for c in backup_id if c.isalnum() or c == "-")
        return self.root / f"backup-{safe}.json"

    def _base_path(self, table: str) -> Path:
        return self.root / f"pitr-{table}.base.json"

    def _log_path(self, table: str) -> Path:
        return self.root / f"pitr-{table}.log"

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        path = self.root / "pitr.json"
        if path.is_file():
            self._tables = json.loads(path.read_text())

    def _save_states(self) -> None:
        self._write(self.root / "pitr.json", self._tables)

    def _write(self, path: Path, document: Any) -> None:
        from harness.env.private import private_dir, private_file

        private_dir(self.root)
        temporary = path.with_suffix(".tmp")
        with os.fdopen(private_file(temporary, append=False), "w", encoding="utf-8") as out:
            json.dump(document, out, separators=(",", ":"))
        os.replace(temporary, path)

    @staticmethod
    def _read(path: Path) -> dict[str, Any]:
        return dict(json.loads(path.read_text()))


def _error(code: str, message: str) -> dict[str, Any]:
    return {"__type": _PREFIX + code, "message": message}


def _required(params: dict[str, Any], name: str) -> str:
    value = params.get(name)
    if not isinstance(value, str) or not value:
        raise _Refused("ValidationException", f"1 validation error detected: {name} is required")
    return value


def _schema(description: dict[str, Any]) -> dict[str, Any]:
    """What a restore recreates: keys, indexes, billing mode (as AWS restores them)."""
    on_demand = (description.get("BillingModeSummary") or {}).get("BillingMode") == (
        "PAY_PER_REQUEST"
    )
    throughput = description.get("ProvisionedThroughput") or {}

    def capacity(source: dict[str, Any]) -> dict[str, int]:
        return {
            "ReadCapacityUnits": max(1, int(source.get("ReadCapacityUnits") or 1)),
            "WriteCapacityUnits": max(1, int(source.get("WriteCapacityUnits") or 1)),
        }

    schema: dict[str, Any] = {
        "KeySchema": description["KeySchema"],
        "AttributeDefinitions": description["AttributeDefinitions"],
    }
    if on_demand:
        schema["BillingMode"] = "PAY_PER_REQUEST"
    else:
        schema["ProvisionedThroughput"] = capacity(throughput)
    gsis = []
    for index in description.get("GlobalSecondaryIndexes") or []:
        entry = {k: index[k] for k in ("IndexName", "KeySchema", "Projection")}
        if not on_demand:
            entry["ProvisionedThroughput"] = capacity(index.get("ProvisionedThroughput") or {})
        gsis.append(entry)
    if gsis:
        schema["GlobalSecondaryIndexes"] = gsis
    lsis = [
        {k: index[k] for k in ("IndexName", "KeySchema", "Projection")}
        for index in description.get("LocalSecondaryIndexes") or []
    ]
    if lsis:
        schema["LocalSecondaryIndexes"] = lsis
    return schema


def _source_details(description: dict[str, Any], count: int) -> dict[str, Any]:
    return {
        "TableName": description["TableName"],
        "TableId": description.get("TableId") or description["TableName"],
        "TableArn": description["TableArn"],
        "KeySchema": description["KeySchema"],
        "TableCreationDateTime": description.get("CreationDateTime"),
        "ItemCount": count,
        "BillingMode": (description.get("BillingModeSummary") or {}).get(
            "BillingMode", "PROVISIONED"
        ),
        "schema": _schema(description),
    }


def _backup_description(document: dict[str, Any]) -> dict[str, Any]:
    source = {k: v for k, v in document["source"].items() if k != "schema"}
    return {
        "BackupDetails": document["details"],
        "SourceTableDetails": source,
        "SourceTableFeatureDetails": {},
    }


def _key_text(item: dict[str, Any], names: list[str]) -> str:
    return json.dumps([item.get(name) for name in names], sort_keys=True)


def _written_keys(
    operation: str, params: dict[str, Any], key_names: Callable[[str], list[str] | None]
) -> list[tuple[str, dict[str, Any] | None]]:
    """(table, key) for each item a successful write of ``operation`` wrote."""

    def key_of(table: str, item: dict[str, Any]) -> dict[str, Any] | None:
        names = key_names(table)
        if names is None:
            return None
        key = {name: item[name] for name in names if name in item}
        return key if len(key) == len(names) else None

    table = str(params.get("TableName") or "")
    if operation == "PutItem":
        return [(table, key_of(table, params.get("Item") or {}))]
    if operation in ("UpdateItem", "DeleteItem"):
        return [(table, key_of(table, params.get("Key") or {}))]
    found: list[tuple[str, dict[str, Any] | None]] = []
    if operation == "BatchWriteItem":
        for name, requests in (params.get("RequestItems") or {}).items():
            for request in requests or []:
                put, delete = request.get("PutRequest"), request.get("DeleteRequest")
                source = (put or {}).get("Item") or (delete or {}).get("Key") or {}
                found.append((name, key_of(name, source)))
    elif operation == "TransactWriteItems":
        for entry in params.get("TransactItems") or []:
            for kind in ("Put", "Update", "Delete"):
                part = entry.get(kind)
                if part:
                    name = str(part.get("TableName") or "")
                    source = part.get("Item") if kind == "Put" else part.get("Key")
                    found.append((name, key_of(name, source or {})))
    return found
