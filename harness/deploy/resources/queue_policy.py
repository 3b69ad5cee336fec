"""AWS::SQS::QueuePolicy, AWS::SNS::TopicPolicy, AWS::S3::BucketPolicy: recorded, not enforced.

The emulator does not evaluate resource policies, so the documents are only kept in the record
(the isolation checks read them from there).
"""

from __future__ import annotations

import secrets
from typing import Any

from harness.deploy.resources.base import Context, record
from harness.model import ResourceRecord

TYPES = ("AWS::SQS::QueuePolicy", "AWS::SNS::TopicPolicy", "AWS::S3::BucketPolicy")
BACKEND = "recorded (resource policies are not enforced locally)"
PROPERTIES = frozenset({"PolicyDocument", "Queues", "Topics", "Bucket"})
IGNORED: dict[str, str] = {}
ATTRIBUTES: tuple[str, ...] = ()


def create(ctx: Context, logical_id: str, props: dict[str, Any]) -> ResourceRecord:
    return record(logical_id, TYPES[0], f"{logical_id}-{secrets.token_hex(4)}", props)


def update(ctx: Context, old: ResourceRecord, props: dict[str, Any]) -> ResourceRecord:
    return record(old.logical_id, old.type, old.physical_id, props)


def delete(ctx: Context, rec: ResourceRecord) -> None:
    return None
