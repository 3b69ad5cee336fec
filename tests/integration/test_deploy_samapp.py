"""Deploy real templates onto a private environment and check the emulator with boto3."""

from __future__ import annotations

import argparse
import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.cli.deploy import deploy as cmd_deploy
from harness.cli.destroy import run as cmd_destroy
from harness.config import Settings
from harness.deploy import DeployError, deploy_stack, deployed_stack, destroy_stack
from harness.deploy.yaml_loader import load_template_file
from harness.env.environment import Environment
from harness.model import load_stacks, stack_file

pytestmark = pytest.mark.integration

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "deploy"
SAMAPP = FIXTURES / "samapp"


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Environment]:
    with Environment(
        Settings.load(state_dir=tmp_path_factory.mktemp("deploy-state"), runtime=False)
    ) as env:
        yield env


def _ssm(env: Environment, name: str) -> str:
    return str(env.client("ssm").get_parameter(Name=name)["Parameter"]["Value"])


def _table_names(env: Environment) -> list[str]:
    return list(env.client("dynamodb").list_tables()["TableNames"])


def _queue_urls(env: Environment) -> list[str]:
    return list(env.client("sqs").list_queues().get("QueueUrls", []))


def test_samapp_creates_declared_resources_and_destroy_removes_them(env: Environment) -> None:
    with deployed_stack(env, SAMAPP) as stack:
        assert stack.name == "samapp"
        assert stack.profile["tenants"][0]["id"] == "tenant-a"
        assert stack_file(env.state_dir, "samapp").is_file()
        assert load_stacks(env.state_dir)["samapp"].resources.keys() == stack.resources.keys()
        res = stack.resources

        table = env.client("dynamodb").describe_table(TableName=res["OrdersTable"].physical_id)[
            "Table"
        ]
        assert [g["IndexName"] for g in table["GlobalSecondaryIndexes"]] == ["byStatus"]
        assert table["StreamSpecification"] == {
            "StreamEnabled": True,
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        }
        assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
        ttl = env.client("dynamodb").describe_time_to_live(TableName=table["TableName"])
        assert ttl["TimeToLiveDescription"]["AttributeName"] == "expiresAt"
        assert res["OrdersTable"].attributes["StreamArn"] == table["LatestStreamArn"]

        sqs = env.client("sqs")
        queue = sqs.get_queue_attributes(
            QueueUrl=res["OrdersQueue"].physical_id, AttributeNames=["All"]
        )["Attributes"]
        assert res["OrdersQueue"].attributes["QueueName"].endswith(".fifo")
        assert queue["FifoQueue"] == "true"
        assert queue["ContentBasedDeduplication"] == "true"
        assert queue["VisibilityTimeout"] == "60"
        redrive = json.loads(queue["RedrivePolicy"])
        assert int(redrive["maxReceiveCount"]) == 3  # FindInMap [StageConfig, dev, MaxReceive]
        assert redrive["deadLetterTargetArn"] == res["OrdersDlq"].arn
        dlq = sqs.get_queue_attributes(
            QueueUrl=res["OrdersDlq"].physical_id, AttributeNames=["All"]
        )
        assert dlq["Attributes"]["MessageRetentionPeriod"] == "1209600"

        assert _ssm(env, "/samapp/config/max-items") == "25"
        secret = env.client("secretsmanager").get_secret_value(
            SecretId=res["ApiSecret"].physical_id
        )
        value = json.loads(secret["SecretString"])
        assert value["username"] == "orders" and len(value["password"]) == 24

        pool = env.client("cognito-idp").describe_user_pool(UserPoolId=res["UserPool"].physical_id)
        assert pool["UserPool"]["Name"] == "samapp-users"
        client = env.client("cognito-idp").describe_user_pool_client(
            UserPoolId=res["UserPool"].physical_id, ClientId=res["UserPoolClient"].physical_id
        )
        assert client["UserPoolClient"]["ClientName"] == "orders-web"

        events = env.client("events")
        assert events.describe_event_bus(Name="samapp-orders")["Name"] == "samapp-orders"
        rule = events.describe_rule(
            Name=res["WorkerFunctionOrderPlaced"].physical_id, EventBusName="samapp-orders"
        )
        assert json.loads(rule["EventPattern"])["source"] == ["orders"]
        role = env.client("iam").get_role(RoleName=res["ApiFunctionRole"].physical_id)["Role"]
        assert role["RoleName"] == res["ApiFunctionRole"].physical_id

        # Outputs and exports are published to SSM.
        assert _ssm(env, "/harness/samapp/outputs/OrdersTableName") == table["TableName"]
        assert _ssm(env, "/harness/samapp/outputs/QueueUrl") == res["OrdersQueue"].physical_id
        assert _ssm(env, "samapp-OrdersTable") == table["TableName"]
        assert stack.outputs["ApiUrl"].endswith(".execute-api.us-east-1.amazonaws.com/dev")

        # What the gateway and the runtime read.
        api = stack.apis["OrdersApi"]
        gateway = env.endpoints["gateway_url"]
        assert api.base_url == f"{gateway}/samapp/OrdersApi/dev"  # the stage, as on AWS
        assert api.stage == "dev"
        routes = {(r.method, r.path): r for r in api.routes}
        assert routes[("GET", "/health")].authorizer is None
        assert routes[("POST", "/orders")].scopes == ["orders/write"]
        assert routes[("GET", "/orders/{id}")].integration.function == "ApiFunction"
        jwt = api.authorizers["OrdersJwt"]
        assert jwt.type == "jwt" and jwt.issuer == "https://issuer.example.com/"
        assert jwt.audience == [res["UserPoolClient"].physical_id]
        assert api.cors is not None and api.cors.allow_methods == ["GET", "POST"]

        fn = stack.functions["ApiFunction"]
        assert Path(fn.code_dir) == SAMAPP / "src" / "api"
        assert fn.environment["TABLE_NAME"] == table["TableName"]
        assert fn.environment["QUEUE_URL"] == res["OrdersQueue"].physical_id
        assert (fn.timeout, fn.memory_mb, fn.reserved_concurrency) == (10.0, 256, 10)
        assert any(
            table["TableName"] in json.dumps(p) and "dynamodb:PutItem" in json.dumps(p)
            for p in fn.policies
        )
        worker = stack.functions["WorkerFunction"]
        assert worker.dead_letter_arn == res["OrdersDlq"].arn
        kinds = {(e.kind, e.function) for e in stack.event_sources}
        assert kinds == {
            ("sqs", "WorkerFunction"),
            ("dynamodb", "WorkerFunction"),
            ("eventbridge", "WorkerFunction"),
            ("schedule", "WorkerFunction"),
        }
        sqs_source = next(e for e in stack.event_sources if e.kind == "sqs")
        assert sqs_source.queue_url == res["OrdersQueue"].physical_id
        assert sqs_source.batch_size == 5 and sqs_source.report_batch_item_failures
        schedule = next(e for e in stack.event_sources if e.kind == "schedule")
        assert schedule.schedule == "rate(1 day)" and schedule.input == '{"job": "nightly"}'

    # destroy removed everything
    assert not stack_file(env.state_dir, "samapp").exists()
    assert table["TableName"] not in _table_names(env)
    assert not any("samapp-" in url for url in _queue_urls(env))
    names = [p["Name"] for p in env.client("ssm").describe_parameters()["Parameters"]]
    assert not any(
        n.startswith(("/harness/samapp/", "/samapp/")) or n == "samapp-OrdersTable" for n in names
    )
    assert not env.client("secretsmanager").list_secrets()["SecretList"]
    pools = env.client("cognito-idp").list_user_pools(MaxResults=60)["UserPools"]
    assert "samapp-users" not in [p["Name"] for p in pools]
    buses = [b["Name"] for b in env.client("events").list_event_buses()["EventBuses"]]
    assert "samapp-orders" not in buses


