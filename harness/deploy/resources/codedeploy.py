"""AWS::CodeDeploy::Application and ::DeploymentGroup, as SAM's ``DeploymentPreference`` makes
them for an ``AutoPublishAlias`` function: ``AllAtOnce`` is honoured (the alias moves to the new
version in the deploy that publishes it, which is what the local alias does); gradual traffic
shifting (``Canary*``/``Linear*`` or a custom configuration), alarms that stop a deployment and
the pre/post-traffic hooks are refused: CodeDeploy does not run locally, and a canary that
silently moved all traffic at once would test nothing it claims to.
"""

from __future__ import annotations

import json
from typing import Any

from harness.deploy.resources.base import Context, record
from harness.errors import DeployError
from harness.model import ResourceRecord

TYPES = ("AWS::CodeDeploy::Application", "AWS::CodeDeploy::DeploymentGroup")
BACKEND = "recorded (CodeDeploy is not run locally)"
PROPERTIES = frozenset({"ApplicationName", "ComputePlatform", "DeploymentConfigName"})
IGNORED: dict[str, str] = {
    "ServiceRoleArn": "the role CodeDeploy assumes; nothing assumes it locally",
    "DeploymentStyle": "Lambda deployments are always BLUE_GREEN with traffic control",
    "AutoRollbackConfiguration": "an AllAtOnce deployment without alarms or hooks has nothing "
    "that could fail after the alias moved",
    "Tags": "tags are not read locally",
    "DeploymentGroupName": "the group's name (recorded)",
}
REFUSED: dict[str, str] = {
    "AlarmConfiguration": "CodeDeploy does not watch alarms during a local deploy, so a "
    "deployment they should stop would go through",
    "TriggerConfigurations": "deployment event notifications are not sent locally",
}
ATTRIBUTES: tuple[str, ...] = ()

ALL_AT_ONCE = "CodeDeployDefault.LambdaAllAtOnce"
_SHIFTING = ("Canary", "Linear")


def _why(config: str) -> str:
    return (
        f"deployment configuration {config}: CodeDeploy's gradual traffic shifting is not "
        "emulated (locally the alias moves to the new version at once, so the canary or linear "
        "steps and their alarms would not happen); use DeploymentPreference Type AllAtOnce "
        "locally, or test a weighted split with AWS::Lambda::Alias RoutingConfig."
        "AdditionalVersionWeights, which is honoured"
    )


def refusals(type_: str, props: dict[str, Any]) -> list[tuple[str, str]]:
    """A literal (or SAM's ``Fn::Sub`` of a literal) Canary or Linear configuration."""
    raw = props.get("DeploymentConfigName")
    if raw is None:
        return []
    text = json.dumps(raw)
    if any(word in text for word in _SHIFTING):
        return [("DeploymentConfigName", _why(raw if isinstance(raw, str) else text))]
    return []  # any other name that is not AllAtOnce is refused when resolved (create)


def create(ctx: Context, logical_id: str, props: dict[str, Any]) -> ResourceRecord:
    type_ = ctx.current_type or TYPES[0]
    config = props.get("DeploymentConfigName")
    if type_ == TYPES[1] and config not in (None, ALL_AT_ONCE):
        raise DeployError(  # a parameter that resolved to a shifting configuration
            _why(str(config)),
            file=ctx.file,
            logical_id=logical_id,
            property="DeploymentConfigName",
            backend=BACKEND,
        )
    name = str(props.get("ApplicationName") or f"{ctx.stack_name}-{logical_id}")
    if type_ == TYPES[1]:
        name = f"{ctx.stack_name}-{logical_id}"
    return record(logical_id, type_, name, props)


def update(ctx: Context, old: ResourceRecord, props: dict[str, Any]) -> ResourceRecord:
    return create(ctx, old.logical_id, props)


def delete(ctx: Context, rec: ResourceRecord) -> None:
    return None
