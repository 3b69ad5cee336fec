"""Data-layer invariants, read from the emulators (not through the API) before and after a run.

For each rule of the spec's ``data`` section, every record *written during the run* (present
after, absent or different before) must carry the partition of one of the run's tenants as the
pattern declares it, and when the record holds the id of a resource the run created, that
partition must be its creator's:

- DynamoDB: the partition key of every new item matches ``pattern`` (``TENANT#{tenant}#*``);
- S3: every new object key matches ``pattern``;
- SQS: the ``field`` of every message in ``queue`` (peeked, not consumed) matches ``pattern``;
- Redis: every new key matching ``pattern`` contains ``must_contain`` for some tenant (a cache
  key without the tenant is the classic bug);
- IAM: the role's ``dynamodb:LeadingKeys`` policy, evaluated with :mod:`harness.isolation.iam`
  for each new item, allows the owner's session and denies every other tenant's. The edge does
  not record which function made which DynamoDB call with which credentials, so the policy is
  applied to the items the run wrote rather than to the calls themselves.

``{tenant}`` matches one whole tenant id: ``TENANT#acme#*`` does not match ``TENANT#acme-corp#``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from harness.isolation.spec import DataRules

__all__ = [
    "DataFinding",
    "DataReader",
    "EmulatorData",
    "Snapshot",
    "check_data",
    "data_findings",
    "pattern_tenants",
    "snapshot",
]

# A record: (key, full text). The key is what the pattern applies to; the text is searched for
# the ids of resources the run created.
Record = tuple[str, str]


class DataReader(Protocol):
    """Reads what the data layer holds (the emulators, or a fake's memory in tests)."""

    def dynamodb(self, table: str, key: str) -> list[Record]: ...

    def s3(self, bucket: str) -> list[Record]: ...

    def sqs(self, queue: str, field: str) -> list[Record]: ...

    def redis(self, pattern: str) -> list[Record]: ...


@dataclass
class Snapshot:
    records: dict[str, set[Record]] = field(default_factory=dict)  # rule label -> records


def _labels(rules: DataRules) -> list[tuple[str, str, Any]]:
    out: list[tuple[str, str, Any]] = []
    for rule in rules.dynamodb:
        out.append((f"dynamodb {rule.table}.{rule.key}", "dynamodb", rule))
    for s3 in rules.s3:
        out.append((f"s3 {s3.bucket}", "s3", s3))
    for sqs in rules.sqs:
        out.append((f"sqs {sqs.queue}.{sqs.field}", "sqs", sqs))
    for redis in rules.redis:
        out.append((f"redis {redis.pattern}", "redis", redis))
    return out


def snapshot(reader: DataReader, rules: DataRules) -> Snapshot:
    shot = Snapshot()
    for label, kind, rule in _labels(rules):
        if kind == "dynamodb":
            records = reader.dynamodb(rule.table, rule.key)
        elif kind == "s3":
            records = reader.s3(rule.bucket)
        elif kind == "sqs":
            records = reader.sqs(rule.queue, rule.field)
        else:
            records = reader.redis(rule.pattern)
        shot.records[label] = set(records)
    return shot


def _glob_regex(pattern: str, tenant: str, user: str | None = None) -> re.Pattern[str]:
    parts = re.split(r"(\{tenant\}|\{user\}|\*)", pattern)
    out = []
    for part in parts:
        if part == "{tenant}":
            out.append(re.escape(tenant))
        elif part == "{user}":
            out.append(re.escape(user if user is not None else tenant))
        elif part == "*":
            out.append(".*")
        else:
            out.append(re.escape(part))
    return re.compile("".join(out), re.DOTALL)


def pattern_tenants(pattern: str, key: str, tenants: Iterable[str]) -> list[str]:
    """The tenants whose partition ``key`` is, by ``pattern``."""
    return [t for t in tenants if _glob_regex(pattern, t).fullmatch(key)]


def _exempt(key: str, globs: list[str]) -> bool:
    return any(re.fullmatch(".*".join(map(re.escape, g.split("*"))), key) for g in globs)


def _owners_in(text: str, owned: dict[str, str]) -> set[str]:
    return {tenant for res_id, tenant in owned.items() if res_id and res_id in text}


@dataclass(frozen=True)
class DataFinding:
    """One record written during the run that breaks its rule: the rule's label, the record's
    key and text, the violation line, and the ids of the run's resources the record holds."""

    rule: str
    key: str
    text: str
    message: str
    ids: tuple[str, ...] = ()


def data_findings(
    rules: DataRules,
    before: Snapshot,
    after: Snapshot,
    tenants: list[str],
    owned: dict[str, str],
    *,
    only: str | None = None,
) -> tuple[dict[str, Any], list[DataFinding], list[tuple[str, set[str]]]]:
    """(figures per rule, findings, DynamoDB items of the IAM table with their owners);
    ``only``: just the rule with that label."""
    figures: dict[str, Any] = {}
    findings: list[DataFinding] = []
    iam_items: list[tuple[str, set[str]]] = []
    for label, kind, rule in _labels(rules):
        if only is not None and label != only:
            continue
        new = sorted(after.records.get(label, set()) - before.records.get(label, set()))
        problems = 0
        for key, text in new:
            if _exempt(key, getattr(rule, "exempt", [])):
                continue
            if kind == "redis":
                matched = [
                    t for t in tenants if t and rule.must_contain.replace("{tenant}", t) in key
                ]
                where = f"must contain {rule.must_contain!r}"
            else:
                matched = pattern_tenants(rule.pattern, key, tenants)
                where = f"pattern {rule.pattern!r}"
            creators = _owners_in(text, owned) if kind != "redis" else set()
            ids = tuple(sorted(i for i in owned if i and (i in text or i in key)))
            message = ""
            if not matched:
                message = (
                    f"data layer: {label}: {key!r} carries no tenant's partition ({where}; "
                    f"tenants of the run: {', '.join(repr(t) for t in tenants)})"
                )
            elif creators - set(matched):
                message = (
                    f"data layer: {label}: {key!r} holds data created by "
                    f"{', '.join(sorted(creators))} inside the partition of "
                    f"{', '.join(matched)}"
                )
            if message:
                problems += 1
                findings.append(DataFinding(label, key, text, message, ids))
            if kind == "dynamodb" and rules.iam is not None and rule.table == rules.iam.table:
                iam_items.append((key, creators or set(matched)))
        figures[label] = {"new_records": len(new), "violations": problems}
    return figures, findings, iam_items


def check_data(
    rules: DataRules,
    before: Snapshot,
    after: Snapshot,
    tenants: list[str],
    owned: dict[str, str],
    *,
    policies: list[dict[str, Any]] | None = None,
    table_arn: str = "",
) -> tuple[dict[str, Any], list[str]]:
    """Compare the snapshots; (figures per rule, violations). ``owned``: resource id -> tenant."""
    figures, findings, iam_items = data_findings(rules, before, after, tenants, owned)
    violations = [f.message for f in findings]
    if rules.iam is not None and policies is not None:
        found = _check_iam(rules, iam_items, tenants, policies, table_arn)
        figures[f"iam {rules.iam.role}"] = {"items": len(iam_items), "violations": len(found)}
        violations += found
    return figures, violations


def _check_iam(
    rules: DataRules,
    items: list[tuple[str, set[str]]],
    tenants: list[str],
    policies: list[dict[str, Any]],
    table_arn: str,
) -> list[str]:
    from harness.isolation.iam import Principal, evaluate

    assert rules.iam is not None
    tag = rules.iam.principal_tag
    violations: list[str] = []
    seen: set[str] = set()
    for key, owners in items:
        for action in rules.iam.actions:
            context = {"dynamodb:LeadingKeys": [key]}
            for tenant in tenants:
                if not tenant:
                    continue  # a session tag cannot be empty
                decision = evaluate(
                    policies,
                    action,
                    table_arn,
                    context=context,
                    principal=Principal(tags={tag: tenant}),
                )
                should = tenant in owners
                if decision.allowed != should:
                    message = (
                        f"IAM {rules.iam.role}: {action} on partition {key!r} is "
                        f"{'allowed' if decision.allowed else 'denied'} for {tag}={tenant!r} "
                        f"(owner: {', '.join(sorted(owners)) or 'none'}; {decision.reason})"
                    )
                    if message not in seen:
                        seen.add(message)
                        violations.append(message)
    return violations


class EmulatorData:
    """A :class:`DataReader` over the running environment's emulators and Redis."""

    def __init__(self, env: Any, stack: Any) -> None:
        self.env = env
        self.stack = stack

    def _physical(self, logical: str) -> Any:
        record = self.stack.resources.get(logical)
        if record is None:
            from harness.errors import ConfigError

            known = ", ".join(sorted(self.stack.resources))
            raise ConfigError(
                f"isolation.data names '{logical}', which is not a resource of stack "
                f"{self.stack.name} (resources: {known}).",
                fix="use a logical id from template.yaml.",
            )
        return record

    def dynamodb(self, table: str, key: str) -> list[Record]:
        client = self.env.client("dynamodb")
        name = self._physical(table).physical_id
        out: list[Record] = []
        kwargs: dict[str, Any] = {"TableName": name}
        while True:
            page = client.scan(**kwargs)
            for item in page.get("Items", []):
                value = item.get(key, {})
                scalar = next(iter(value.values()), "") if isinstance(value, dict) else ""
                out.append((str(scalar), json.dumps(item, sort_keys=True, default=str)))
            if "LastEvaluatedKey" not in page:
                return out
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def s3(self, bucket: str) -> list[Record]:
        client = self.env.client("s3")
        name = self._physical(bucket).physical_id
        out: list[Record] = []
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=name):
            for obj in page.get("Contents", []):
                out.append((str(obj["Key"]), f"{obj['Key']} {obj.get('ETag', '')}"))
        return out

    def sqs(self, queue: str, field: str) -> list[Record]:
        client = self.env.client("sqs")
        record = self._physical(queue)
        url = record.attributes.get("QueueUrl") or record.physical_id
        out: list[Record] = []
        seen: set[str] = set()
        for _ in range(10):
            answer = client.receive_message(
                QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0, WaitTimeSeconds=0
            )
            messages = answer.get("Messages", [])
            fresh = [m for m in messages if m["MessageId"] not in seen]
            if not fresh:
                break
            for message in fresh:
                seen.add(message["MessageId"])
                try:
                    value = json.loads(message["Body"]).get(field, "")
                except (ValueError, AttributeError):
                    value = ""
                out.append((str(value), message["Body"]))
        return out

    def redis(self, pattern: str) -> list[Record]:
        client = self.env.redis()
        try:
            return [
                (k.decode("utf-8", "replace") if isinstance(k, bytes) else str(k), "")
                for k in client.scan_iter(match=pattern, count=500)
            ]
        finally:
            client.close()


def role_policies(stack: Any, role: str) -> tuple[list[dict[str, Any]], str]:
    """The inline and attached policy documents of ``role`` (a logical id) as deployed."""
    record = stack.resources.get(role)
    if record is None:
        from harness.errors import ConfigError

        raise ConfigError(
            f"isolation.data.iam.role '{role}' is not a resource of stack {stack.name}.",
            fix="name the tenant-scoped AWS::IAM::Role by its logical id.",
        )
    props = record.properties or {}
    docs = [p["PolicyDocument"] for p in props.get("Policies") or [] if "PolicyDocument" in p]
    return docs, str(record.arn or "")
