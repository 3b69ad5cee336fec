"""Types with no behaviour to emulate: recorded, with the reason in ``NO_EFFECT``.

``AWS::ResourceGroups::Group`` and ``AWS::ApplicationInsights::Application`` group resources for
the console and CloudWatch dashboards; ``AWS::Scheduler::ScheduleGroup`` is the container
schedules name in ``GroupName`` (the schedules themselves are fired by the runtime).
"""

from __future__ import annotations

from typing import Any

from harness.deploy.resources.base import Context, record
from harness.model import ResourceRecord

# type -> why recording it is all there is to do locally
NO_EFFECT: dict[str, str] = {
    "AWS::ResourceGroups::Group": "a console grouping of resources by tag or stack; no runtime "
    "effect",
    "AWS::ApplicationInsights::Application": "CloudWatch Application Insights dashboards and "
    "problem detection; no runtime effect",
    "AWS::Scheduler::ScheduleGroup": "a named container for schedules; the schedules in it fire "
    "as any other",
}
TYPES = tuple(NO_EFFECT)
BACKEND = "recorded (no local effect)"
PROPERTIES = frozenset({"Name", "ResourceGroupName", "Tags"})
# accepted with no local effect, and why (unsupported.py)
IGNORED: dict[str, str] = {
    "Description": "a description for the console",
    "ResourceQuery": "which resources the console group lists",
    "Configuration": "service configuration of the group (console only)",
    "Resources": "the resources the console group lists",
    "AutoConfigurationEnabled": "Application Insights monitoring setup",
    "CWEMonitorEnabled": "Application Insights monitoring of CloudWatch events",
    "OpsCenterEnabled": "Application Insights OpsItems",
    "OpsItemSNSTopicArn": "Application Insights OpsItems notifications",
    "SNSNotificationArn": "Application Insights problem notifications",
    "CustomComponents": "Application Insights component grouping",
    "LogPatternSets": "Application Insights log pattern detection",
    "ComponentMonitoringSettings": "Application Insights per-component monitoring",
    "GroupingType": "Application Insights account-level grouping",
    "AttachMissingPermission": "Application Insights permission setup",
}
ATTRIBUTES = ("Arn", "ApplicationARN", "CreationDate", "LastModificationDate", "State")


def create(ctx: Context, logical_id: str, props: dict[str, Any]) -> ResourceRecord:
    type_ = ctx.current_type or TYPES[0]
    name = str(
        props.get("Name") or props.get("ResourceGroupName") or f"{ctx.stack_name}-{logical_id}"
    )
    service = {
        "AWS::ResourceGroups::Group": "resource-groups",
        "AWS::Scheduler::ScheduleGroup": "scheduler",
    }.get(type_, "applicationinsights")
    kind = {"resource-groups": "group", "scheduler": "schedule-group"}.get(service, "application")
    arn = ctx.arn(service, f"{kind}/{name}")
    return record(
        logical_id, type_, name, props, arn=arn, Arn=arn, ApplicationARN=arn, State="ACTIVE"
    )


def update(ctx: Context, old: ResourceRecord, props: dict[str, Any]) -> ResourceRecord:
    return create(ctx, old.logical_id, props)


def delete(ctx: Context, rec: ResourceRecord) -> None:
    return None
