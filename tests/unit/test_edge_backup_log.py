"""Which keys a DynamoDB write wrote (the point-in-time recovery change log's input)."""

from __future__ import annotations

from harness.edge.backups import _written_keys


def names(table: str) -> list[str] | None:
    return {"t": ["PK", "SK"], "u": ["id"]}.get(table)


def test_each_write_operation_names_the_keys_it_wrote() -> None:
    item = {"PK": {"S": "a"}, "SK": {"S": "1"}, "v": {"N": "3"}}
    key = {"PK": {"S": "a"}, "SK": {"S": "1"}}
    assert _written_keys("PutItem", {"TableName": "t", "Item": item}, names) == [("t", key)]
    assert _written_keys("UpdateItem", {"TableName": "t", "Key": key}, names) == [("t", key)]
    assert _written_keys("DeleteItem", {"TableName": "t", "Key": key}, names) == [("t", key)]
    batch = {"RequestItems": {
        "t": [{"PutRequest": {"Item": item}}, {"DeleteRequest": {"Key": key}}],
        "u": [{"DeleteRequest": {"Key": {"id": {"S": "x"}}}}],
    }}  # fmt: skip
    assert _written_keys("BatchWriteItem", batch, names) == [
        ("t", key), ("t", key), ("u", {"id": {"S": "x"}})
    ]  # fmt: skip
    transact = {"TransactItems": [
        {"Put": {"TableName": "u", "Item": {"id": {"S": "y"}, "n": {"N": "1"}}}},
        {"ConditionCheck": {"TableName": "t", "Key": key}},
        {"Update": {"TableName": "t", "Key": key}},
    ]}  # fmt: skip
    assert _written_keys("TransactWriteItems", transact, names) == [
        ("u", {"id": {"S": "y"}}), ("t", key)
    ]  # fmt: skip


def test_a_table_without_recovery_or_an_item_without_its_key_is_not_logged() -> None:
    assert _written_keys("PutItem", {"TableName": "other", "Item": {"id": {"S": "1"}}}, names) == [
        ("other", None)
    ]
    assert _written_keys("PutItem", {"TableName": "t", "Item": {"PK": {"S": "a"}}}, names) == [
        ("t", None)
    ]
