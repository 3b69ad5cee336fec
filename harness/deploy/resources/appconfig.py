"""AWS AppConfig on the emulator: applications, environments, configuration profiles, hosted
configuration versions, deployment strategies and deployments.

``Ref`` returns what CloudFormation returns: the application / environment / profile /
strategy id, the version number of a hosted configuration version, and the deployment number
of a deployment. Functions read the deployed configuration through the ``appconfigdata`` API
(``StartConfigurationSession`` / ``GetLatestConfiguration``) at the AWS endpoint.

Like CloudFormation, a changed hosted configuration version is a *new* version (the old one is
deleted after the update) and a changed deployment starts a new deployment; the other types are
updated in place. Deployments complete at once on the emulator whatever the strategy says.
"""

from __future__ import annotations

from typing import Any

from harness.deploy.resources.base import Context, record
from harness.model import ResourceRecord

APPLICATION = "AWS::AppConfig::Application"
ENVIRONMENT = "AWS::AppConfig::Environment"
PROFILE = "AWS::AppConfig::ConfigurationProfile"
VERSION = "AWS::AppConfig::HostedConfigurationVersion"
STRATEGY = "AWS::AppConfig::DeploymentStrategy"
DEPLOYMENT = "AWS::AppConfig::Deployment"

TYPES = (APPLICATION, ENVIRONMENT, PROFILE, VERSION, STRATEGY, DEPLOYMENT)
BACKEND = "ministack AppConfig"
PROPERTIES = frozenset(
    {
        "Name",
        "Description",
        "ApplicationId",
        "EnvironmentId",
        "LocationUri",
        "Type",
        "ConfigurationProfileId",
        "Content",
        "ContentType",
        "VersionLabel",
        "DeploymentDurationInMinutes",
        "FinalBakeTimeInMinutes",
        "GrowthFactor",
        "GrowthType",
        "ReplicateTo",
        "ConfigurationVersion",
        "DeploymentStrategyId",
        "Tags",
    }
)
# accepted with no local effect, and why (unsupported.py)
IGNORED: dict[str, str] = {
    "DeletionProtectionCheck": "guards deleting a profile that was read recently; local deletes are the harness's own",
    "KmsKeyIdentifier": "encryption at rest with a customer key; nothing observable changes locally",
    "LatestVersionNumber": "optimistic locking between concurrent writers of versions; a deploy writes its version alone",
    "Monitors": "CloudWatch alarms that roll a deployment back; local deployments complete at once",
    "RetrievalRoleArn": "the IAM role AppConfig reads the configuration with; local reads are not authorised by role",
}
# refused at deploy (unless --allow-unsupported), and why
REFUSED: dict[str, str] = {
    "DynamicExtensionParameters": "AppConfig extensions are not run locally",
    "Validators": "configuration validators (JSON schema or Lambda) are not run, so an invalid configuration would deploy",
}
ATTRIBUTES = (
    "ApplicationId",
    "EnvironmentId",
    "ConfigurationProfileId",
    "VersionNumber",
    "Id",
    "DeploymentNumber",
)


def _tags(props: dict[str, Any]) -> dict[str, str]:
    tags = props.get("Tags") or []
    if isinstance(tags, dict):
        return {str(k): str(v) for k, v in tags.items()}
    return {str(t["Key"]): str(t["Value"]) for t in tags}


def _optional(props: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: props[k] for k in keys if props.get(k) not in (None, "")}


