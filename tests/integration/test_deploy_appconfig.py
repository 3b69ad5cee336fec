"""AWS::AppConfig::* on the emulator: deploy, read through appconfigdata, update, destroy."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.config import Settings
from harness.deploy import deploy_stack, destroy_stack
from harness.env.environment import Environment

pytestmark = pytest.mark.integration

TEMPLATE = """\
AWSTemplateFormatVersion: "2010-09-09"
Parameters:
  Flag:
    Type: String
    Default: "off"
Resources:
  App:
    Type: AWS::AppConfig::Application
    Properties:
      Name: !Sub "${AWS::StackName}-app"
  Env:
    Type: AWS::AppConfig::Environment
    Properties:
      ApplicationId: !Ref App
      Name: test
  Profile:
    Type: AWS::AppConfig::ConfigurationProfile
    Properties:
      ApplicationId: !Ref App
      Name: flags
      LocationUri: hosted
      Type: AWS.Freeform
  Version:
    Type: AWS::AppConfig::HostedConfigurationVersion
    Properties:
      ApplicationId: !Ref App
      ConfigurationProfileId: !Ref Profile
      ContentType: application/json
      Content: !Sub '{"feature": "${Flag}"}'
  Strategy:
    Type: AWS::AppConfig::DeploymentStrategy
    Properties:
      Name: !Sub "${AWS::StackName}-now"
      DeploymentDurationInMinutes: 0
      FinalBakeTimeInMinutes: 0
      GrowthFactor: 100
      ReplicateTo: NONE
  Deployment:
    Type: AWS::AppConfig::Deployment
    Properties:
      ApplicationId: !Ref App
      EnvironmentId: !Ref Env
      ConfigurationProfileId: !Ref Profile
      ConfigurationVersion: !Ref Version
      DeploymentStrategyId: !Ref Strategy
Outputs:
  AppId:
    Value: !GetAtt App.ApplicationId
  VersionNumber:
    Value: !Ref Version
"""


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Environment]:
    state = tmp_path_factory.mktemp("appconfig-state")
    with Environment(Settings.load(state_dir=state, runtime=False)) as env:
        yield env


def _latest(env: Environment, app: str) -> dict[str, str]:
    data = env.client("appconfigdata")
    session = data.start_configuration_session(
        ApplicationIdentifier=app,
        EnvironmentIdentifier="test",
        ConfigurationProfileIdentifier="flags",
    )
    answer = data.get_latest_configuration(ConfigurationToken=session["InitialConfigurationToken"])
    return json.loads(answer["Configuration"].read())  # type: ignore[no-any-return]


def test_appconfig_resources_deploy_update_and_destroy(env: Environment, tmp_path: Path) -> None:
    stack_dir = tmp_path / "flags"
    stack_dir.mkdir()
    (stack_dir / "template.yaml").write_text(TEMPLATE)
    stack = deploy_stack(env, stack_dir)
    app = stack.resources["App"].physical_id
    assert stack.outputs["AppId"] == app
    assert stack.outputs["VersionNumber"] == "1"
    assert _latest(env, app) == {"feature": "off"}

    # changed content: a new version and a new deployment, the old version gone
    stack = deploy_stack(env, stack_dir, {"Flag": "on"})
    assert stack.resources["App"].physical_id == app  # updated in place
    assert stack.outputs["VersionNumber"] == "2"
    assert _latest(env, app) == {"feature": "on"}
    client = env.client("appconfig")
    profile = stack.resources["Profile"].physical_id
    versions = client.list_hosted_configuration_versions(
        ApplicationId=app, ConfigurationProfileId=profile
    )["Items"]
    assert [v["VersionNumber"] for v in versions] == [2]

    destroy_stack(env, stack.name)
    names = [a["Name"] for a in client.list_applications()["Items"]]
    assert f"{stack.name}-app" not in names
    strategies = [s["Name"] for s in client.list_deployment_strategies()["Items"]]
    assert f"{stack.name}-now" not in strategies
