"""The single table ``codexflow-main`` and every access pattern of the seed.

=========================  =======================  ========================  ==================
pattern                    PK                       SK                        index
=========================  =======================  ========================  ==================
user by id                 ``USER#<id>``            ``PROFILE``               table
user by email              ``EMAIL#<email>``        ``USER``                  GSI1
project by id              ``PROJECT#<id>``         ``METADATA``              table
a user's projects (owner)  ``OWNER#<userId>``       ``PROJECT#<id>``          GSI1
a user's projects (member) ``MEMBER#<userId>``      ``PROJECT#<id>``          GSI2
task by id                 ``PROJECT#<projectId>``  ``TASK#<taskId>``         table
task by id alone           ``TASK#<taskId>``        ``PROJECT#<projectId>``   GSI2
a user's tasks             ``ASSIGNEE#<userId>``    ``TASK#<taskId>``         GSI1
a project's tasks          ``PROJECT#<projectId>``  begins_with ``TASK#``     table
=========================  =======================  ========================  ==================

Other items in a project's partition: ``MEMBER#<userId>`` (membership), and the documents of
:mod:`codexflow.documents` (``PRD#``, ``ANALYTICS#``). A user's partition holds
``NOTIFICATION#`` items written by the notification consumer.
"""

from __future__ import annotations

from typing import Any

from codexflow.common import env

__all__ = [
    "batch_get_projects",
    "get_item",
    "put_item",
    "query",
    "query_index",
    "table",
]

_resources: dict[str, Any] = {}


def _resource() -> Any:
    found = _resources.get("dynamodb")
    if found is None:
        import boto3
        from botocore.config import Config

        config = Config(
            retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=2, read_timeout=5
        )
        found = _resources["dynamodb"] = boto3.resource("dynamodb", config=config)
    return found


def table() -> Any:
    return _resource().Table(env("TABLE_NAME", "codexflow-main"))


def get_item(pk: str, sk: str) -> dict[str, Any] | None:
    item = table().get_item(Key={"PK": pk, "SK": sk}).get("Item")
    return dict(item) if item else None


def put_item(item: dict[str, Any], *, new: bool = False) -> bool:
    """Write ``item``; with ``new``, only if no item has its key (False if one had)."""
    kwargs: dict[str, Any] = {"Item": item}
    if new:
        kwargs["ConditionExpression"] = "attribute_not_exists(PK)"
    try:
        table().put_item(**kwargs)
    except table().meta.client.exceptions.ConditionalCheckFailedException:
        return False
    return True


def query(pk: str, sk_prefix: str, limit: int = 200) -> list[dict[str, Any]]:
    from boto3.dynamodb.conditions import Key

    return _paged_query(
        {"KeyConditionExpression": Key("PK").eq(pk) & Key("SK").begins_with(sk_prefix)}, limit
    )


def query_index(index: str, pk: str, sk_prefix: str = "", limit: int = 200) -> list[dict]:
    """Query GSI1 or GSI2 (``<index>PK`` = ``pk``, ``<index>SK`` begins with ``sk_prefix``)."""
    from boto3.dynamodb.conditions import Key

    condition = Key(f"{index}PK").eq(pk)
    if sk_prefix:
        condition = condition & Key(f"{index}SK").begins_with(sk_prefix)
    return _paged_query({"IndexName": index, "KeyConditionExpression": condition}, limit)


def _paged_query(kwargs: dict[str, Any], limit: int) -> list[dict[str, Any]]:
    """Up to ``limit`` items of a Query, following LastEvaluatedKey."""
    out: list[dict[str, Any]] = []
    while len(out) < limit:
        page = table().query(**kwargs)
        out.extend(page.get("Items", []))
        if "LastEvaluatedKey" not in page:
            break
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    return out[:limit]


def batch_get_projects(project_ids: list[str]) -> list[dict[str, Any]]:
    """The METADATA items of these projects (BatchGetItem, 100 keys a call, unprocessed retried)."""
    resource = _resource()
    name = table().name
    found: list[dict[str, Any]] = []
    ids = list(dict.fromkeys(project_ids))
    for start in range(0, len(ids), 100):
        keys = [{"PK": f"PROJECT#{p}", "SK": "METADATA"} for p in ids[start : start + 100]]
        request: dict[str, Any] = {name: {"Keys": keys}}
        for _ in range(5):
            answer = resource.batch_get_item(RequestItems=request)
            found.extend(answer.get("Responses", {}).get(name, []))
            request = answer.get("UnprocessedKeys") or {}
            if not request:
                break
    return [dict(item) for item in found]
