"""Nothing silent: every property of every type the harness claims is honoured, ignored with a
reason, or refused (checked against the CloudFormation resource specification cfn-lint ships),
and a refusal names the file, the resource, the property and why."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cfnlint.schema import PROVIDER_SCHEMA_MANAGER

from harness.deploy.engine import plan_stack
from harness.deploy.resources import MODULES, handler_for
from harness.deploy.template import load_source
from harness.deploy.unsupported import Unsupported, enforce, property_refusals
from harness.errors import DeployError


def _writable(type_: str) -> set[str]:
    """The properties a template may set on ``type_`` (CloudFormation's registry schema)."""
    schema = PROVIDER_SCHEMA_MANAGER.get_resource_schema("us-east-1", type_).schema
    read_only = {p.rsplit("/", 1)[-1] for p in schema.get("readOnlyProperties", [])}
    return set(schema["properties"]) - read_only


@pytest.mark.parametrize("type_", sorted(MODULES))
def test_every_property_of_the_specification_is_honoured_ignored_or_refused(type_: str) -> None:
    module = handler_for(type_)
    assert module is not None
    writable = _writable(type_)
    # the tables name real properties (of one of the module's types), and never twice
    names_of_module = set().union(*(_writable(t) for t in module.TYPES))
    claimed = set(module.PROPERTIES) | set(module.IGNORED)
    assert not (set(module.PROPERTIES) & set(module.IGNORED))
    unknown = claimed - names_of_module
    assert not unknown, f"{module.__name__} lists properties no type of it has: {unknown}"
    for reason in module.IGNORED.values():  # a reason, not a blanket ignore
        assert isinstance(reason, str) and len(reason.split()) >= 3
    refused_reasons = getattr(module, "REFUSED", {})
    assert not (set(refused_reasons) & claimed)
    # every other property of the specification is refused, by name, with a reason
    for name in sorted(writable - claimed):
        found = property_refusals("t.yaml", "R", type_, {name: "x"}, module)
        assert [u.property for u in found] == [name], (type_, name)
        assert "cannot be honoured" in found[0].reason
    # and an honoured or ignored one is not
    for name in sorted(writable & claimed):
        assert not [
            u
            for u in property_refusals("t.yaml", "R", type_, {name: "x"}, module)
            if u.property == name
        ]


def _stack(tmp_path: Path, body: str, files: dict[str, str] | None = None) -> Path:
    (tmp_path / "template.yaml").write_text(body)
    for name, text in (files or {}).items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


BUCKET_WITH_NOTIFICATIONS = """
Resources:
  Bucket:
    Type: AWS::S3::Bucket
    Properties:
      ObjectLockEnabled: true
  Queue:
    Type: AWS::SQS::Queue
"""


def test_a_refused_property_fails_the_plan_naming_file_resource_property_and_why(
    tmp_path: Path,
) -> None:
    source = load_source(_stack(tmp_path, BUCKET_WITH_NOTIFICATIONS))
    with pytest.raises(DeployError) as info:
        plan_stack(source, run_lint=False)
    error = info.value
    assert error.logical_id == "Bucket" and error.property == "ObjectLockEnabled"
    assert str(tmp_path / "template.yaml") in str(error)
    assert "object lock (WORM retention) is not enforced locally" in str(error)
    assert "--allow-unsupported" in str(error)


def test_allow_unsupported_keeps_each_refusal_as_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    source = load_source(_stack(tmp_path, BUCKET_WITH_NOTIFICATIONS))
    plan = plan_stack(source, run_lint=False, allow_unsupported=True)
    assert [(u.logical_id, u.property) for u in plan.unsupported] == [
        ("Bucket", "ObjectLockEnabled")
    ]
    assert "NOT HONOURED" in caplog.text and "ObjectLockEnabled" in caplog.text
    assert plan.order == ["Bucket", "Queue"]


def test_an_unknown_type_is_refused_or_left_out_with_allow_unsupported(tmp_path: Path) -> None:
    body = "Resources:\n  Cluster:\n    Type: AWS::ECS::Cluster\n  Q:\n    Type: AWS::SQS::Queue\n"
    source = load_source(_stack(tmp_path, body))
    with pytest.raises(DeployError, match="AWS::ECS::Cluster is not supported locally"):
        plan_stack(source, run_lint=False)
    plan = plan_stack(source, run_lint=False, allow_unsupported=True)
    assert plan.order == ["Q"]
    assert [u.property for u in plan.unsupported] == ["Type"]


def test_types_with_no_local_effect_are_recorded_with_a_reason(tmp_path: Path) -> None:
    body = (
        "Resources:\n  Group:\n    Type: AWS::ResourceGroups::Group\n    Properties:\n"
        "      Name: g\n      ResourceQuery: {Type: CLOUDFORMATION_STACK_1_0}\n"
        "  Schedules:\n    Type: AWS::Scheduler::ScheduleGroup\n    Properties: {Name: mine}\n"
    )
    plan = plan_stack(load_source(_stack(tmp_path, body)), run_lint=False)
    assert sorted(plan.order) == ["Group", "Schedules"] and plan.unsupported == []


def test_enforce_lists_every_item_once() -> None:
    item = Unsupported("t.yaml", "A", "P", "why")
    with pytest.raises(DeployError) as info:
        enforce([item, item, Unsupported("t.yaml", "B", "Q", "because")], allow=False)
    assert info.value.problems == [
        item.text(),
        "t.yaml, resource 'B', property 'Q' (harness deploy): because",
    ]
    assert enforce([], allow=False) == []


# -- AWS::Include ---------------------------------------------------------------------------

INCLUDE = """
Transform: AWS::Serverless-2016-10-31
Resources:
  Api:
    Type: AWS::Serverless::Api
    Properties:
      StageName: dev
      DefinitionBody:
        Fn::Transform:
          Name: AWS::Include
          Parameters:
            Location: {location}
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src/
      Handler: app.handler
      Runtime: python3.12
"""
OPENAPI = """
openapi: "3.0.1"
info: {title: t, version: "1"}
paths:
  /items:
    get:
      x-amazon-apigateway-integration:
        type: aws_proxy
        httpMethod: POST
        uri: !Sub "arn:aws:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/${Fn.Arn}/invocations"
"""


def _body(plan: Any) -> dict[str, Any]:
    body: dict[str, Any] = plan.template["Resources"]["Api"]["Properties"]["Body"]
    return body


def test_aws_include_reads_a_file_relative_to_the_template(tmp_path: Path) -> None:
    folder = _stack(
        tmp_path,
        INCLUDE.format(location="./openapi/api.yaml"),
        {"openapi/api.yaml": OPENAPI, "src/app.py": "def handler(e, c):\n    return e\n"},
    )
    plan = plan_stack(load_source(folder), run_lint=False)
    body = _body(plan)
    assert list(body["paths"]) == ["/items"]
    uri = body["paths"]["/items"]["get"]["x-amazon-apigateway-integration"]["uri"]
    assert uri == {
        "Fn::Sub": "arn:aws:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/"
        "${Fn.Arn}/invocations"
    }


def test_aws_include_of_a_missing_file_names_the_location(tmp_path: Path) -> None:
    folder = _stack(
        tmp_path, INCLUDE.format(location="./nope.yaml"), {"src/app.py": "def handler(e, c): ...\n"}
    )
    with pytest.raises(DeployError) as info:
        plan_stack(load_source(folder), run_lint=False)
    assert info.value.logical_id == "Api"
    assert info.value.property == "Fn::Transform.Parameters.Location"
    assert str(tmp_path / "nope.yaml") in str(info.value)


def test_aws_include_from_s3_reads_the_environments_bucket(tmp_path: Path) -> None:
    from harness.deploy.template import transform

    folder = _stack(
        tmp_path,
        INCLUDE.format(location="s3://my-bucket/api.yaml"),
        {"src/app.py": "def handler(e, c): ...\n"},
    )
    reads: list[tuple[str, str]] = []

    def reader(bucket: str, key: str) -> bytes:
        reads.append((bucket, key))
        return OPENAPI.encode()

    template = transform(
        load_source(folder), {}, region="us-east-1", account_id="1", s3_reader=reader
    )
    assert reads == [("my-bucket", "api.yaml")]
    assert list(template["Resources"]["Api"]["Properties"]["Body"]["paths"]) == ["/items"]
    with pytest.raises(DeployError, match="only read at deploy"):
        transform(load_source(folder), {}, region="us-east-1", account_id="1")


def test_another_macro_is_refused(tmp_path: Path) -> None:
    body = (
        "Resources:\n  Q:\n    Type: AWS::SQS::Queue\n    Properties:\n"
        "      Fn::Transform: {Name: MyMacro, Parameters: {}}\n"
    )
    with pytest.raises(DeployError, match="macro MyMacro"):
        plan_stack(load_source(_stack(tmp_path, body)), run_lint=False)


# -- CodeUri / ContentUri: folder or zip ----------------------------------------------------

FUNCTION = """
Transform: AWS::Serverless-2016-10-31
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: {code}
      Handler: app.handler
      Runtime: python3.12
"""


def test_a_zip_code_uri_is_unpacked_and_its_handler_checked(tmp_path: Path) -> None:
    import zipfile

    folder = _stack(tmp_path, FUNCTION.format(code="dist/fn.zip"))
    (tmp_path / "dist").mkdir()
    with zipfile.ZipFile(tmp_path / "dist" / "fn.zip", "w") as archive:
        archive.writestr("app.py", "def handler(event, context):\n    return 1\n")
    plan_stack(load_source(folder), run_lint=False)  # the handler is found in the zip
    with zipfile.ZipFile(tmp_path / "dist" / "fn.zip", "w") as archive:
        archive.writestr("other.py", "")
    with pytest.raises(DeployError, match="has no module file"):
        plan_stack(load_source(folder), run_lint=False)


@pytest.mark.parametrize(
    ("code", "setup", "words"),
    [
        ("dist/fn.zip", None, ["the zip archive", "fn.zip does not exist"]),
        ("src/", None, ["the folder (or .zip)", "src does not exist"]),
        ("notes.txt", "text", ["is a file but not a zip archive"]),
    ],
)
def test_missing_code_gets_the_right_diagnosis(
    tmp_path: Path, code: str, setup: str | None, words: list[str]
) -> None:
    folder = _stack(tmp_path, FUNCTION.format(code=code))
    if setup:
        (tmp_path / code).write_text(setup)
    with pytest.raises(DeployError) as info:
        plan_stack(load_source(folder), run_lint=False)
    assert info.value.logical_id == "Fn" and info.value.property == "CodeUri"
    for word in words:
        assert word in str(info.value)


# -- S3 notifications -------------------------------------------------------------------------


def test_s3_notifications_the_runtime_cannot_deliver_are_refused(tmp_path: Path) -> None:
    body = """
Resources:
  Bucket:
    Type: AWS::S3::Bucket
    Properties:
      NotificationConfiguration:
        EventBridgeConfiguration: {EventBridgeEnabled: true}
        QueueConfigurations:
          - Event: s3:ObjectCreated:*
            Queue: arn:aws:sqs:us-east-1:000000000000:q
          - Event: s3:ObjectCreated:Copy
            Queue: arn:aws:sqs:us-east-1:000000000000:q
            Filter: {S3Key: {Rules: [{Name: infix, Value: x}]}}
"""
    with pytest.raises(DeployError) as info:
        plan_stack(load_source(_stack(tmp_path, body)), run_lint=False)
    assert sorted(p.split(" (")[0].split("property ")[1] for p in info.value.problems) == [
        "'NotificationConfiguration.EventBridgeConfiguration'",
        "'NotificationConfiguration.QueueConfigurations[1].Event'",
        "'NotificationConfiguration.QueueConfigurations[1].Filter'",
    ]


def test_s3_key_filters_and_event_families() -> None:
    from harness.runtime.pollers.s3_poller import key_matches, s3_record

    rule = {"events": ["s3:ObjectCreated:*"], "prefix": "in/", "suffix": ".csv"}
    assert key_matches("in/a.csv", rule, "ObjectCreated:Put")
    assert not key_matches("in/a.txt", rule, "ObjectCreated:Put")
    assert not key_matches("out/a.csv", rule, "ObjectCreated:Put")
    assert not key_matches("in/a.csv", rule, "ObjectRemoved:Delete")
    assert key_matches("x", {"events": ["s3:ObjectRemoved:Delete"]}, "ObjectRemoved:Delete")
    record = s3_record(
        event_name="ObjectCreated:Put", bucket="b", key="a b/c+d.txt", region="eu-west-1",
        configuration_id="cfg", size=3, etag='"abc"', sequencer="0A",
    )  # fmt: skip
    assert record["s3"]["object"] == {
        "key": "a+b/c%2Bd.txt", "size": 3, "eTag": "abc", "sequencer": "0A"
    }  # fmt: skip
    assert record["awsRegion"] == "eu-west-1" and record["s3"]["configurationId"] == "cfg"


def test_function_urls_with_iam_auth_or_streaming_are_refused(tmp_path: Path) -> None:
    body = """
Resources:
  Url:
    Type: AWS::Lambda::Url
    Properties:
      TargetFunctionArn: arn:aws:lambda:us-east-1:000000000000:function:f
      AuthType: AWS_IAM
      InvokeMode: RESPONSE_STREAM
"""
    with pytest.raises(DeployError) as info:
        plan_stack(load_source(_stack(tmp_path, body)), run_lint=False)
    text = str(info.value)
    assert "SigV4-signed requests" in text and "response streaming" in text


def test_weighted_alias_routing_is_planned_bad_weights_are_refused(tmp_path: Path) -> None:
    alias = """
Resources:
  Alias:
    Type: AWS::Lambda::Alias
    Properties:
      FunctionName: f
      FunctionVersion: "2"
      Name: live
{routing}
"""
    weighted = "      RoutingConfig: {AdditionalVersionWeights: [{FunctionVersion: '1', FunctionWeight: 0.1}]}"
    plan = plan_stack(load_source(_stack(tmp_path, alias.format(routing=weighted))), run_lint=False)
    assert plan.order == ["Alias"]
    two = (
        "      RoutingConfig: {AdditionalVersionWeights: [{FunctionVersion: '1', "
        "FunctionWeight: 0.1}, {FunctionVersion: '3', FunctionWeight: 0.2}]}"
    )
    with pytest.raises(DeployError, match="at most one"):
        plan_stack(load_source(_stack(tmp_path, alias.format(routing=two))), run_lint=False)
    heavy = weighted.replace("0.1", "1.5")
    with pytest.raises(DeployError, match=r"weight 1.5 is not between 0.0 and 1.0"):
        plan_stack(load_source(_stack(tmp_path, alias.format(routing=heavy))), run_lint=False)
    plan = plan_stack(load_source(_stack(tmp_path, alias.format(routing=""))), run_lint=False)
    assert plan.order == ["Alias"]


def test_deployment_preference_all_at_once_is_planned_shifting_and_hooks_refused(
    tmp_path: Path,
) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "app.py").write_text("def handler(event, context):\n    return 1\n")
    body = """
Transform: AWS::Serverless-2016-10-31
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src/
      Handler: app.handler
      Runtime: python3.11
      AutoPublishAlias: live
      DeploymentPreference:
        Type: {kind}
{hooks}
  Hook:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src/
      Handler: app.handler
      Runtime: python3.11
"""
    hooks = "        Hooks: {PreTraffic: !Ref Hook}"
    plan = plan_stack(
        load_source(_stack(tmp_path, body.format(kind="AllAtOnce", hooks=""))), run_lint=False
    )
    types = {plan.template["Resources"][k]["Type"] for k in plan.order}
    assert {"AWS::CodeDeploy::DeploymentGroup", "AWS::Lambda::Alias"} <= types
    for kind, words in [
        ("Canary10Percent5Minutes", ["Canary10Percent5Minutes", "gradual traffic shifting"]),
        ("Linear10PercentEvery1Minute", ["Linear10PercentEvery1Minute", "AllAtOnce"]),
    ]:
        with pytest.raises(DeployError) as info:
            plan_stack(
                load_source(_stack(tmp_path, body.format(kind=kind, hooks=""))), run_lint=False
            )
        text = str(info.value)
        assert "property 'DeploymentConfigName'" in text
        for word in words:
            assert word in text
    with pytest.raises(DeployError) as info:
        plan_stack(
            load_source(_stack(tmp_path, body.format(kind="AllAtOnce", hooks=hooks))),
            run_lint=False,
        )
    text = str(info.value)
    assert "UpdatePolicy.CodeDeployLambdaAliasUpdate.BeforeAllowTrafficHook" in text
    assert "never be invoked" in text


def test_a_zip_layer_content_uri_is_unpacked_and_a_missing_one_diagnosed(tmp_path: Path) -> None:
    import zipfile

    from harness.deploy.resources.base import Context
    from harness.deploy.resources.lambda_layer import content_dir

    ctx = Context("s", "us-east-1", "1", tmp_path, "t.yaml", client_factory=lambda s: None)
    ctx.work_dir = tmp_path / "work"
    with zipfile.ZipFile(tmp_path / "layer.zip", "w") as archive:
        archive.writestr("python/shared.py", "X = 1\n")
    folder = content_dir(ctx, "Layer", "layer.zip")
    assert (folder / "python" / "shared.py").read_text() == "X = 1\n"
    assert folder.is_relative_to(tmp_path / "work")
    assert content_dir(ctx, "Layer", "layer.zip") == folder  # unpacked once per content
    with pytest.raises(DeployError) as info:
        content_dir(ctx, "Layer", "missing.zip")
    assert info.value.property == "ContentUri" and "the zip archive" in str(info.value)