def create(ctx: Context, logical_id: str, props: dict[str, Any]) -> ResourceRecord:
    client = ctx.client("appconfig")
    type_ = ctx.current_type
    if type_ == APPLICATION:
        answer = ctx.call(
            logical_id, BACKEND, client.create_application,
            Name=props["Name"], Tags=_tags(props), **_optional(props, "Description"),
        )  # fmt: skip
        return record(logical_id, type_, answer["Id"], props, ApplicationId=answer["Id"])
    if type_ == ENVIRONMENT:
        answer = ctx.call(
            logical_id, BACKEND, client.create_environment,
            ApplicationId=props["ApplicationId"], Name=props["Name"], Tags=_tags(props),
            **_optional(props, "Description"),
        )  # fmt: skip
        return record(logical_id, type_, answer["Id"], props, EnvironmentId=answer["Id"])
    if type_ == PROFILE:
        answer = ctx.call(
            logical_id, BACKEND, client.create_configuration_profile,
            ApplicationId=props["ApplicationId"], Name=props["Name"],
            LocationUri=props.get("LocationUri", "hosted"), Tags=_tags(props),
            **_optional(props, "Description", "Type"),
        )  # fmt: skip
        return record(logical_id, type_, answer["Id"], props, ConfigurationProfileId=answer["Id"])
    if type_ == VERSION:
        content = props["Content"]
        answer = ctx.call(
            logical_id, BACKEND, client.create_hosted_configuration_version,
            ApplicationId=props["ApplicationId"],
            ConfigurationProfileId=props["ConfigurationProfileId"],
            Content=content.encode() if isinstance(content, str) else bytes(content),
            ContentType=props["ContentType"],
            **_optional(props, "Description", "VersionLabel"),
        )  # fmt: skip
        number = str(answer["VersionNumber"])
        return record(logical_id, type_, number, props, VersionNumber=number)
    if type_ == STRATEGY:
        answer = ctx.call(
            logical_id, BACKEND, client.create_deployment_strategy,
            Name=props["Name"],
            DeploymentDurationInMinutes=int(props["DeploymentDurationInMinutes"]),
            GrowthFactor=float(props["GrowthFactor"]),
            ReplicateTo=props.get("ReplicateTo", "NONE"), Tags=_tags(props),
            **_optional(props, "Description", "GrowthType"),
            **(
                {"FinalBakeTimeInMinutes": int(props["FinalBakeTimeInMinutes"])}
                if props.get("FinalBakeTimeInMinutes") is not None
                else {}
            ),
        )  # fmt: skip
        return record(logical_id, type_, answer["Id"], props, Id=answer["Id"])
    if type_ == DEPLOYMENT:
        answer = ctx.call(
            logical_id, BACKEND, client.start_deployment,
            ApplicationId=props["ApplicationId"], EnvironmentId=props["EnvironmentId"],
            DeploymentStrategyId=props["DeploymentStrategyId"],
            ConfigurationProfileId=props["ConfigurationProfileId"],
            ConfigurationVersion=str(props["ConfigurationVersion"]), Tags=_tags(props),
            **_optional(props, "Description"),
        )  # fmt: skip
        number = str(answer["DeploymentNumber"])
        return record(logical_id, type_, number, props, DeploymentNumber=number)
    raise AssertionError(f"not an AppConfig type: {type_}")


def update(ctx: Context, old: ResourceRecord, props: dict[str, Any]) -> ResourceRecord:
    client = ctx.client("appconfig")
    type_ = old.type
    parent = old.properties.get("ApplicationId")
    if type_ in (VERSION, DEPLOYMENT) or props.get("ApplicationId") != parent:
        ctx.current_type = type_
        new = create(ctx, old.logical_id, props)  # a new version / deployment, like CloudFormation
        if type_ != DEPLOYMENT:
            delete(ctx, old)
        return new
    common = _optional(props, "Name", "Description")
    if type_ == APPLICATION:
        ctx.call(old.logical_id, BACKEND, client.update_application,
                 ApplicationId=old.physical_id, **common)  # fmt: skip
    elif type_ == ENVIRONMENT:
        ctx.call(old.logical_id, BACKEND, client.update_environment,
                 ApplicationId=parent, EnvironmentId=old.physical_id, **common)  # fmt: skip
    elif type_ == PROFILE:
        ctx.call(old.logical_id, BACKEND, client.update_configuration_profile,
                 ApplicationId=parent, ConfigurationProfileId=old.physical_id, **common)  # fmt: skip
    elif type_ == STRATEGY:
        ctx.call(
            old.logical_id, BACKEND, client.update_deployment_strategy,
            DeploymentStrategyId=old.physical_id,
            **_optional(props, "Description", "GrowthType"),
            DeploymentDurationInMinutes=int(props["DeploymentDurationInMinutes"]),
            GrowthFactor=float(props["GrowthFactor"]),
        )  # fmt: skip
    return record(old.logical_id, type_, old.physical_id, props, arn=old.arn, **old.attributes)


def delete(ctx: Context, rec: ResourceRecord) -> None:
    client = ctx.client("appconfig")
    props = rec.properties
    if rec.type == APPLICATION:
        ctx.quietly(client.delete_application, ApplicationId=rec.physical_id)
    elif rec.type == ENVIRONMENT:
        ctx.quietly(
            client.delete_environment,
            ApplicationId=props["ApplicationId"], EnvironmentId=rec.physical_id,
        )  # fmt: skip
    elif rec.type == PROFILE:
        ctx.quietly(
            client.delete_configuration_profile,
            ApplicationId=props["ApplicationId"], ConfigurationProfileId=rec.physical_id,
        )  # fmt: skip
    elif rec.type == VERSION:
        ctx.quietly(
            client.delete_hosted_configuration_version,
            ApplicationId=props["ApplicationId"],
            ConfigurationProfileId=props["ConfigurationProfileId"],
            VersionNumber=int(rec.physical_id),
        )  # fmt: skip
    elif rec.type == STRATEGY:
        ctx.quietly(client.delete_deployment_strategy, DeploymentStrategyId=rec.physical_id)
    # a deployment is history: CloudFormation leaves it (nothing to delete)
