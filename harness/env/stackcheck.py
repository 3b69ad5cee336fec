"""Does the emulator still hold what the deployed stacks own?

An emulator that was reset (``/_ministack/reset``), restarted or half-dead answers its health
probe but has lost the tables, pools and queues a stack deployed earlier: every request then
fails in a way that points at the stack, not at the environment. ``harness status`` asks the
emulator, straight (no fault injection), for each such resource and names what is missing and
what to run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.model import DeployedStack, ResourceRecord, load_stacks

__all__ = ["CHECKED_TYPES", "MissingResource", "missing_resources"]


@dataclass(frozen=True)
class MissingResource:
    stack: str
    stack_dir: str
    logical_id: str
    type: str
    physical_id: str
    error: str

    def describe(self) -> str:
        return (
            f"{self.type} {self.physical_id} ({self.logical_id}) of stack {self.stack} is missing "
            f"on the emulator ({self.error}): the emulator was reset or restarted"
        )


def _table(client: Callable[[str], Any], record: ResourceRecord) -> None:
    client("dynamodb").describe_table(TableName=record.physical_id)


def _queue(client: Callable[[str], Any], record: ResourceRecord) -> None:
    url = record.attributes.get("QueueUrl") or record.physical_id
    client("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])


def _pool(client: Callable[[str], Any], record: ResourceRecord) -> None:
    client("cognito-idp").describe_user_pool(UserPoolId=record.physical_id)


def _topic(client: Callable[[str], Any], record: ResourceRecord) -> None:
    client("sns").get_topic_attributes(TopicArn=record.arn or record.physical_id)


def _bucket(client: Callable[[str], Any], record: ResourceRecord) -> None:
    client("s3").head_bucket(Bucket=record.physical_id)


CHECKED_TYPES: dict[str, Callable[[Callable[[str], Any], ResourceRecord], None]] = {
    "AWS::DynamoDB::Table": _table,
    "AWS::SQS::Queue": _queue,
    "AWS::Cognito::UserPool": _pool,
    "AWS::SNS::Topic": _topic,
    "AWS::S3::Bucket": _bucket,
}


def _not_found(exc: Exception) -> str | None:
    """The error code if ``exc`` says the resource does not exist, else None (unknown)."""
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return None
    code = str(response.get("Error", {}).get("Code", ""))
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    markers = ("NotFound", "NonExistent", "NoSuch", "DoesNotExist", "404")
    if any(marker in code for marker in markers) or status == 404:
        return code or "404"
    return None


def missing_resources(
    state_dir: Path,
    client: Callable[[str], Any],
    stacks: dict[str, DeployedStack] | None = None,
) -> list[MissingResource]:
    """Every table, queue, user pool, topic and bucket of a deployed stack that the emulator
    does not know. Errors other than "not found" are raised (the emulator does not answer)."""
    missing = []
    for stack in (stacks if stacks is not None else load_stacks(state_dir)).values():
        for record in stack.resources.values():
            probe = CHECKED_TYPES.get(record.type)
            if probe is None:
                continue
            try:
                probe(client, record)
            except Exception as exc:
                code = _not_found(exc)
                if code is None:
                    raise
                missing.append(
                    MissingResource(
                        stack.name,
                        stack.stack_dir,
                        record.logical_id,
                        record.type,
                        record.physical_id,
                        code,
                    )
                )
    return missing
