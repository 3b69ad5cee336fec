"""DynamoDB backups and point-in-time recovery through ``aws_endpoint`` on a real environment
(DynamoDB Local has neither; the edge answers them, harness/edge/backups.py), driven by boto3
exactly as a runbook script would drive AWS."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from harness import Environment, Settings

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Environment]:
    with Environment(
        Settings.load(state_dir=tmp_path_factory.mktemp("edge-backups"), runtime=False)
    ) as env:
        yield env


@pytest.fixture()
def ddb(env: Environment) -> Any:
    return env.client("dynamodb")


def _table(ddb: Any, name: str) -> None:
    ddb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"},
                   {"AttributeName": "SK", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "PK", "AttributeType": "S"},
                              {"AttributeName": "SK", "AttributeType": "S"},
                              {"AttributeName": "GSI1PK", "AttributeType": "S"}],
        GlobalSecondaryIndexes=[{"IndexName": "GSI1",
                                 "KeySchema": [{"AttributeName": "GSI1PK", "KeyType": "HASH"}],
                                 "Projection": {"ProjectionType": "ALL"}}],
        BillingMode="PAY_PER_REQUEST",
    )  # fmt: skip


def _put(ddb: Any, table: str, pk: str, sk: str, value: str) -> None:
    ddb.put_item(
        TableName=table,
        Item={"PK": {"S": pk}, "SK": {"S": sk}, "GSI1PK": {"S": value}, "v": {"S": value}},
    )


def _items(ddb: Any, table: str) -> dict[tuple[str, str], str]:
    got = ddb.scan(TableName=table, ConsistentRead=True)["Items"]
    return {(i["PK"]["S"], i["SK"]["S"]): i["v"]["S"] for i in got}


def _error(call: Any, **kwargs: Any) -> str:
    with pytest.raises(ClientError) as caught:
        call(**kwargs)
    return str(caught.value.response["Error"]["Code"])


def test_an_on_demand_backup_restores_the_table_as_it_was(ddb: Any) -> None:
    _table(ddb, "orders")
    for i in range(60):  # more than one BatchWriteItem of 25 on restore
        _put(ddb, "orders", f"TENANT#t{i % 3}", f"ORDER#{i:03d}", f"v{i}")
    before = _items(ddb, "orders")
    backup = ddb.create_backup(TableName="orders", BackupName="nightly")["BackupDetails"]
    assert backup["BackupStatus"] == "AVAILABLE" and backup["BackupType"] == "USER"
    _put(ddb, "orders", "TENANT#t0", "ORDER#000", "changed after the backup")
    ddb.delete_item(TableName="orders", Key={"PK": {"S": "TENANT#t1"}, "SK": {"S": "ORDER#001"}})

    listed = ddb.list_backups(TableName="orders")["BackupSummaries"]
    assert [b["BackupArn"] for b in listed] == [backup["BackupArn"]]
    described = ddb.describe_backup(BackupArn=backup["BackupArn"])["BackupDescription"]
    assert described["SourceTableDetails"]["TableName"] == "orders"
    assert described["SourceTableDetails"]["ItemCount"] == 60

    restored = ddb.restore_table_from_backup(
        TargetTableName="orders-restored", BackupArn=backup["BackupArn"]
    )["TableDescription"]
    assert restored["RestoreSummary"]["SourceBackupArn"] == backup["BackupArn"]
    assert _items(ddb, "orders-restored") == before
    # the index came back with the table
    got = ddb.query(TableName="orders-restored", IndexName="GSI1",
                    KeyConditionExpression="GSI1PK = :v",
                    ExpressionAttributeValues={":v": {"S": "v7"}})["Items"]  # fmt: skip
    assert [i["SK"]["S"] for i in got] == ["ORDER#007"]

    assert _error(ddb.restore_table_from_backup, TargetTableName="orders-restored",
                  BackupArn=backup["BackupArn"]) == "TableAlreadyExistsException"  # fmt: skip
    ddb.delete_backup(BackupArn=backup["BackupArn"])
    assert _error(ddb.describe_backup, BackupArn=backup["BackupArn"]) == "BackupNotFoundException"
    assert (
        _error(ddb.create_backup, TableName="nope", BackupName="nightly")
        == "TableNotFoundException"
    )


def test_point_in_time_recovery_restores_the_state_at_the_time_asked(ddb: Any) -> None:
    _table(ddb, "ledger")
    _put(ddb, "ledger", "TENANT#a", "E#1", "before PITR")
    assert _error(
        ddb.restore_table_to_point_in_time, SourceTableName="ledger",
        TargetTableName="ledger-x", UseLatestRestorableTime=True,
    ) == "PointInTimeRecoveryUnavailableException"  # fmt: skip
    off = ddb.describe_continuous_backups(TableName="ledger")["ContinuousBackupsDescription"]
    assert off["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "DISABLED"
    ddb.update_continuous_backups(
        TableName="ledger", PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
    )
    _put(ddb, "ledger", "TENANT#a", "E#2", "second")
    ddb.update_item(TableName="ledger", Key={"PK": {"S": "TENANT#a"}, "SK": {"S": "E#1"}},
                    UpdateExpression="SET v = :v",
                    ExpressionAttributeValues={":v": {"S": "updated"}})  # fmt: skip
    time.sleep(0.5)  # the change log is written just after each write
    point = time.time()
    time.sleep(0.2)
    ddb.batch_write_item(RequestItems={"ledger": [
        {"PutRequest": {"Item": {"PK": {"S": "TENANT#b"}, "SK": {"S": "E#3"},
                                 "GSI1PK": {"S": "late"}, "v": {"S": "late"}}}},
        {"DeleteRequest": {"Key": {"PK": {"S": "TENANT#a"}, "SK": {"S": "E#2"}}}},
    ]})  # fmt: skip
    ddb.transact_write_items(TransactItems=[{"Delete": {
        "TableName": "ledger", "Key": {"PK": {"S": "TENANT#a"}, "SK": {"S": "E#1"}}}}])  # fmt: skip
    time.sleep(0.5)
    assert _items(ddb, "ledger") == {("TENANT#b", "E#3"): "late"}  # what a bad deploy left

    window = ddb.describe_continuous_backups(TableName="ledger")["ContinuousBackupsDescription"]
    pitr = window["PointInTimeRecoveryDescription"]
    assert pitr["PointInTimeRecoveryStatus"] == "ENABLED"
    assert pitr["EarliestRestorableDateTime"].timestamp() < point
    assert pitr["LatestRestorableDateTime"].timestamp() > point

    ddb.restore_table_to_point_in_time(
        SourceTableName="ledger", TargetTableName="ledger-at-point", RestoreDateTime=point
    )
    assert _items(ddb, "ledger-at-point") == {
        ("TENANT#a", "E#1"): "updated",
        ("TENANT#a", "E#2"): "second",
    }
    ddb.restore_table_to_point_in_time(
        SourceTableName="ledger", TargetTableName="ledger-latest", UseLatestRestorableTime=True
    )
    assert _items(ddb, "ledger-latest") == {("TENANT#b", "E#3"): "late"}
    assert _error(
        ddb.restore_table_to_point_in_time, SourceTableName="ledger",
        TargetTableName="ledger-too-early", RestoreDateTime=point - 3600,
    ) == "InvalidRestoreTimeException"  # fmt: skip