def test_emulator_honours_the_declared_redrive(env: Environment) -> None:
    with deployed_stack(env, SAMAPP) as stack:
        sqs = env.client("sqs")
        queue, dlq = stack.resources["OrdersQueue"], stack.resources["OrdersDlq"]
        sqs.send_message(QueueUrl=queue.physical_id, MessageBody="poison", MessageGroupId="t1")
        receives = 0
        for _ in range(6):  # maxReceiveCount is 3: the 4th receive finds it moved
            got = sqs.receive_message(
                QueueUrl=queue.physical_id, VisibilityTimeout=1, WaitTimeSeconds=1
            ).get("Messages", [])
            if not got:
                break
            receives += 1
            time.sleep(1.1)
        assert receives == 3
        moved = sqs.receive_message(QueueUrl=dlq.physical_id, WaitTimeSeconds=2)["Messages"]
        assert [m["Body"] for m in moved] == ["poison"]


def _write_variant(tmp_path: Path, change: Any) -> Path:
    folder = tmp_path / "samapp"
    if folder.exists():
        shutil.rmtree(folder)
    shutil.copytree(SAMAPP, folder)
    template = load_template_file(SAMAPP / "template.yaml")
    change(template)
    (folder / "template.yaml").write_text(json.dumps(template, indent=1))  # JSON is YAML
    return folder


