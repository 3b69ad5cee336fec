"""AWS::CloudWatch::CompositeAlarm: recorded for the AWS edge, which evaluates its AlarmRule
over the live states of the alarms it names (:mod:`harness.edge.alarms`).

The rule is parsed at deploy; a rule that cannot be read, or that names an alarm this stack
does not define (by name or ARN), is refused with the file, the logical id and ``AlarmRule``.
"""

from __future__ import annotations

from typing import Any

from harness.deploy.resources.base import Context, record
from harness.errors import DeployError
from harness.metrics.composite import RuleError, parse_rule
from harness.model import ResourceRecord

TYPES = ("AWS::CloudWatch::CompositeAlarm",)
BACKEND = "evaluated by the harness's AWS edge"
PROPERTIES = frozenset(
    {
        "AlarmName",
        "AlarmRule",
        "AlarmDescription",
        "ActionsEnabled",
        "AlarmActions",
        "OKActions",
        "InsufficientDataActions",
    }
)
# ActionsSuppressor* change when actions fire: not evaluated, so refused (not in either table).
IGNORED: dict[str, str] = {
    "Tags": "tags label the resource; they change no behaviour",
}
ATTRIBUTES = ("Arn",)


def _rule_error(file: str, logical_id: str, message: str) -> DeployError:
    return DeployError(
        f"AlarmRule: {message}.",
        file=file,
        logical_id=logical_id,
        property="AlarmRule",
        backend=BACKEND,
        fix='write the rule as ALARM("name") / OK(...) / INSUFFICIENT_DATA(...) joined with '
        "AND, OR, NOT, naming alarms of this stack (e.g. !Sub 'ALARM(${ErrorsAlarm})').",
    )


def check(file: str, logical_id: str, props: dict[str, Any]) -> None:
    rule = props.get("AlarmRule")
    if isinstance(rule, str):
        try:
            parse_rule(rule)
        except RuleError as exc:
            raise _rule_error(file, logical_id, str(exc)) from None


def _validate(ctx: Context, logical_id: str, props: dict[str, Any]) -> None:
    text = str(props.get("AlarmRule") or "")
    try:
        _rule, refs = parse_rule(text)
    except RuleError as exc:
        raise _rule_error(ctx.file, logical_id, str(exc)) from None
    known: set[str] = set()
    for rec in ctx.records.values():
        if rec.type in ("AWS::CloudWatch::Alarm", TYPES[0]):
            known.add(rec.physical_id)
            if rec.arn:
                known.add(rec.arn)
    unknown = [r for r in refs if r not in known]
    if unknown:
        raise _rule_error(
            ctx.file,
            logical_id,
            f"names unknown alarm(s) {', '.join(unknown)} (alarms of this stack: "
            f"{', '.join(sorted(n for n in known if not n.startswith('arn:'))) or 'none'})",
        )


def create(ctx: Context, logical_id: str, props: dict[str, Any]) -> ResourceRecord:
    _validate(ctx, logical_id, props)
    name = str(props.get("AlarmName") or ctx.physical_name(logical_id, max_len=255))
    arn = ctx.arn("cloudwatch", f"alarm:{name}")
    return record(logical_id, TYPES[0], name, props, arn=arn, Arn=arn)


def update(ctx: Context, old: ResourceRecord, props: dict[str, Any]) -> ResourceRecord:
    _validate(ctx, old.logical_id, props)
    if old.properties.get("AlarmName") != props.get("AlarmName"):
        return create(ctx, old.logical_id, props)
    return record(old.logical_id, TYPES[0], old.physical_id, props, arn=old.arn, Arn=old.arn)


def delete(ctx: Context, rec: ResourceRecord) -> None:
    return None  # nothing on a backend: the edge forgets it with the stack file
