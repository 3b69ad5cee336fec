"""Alarm definitions from deployed stacks (``AWS::CloudWatch::Alarm`` and
``AWS::CloudWatch::CompositeAlarm`` resources as deployed, properties resolved)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from harness.metrics.alarms import AlarmDefinitionError, MetricAlarm
from harness.metrics.composite import CompositeAlarm, RuleError, parse_rule
from harness.model import DeployedStack, load_stacks

__all__ = [
    "ALARM_TYPE",
    "COMPOSITE_TYPE",
    "DefinitionProblem",
    "Definitions",
    "from_stacks",
    "load",
]

ALARM_TYPE = "AWS::CloudWatch::Alarm"
COMPOSITE_TYPE = "AWS::CloudWatch::CompositeAlarm"


@dataclass(frozen=True)
class DefinitionProblem:
    stack: str
    logical_id: str
    field: str
    message: str

    def __str__(self) -> str:
        return f"stack {self.stack}, {self.logical_id}, {self.field}: {self.message}"


@dataclass
class Definitions:
    alarms: list[MetricAlarm] = field(default_factory=list)
    composites: list[CompositeAlarm] = field(default_factory=list)
    problems: list[DefinitionProblem] = field(default_factory=list)


def from_stacks(stacks: dict[str, DeployedStack], scale: float = 1.0) -> Definitions:
    out = Definitions()
    names: set[str] = set()
    arns: set[str] = set()
    for stack in stacks.values():
        for rec in stack.resources.values():
            if rec.type != ALARM_TYPE:
                continue
            try:
                alarm = MetricAlarm.from_properties(
                    rec.physical_id,
                    rec.properties,
                    scale=scale,
                    stack=stack.name,
                    logical_id=rec.logical_id,
                    arn=rec.arn or "",
                )
            except AlarmDefinitionError as exc:
                out.problems.append(
                    DefinitionProblem(stack.name, rec.logical_id, exc.field, exc.message)
                )
                continue
            out.alarms.append(alarm)
            names.add(alarm.name)
            arns.add(alarm.arn)
    for stack in stacks.values():
        for rec in stack.resources.values():
            if rec.type != COMPOSITE_TYPE:
                continue
            props = rec.properties
            text = str(props.get("AlarmRule") or "")
            try:
                rule, refs = parse_rule(text)
            except RuleError as exc:
                out.problems.append(
                    DefinitionProblem(stack.name, rec.logical_id, "AlarmRule", str(exc))
                )
                continue
            out.composites.append(
                CompositeAlarm(
                    name=rec.physical_id,
                    rule_text=text,
                    rule=rule,
                    references=refs,
                    alarm_actions=[str(a) for a in props.get("AlarmActions") or []],
                    ok_actions=[str(a) for a in props.get("OKActions") or []],
                    insufficient_data_actions=[
                        str(a) for a in props.get("InsufficientDataActions") or []
                    ],
                    actions_enabled=str(props.get("ActionsEnabled", True)).lower()
                    not in ("false", "0"),
                    description=str(props.get("AlarmDescription") or ""),
                    stack=stack.name,
                    logical_id=rec.logical_id,
                    arn=rec.arn or "",
                )
            )
            names.add(rec.physical_id)
            arns.add(rec.arn or "")
    for composite in out.composites:
        unknown = [r for r in composite.references if r not in names and r not in arns]
        if unknown:
            out.problems.append(
                DefinitionProblem(
                    composite.stack,
                    composite.logical_id,
                    "AlarmRule",
                    f"names unknown alarm(s) {', '.join(unknown)}",
                )
            )
    return out


def load(state_dir: Path, scale: float = 1.0) -> Definitions:
    return from_stacks(load_stacks(state_dir), scale)