def test_redeploy_updates_in_place_and_keeps_data(env: Environment, tmp_path: Path) -> None:
    first = deploy_stack(env, SAMAPP)
    try:
        ddb = env.client("dynamodb")
        table_name = first.resources["OrdersTable"].physical_id
        ddb.put_item(
            TableName=table_name,
            Item={"pk": {"S": "tenant-a#order-1"}, "sk": {"S": "v1"}, "customer": {"S": "c1"}},
        )
        sqs = env.client("sqs")
        dlq_url = first.resources["OrdersDlq"].physical_id
        sqs.send_message(
            QueueUrl=dlq_url, MessageBody="keep me", MessageGroupId="g", MessageDeduplicationId="1"
        )

        def change(template: dict[str, Any]) -> None:
            resources = template["Resources"]
            resources["AuditQueue"] = {"Type": "AWS::SQS::Queue", "Properties": {"DelaySeconds": 5}}
            table = resources["OrdersTable"]["Properties"]
            table["AttributeDefinitions"].append(
                {"AttributeName": "customer", "AttributeType": "S"}
            )
            table["GlobalSecondaryIndexes"].append(
                {
                    "IndexName": "byCustomer",
                    "KeySchema": [{"AttributeName": "customer", "KeyType": "HASH"}],
                    "Projection": {"ProjectionType": "KEYS_ONLY"},
                }
            )
            del resources["ConfigParameter"]
            del resources["ApiFunction"]["Properties"]["Environment"]["Variables"]["CONFIG_PARAM"]
            resources["OrdersQueue"]["Properties"]["VisibilityTimeout"] = 120

        second = deploy_stack(env, _write_variant(tmp_path, change))
        assert second.resources["OrdersTable"].physical_id == table_name
        assert second.resources["OrdersDlq"].physical_id == dlq_url
        table = ddb.describe_table(TableName=table_name)["Table"]
        assert {g["IndexName"] for g in table["GlobalSecondaryIndexes"]} == {
            "byStatus",
            "byCustomer",
        }
        item = ddb.get_item(
            TableName=table_name, Key={"pk": {"S": "tenant-a#order-1"}, "sk": {"S": "v1"}}
        )
        assert item["Item"]["customer"] == {"S": "c1"}
        found = ddb.query(
            TableName=table_name,
            IndexName="byCustomer",
            KeyConditionExpression="customer = :c",
            ExpressionAttributeValues={":c": {"S": "c1"}},
        )
        assert found["Count"] == 1
        attrs = sqs.get_queue_attributes(
            QueueUrl=dlq_url, AttributeNames=["ApproximateNumberOfMessages"]
        )
        assert attrs["Attributes"]["ApproximateNumberOfMessages"] == "1"
        audit = second.resources["AuditQueue"].physical_id
        assert sqs.get_queue_attributes(QueueUrl=audit, AttributeNames=["DelaySeconds"])[
            "Attributes"
        ] == {"DelaySeconds": "5"}
        queue = sqs.get_queue_attributes(
            QueueUrl=second.resources["OrdersQueue"].physical_id,
            AttributeNames=["VisibilityTimeout"],
        )
        assert queue["Attributes"]["VisibilityTimeout"] == "120"
        assert "ConfigParameter" not in second.resources
        with pytest.raises(env.client("ssm").exceptions.ParameterNotFound):
            env.client("ssm").get_parameter(Name="/samapp/config/max-items")
        assert "CONFIG_PARAM" not in second.functions["ApiFunction"].environment

        # Removing the GSI again also keeps the data.
        third = deploy_stack(env, SAMAPP)
        table = ddb.describe_table(TableName=table_name)["Table"]
        assert [g["IndexName"] for g in table["GlobalSecondaryIndexes"]] == ["byStatus"]
        assert ddb.scan(TableName=table_name)["Count"] == 1
        assert "AuditQueue" not in third.resources
        assert audit not in _queue_urls(env)
    finally:
        destroy_stack(env, "samapp")
    assert table_name not in _table_names(env)


def test_cli_deploy_json_with_params_and_destroy(
    env: Environment, capsys: pytest.CaptureFixture[str]
) -> None:
    args = argparse.Namespace(
        stack_dir=str(SAMAPP), json=True, param=["Stage=prod"], state_dir=str(env.state_dir)
    )
    assert cmd_deploy(args) == 0
    data = json.loads(capsys.readouterr().out)
    try:
        assert data["stack"] == "samapp"
        assert data["api_urls"]["OrdersApi"].endswith("/samapp/OrdersApi/prod")
        assert data["local_outputs"]["ApiUrl"] == data["api_urls"]["OrdersApi"]
        assert data["apis"]["OrdersApi"]["stage"] == "prod"
        queue = data["resources"]["OrdersQueue"]
        assert queue["type"] == "AWS::SQS::Queue" and queue["arn"].endswith(".fifo")
        assert all(r["physical_id"] for r in data["resources"].values())
        attrs = env.client("sqs").get_queue_attributes(
            QueueUrl=queue["physical_id"], AttributeNames=["RedrivePolicy"]
        )
        assert json.loads(attrs["Attributes"]["RedrivePolicy"])["maxReceiveCount"] == 5
        stack = load_stacks(env.state_dir)["samapp"]
        assert stack.parameters["Stage"] == "prod"
        assert stack.functions["ApiFunction"].reserved_concurrency == 50
    finally:
        assert (
            cmd_destroy(argparse.Namespace(name="samapp", json=False, state_dir=str(env.state_dir)))
            == 0
        )
    assert "destroyed stack samapp" in capsys.readouterr().out
    with pytest.raises(DeployError, match="no deployed stack named 'samapp'"):
        destroy_stack(env, "samapp")


def test_import_value_reads_other_stacks_exports(env: Environment) -> None:
    with pytest.raises(DeployError, match="samapp-OrdersTable"):
        deploy_stack(env, FIXTURES / "importer")
    with (
        deployed_stack(env, SAMAPP) as samapp,
        deployed_stack(env, FIXTURES / "importer") as importer,
    ):
        assert _ssm(env, "/importer/imported/table") == samapp.resources["OrdersTable"].physical_id
        assert importer.outputs["ParamName"] == "/importer/imported/table"


def test_rest_api_usage_plans_and_other_resources(env: Environment) -> None:
    with deployed_stack(env, FIXTURES / "restapp") as stack:
        res = stack.resources
        assert "Alarm" not in res  # its Condition is false locally
        api = stack.apis["CatalogApi"]
        assert api.kind == "rest" and api.stage == "v1"
        assert api.base_url.endswith("/restapp/CatalogApi/v1")
        assert api.stage_throttle is not None and api.stage_throttle.rate == 100.0
        assert api.authorizers["TenantAuthorizer"].type == "lambda_token"
        assert api.authorizers["TenantAuthorizer"].function == "AuthorizerFunction"
        cognito = api.authorizers["UsersAuthorizer"]
        assert cognito.type == "cognito" and cognito.user_pool_arns == [res["Users"].arn]
        routes = {(r.method, r.path): r for r in api.routes}
        assert routes[("GET", "/items")].api_key_required
        assert routes[("POST", "/items")].authorizer == "UsersAuthorizer"
        assert routes[("GET", "/items")].integration.payload_format == "1.0"
        plans = {p.name: p for p in api.usage_plans}
        assert plans["basic"].tier == "basic" and plans["premium"].tier == "premium"
        assert plans["basic"].quota_limit == 10000 and plans["basic"].quota_period == "DAY"
        assert plans["basic"].api_keys == {
            "basic-tenant-key-0123456789abcdefghij": res["BasicKey"].physical_id
        }
        items = stack.functions["ItemsFunction"]
        assert items.layers == [str(FIXTURES / "restapp" / "layers" / "common")]
        assert items.on_failure_arn == res["FailedQueue"].arn and items.maximum_retry_attempts == 1
        sns = [e for e in stack.event_sources if e.kind == "sns"]
        assert (
            sns
            and sns[0].function == "NotifyFunction"
            and sns[0].filter_patterns == [{"kind": ["created"]}]
        )

        s3 = env.client("s3")
        bucket = res["Assets"].physical_id
        assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
        subs = env.client("sns").list_subscriptions_by_topic(TopicArn=res["ItemsTopic"].arn)[
            "Subscriptions"
        ]
        assert [s["Protocol"] for s in subs] == ["sqs"]
        idp = env.client("cognito-idp")
        pool_id = res["Users"].physical_id
        assert (
            idp.describe_resource_server(UserPoolId=pool_id, Identifier="catalog")[
                "ResourceServer"
            ]["Name"]
            == "catalog"
        )
        assert (
            idp.get_group(UserPoolId=pool_id, GroupName="admins")["Group"]["GroupName"] == "admins"
        )
        groups = env.client("logs").describe_log_groups(
            logGroupNamePrefix=res["AppLogs"].physical_id
        )
        assert groups["logGroups"][0].get("retentionInDays") == 7
        assert _ssm(env, "/harness/restapp/outputs/ApiId") == api.api_id
    assert bucket not in [b["Name"] for b in env.client("s3").list_buckets().get("Buckets", [])]


def test_state_machine_alarm_schedule_managed_policy_and_inline_code(env: Environment) -> None:
    with deployed_stack(env, FIXTURES / "extras") as stack:
        res = stack.resources
        fn = stack.functions["Inline"]
        assert (Path(fn.code_dir) / "index.py").read_text().startswith("def handler")
        assert fn.maximum_retry_attempts == 0
        assert any(
            p.get("ManagedPolicyArn") == res["ReadPolicy"].physical_id
            and p["Statement"][0]["Action"] == "ssm:GetParameter"
            for p in fn.policies
        )
        machine = env.client("stepfunctions").describe_state_machine(
            stateMachineArn=res["Flow"].physical_id
        )
        assert json.loads(machine["definition"])["States"]["Call"]["Resource"] == fn.arn
        alarms = env.client("cloudwatch").describe_alarms(
            AlarmNames=[res["ErrorsAlarm"].physical_id]
        )
        assert alarms["MetricAlarms"][0]["Dimensions"] == [
            {"Name": "FunctionName", "Value": fn.name}
        ]
        attached = env.client("iam").list_attached_role_policies(
            RoleName=res["InlineRole"].physical_id
        )
        assert [p["PolicyArn"] for p in attached["AttachedPolicies"]] == [
            res["ReadPolicy"].physical_id
        ]
        schedule = next(e for e in stack.event_sources if e.kind == "schedule")
        assert schedule.function == "Inline" and schedule.schedule == "rate(1 hour)"
        assert stack.outputs["FlowArn"] == res["Flow"].physical_id
    machines = env.client("stepfunctions").list_state_machines()["stateMachines"]
    assert res["Flow"].physical_id not in [m["stateMachineArn"] for m in machines]
    assert not Path(fn.code_dir).exists()
