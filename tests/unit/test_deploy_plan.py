"""Every up-front check of ``harness deploy`` (lint, transform, types, properties, references,
cycles, handlers), run without any backend, plus the resource module registry."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.deploy.engine import plan_stack
from harness.deploy.resources import MODULES, handler_for
from harness.deploy.template import load_source
from harness.errors import DeployError

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "deploy"


def test_samapp_plans_in_dependency_order() -> None:
    plan = plan_stack(load_source(FIXTURES / "samapp"))
    order = plan.order
    assert plan.source.name == "samapp"
    assert order.index("OrdersDlq") < order.index("OrdersQueue") < order.index("ApiFunction")
    assert order.index("UserPool") < order.index("UserPoolClient") < order.index("OrdersApi")
    assert order.index("WorkerFunction") < order.index("WorkerFunctionFromQueue")
    types = {plan.template["Resources"][k]["Type"] for k in order}
    assert "AWS::Serverless::Function" not in types  # SAM was expanded
    assert {"AWS::Lambda::EventSourceMapping", "AWS::ApiGatewayV2::Api"} <= types
    assert plan.parameters == {
        "Stage": "dev",
        "IssuerUrl": "https://issuer.example.com/",
        "LogLevel": "INFO",
    }


def test_false_condition_skips_unsupported_resource() -> None:
    plan = plan_stack(load_source(FIXTURES / "restapp"), run_lint=False)
    assert "Alarm" not in plan.order
    assert "CommonLayer" not in plan.order  # SAM renames layers with a hash suffix
    assert any(k.startswith("CommonLayer") for k in plan.order)


@pytest.mark.parametrize("run_lint", [True, False])
@pytest.mark.parametrize(
    ("folder", "logical_id", "words"),
    [
        ("broken_ref", "Queue", ["MissingDlq"]),
        ("broken_type", "Cluster", ["AWS::ECS::Cluster", "not supported locally", "Fix:"]),
        ("broken_type_lint", "Thing", ["AWS::Made::Up"]),
        ("broken_cycle", "First", ["Second"]),
        ("broken_handler", "Handler", ["orders.missing.handler", "src/orders/missing.py"]),
        ("broken_property", "Table", ["KinesisStreamSpecification", "backend DynamoDB Local"]),
    ],
)
def test_broken_templates_fail_with_the_resource_named(
    folder: str, logical_id: str, words: list[str], run_lint: bool
) -> None:
    with pytest.raises(DeployError) as info:
        plan_stack(load_source(FIXTURES / folder), run_lint=run_lint)
    assert info.value.logical_id == logical_id
    message = str(info.value)
    assert str(FIXTURES / folder / "template.yaml") in message
    for word in words:
        assert word in message


def test_cycle_without_lint_names_the_path() -> None:
    with pytest.raises(DeployError, match="First -> Second -> First"):
        plan_stack(load_source(FIXTURES / "broken_cycle"), run_lint=False)


def test_lint_errors_carry_rule_id_line_and_path() -> None:
    with pytest.raises(DeployError) as info:
        plan_stack(load_source(FIXTURES / "broken_type_lint"))
    assert info.value.backend == "cfn-lint"
    assert info.value.problems == [
        "E3006 at line 5, Resources/Thing/Type: Resource type 'AWS::Made::Up' does not exist in 'us-east-1'"
    ]


def test_yaml_error_has_line_number() -> None:
    with pytest.raises(DeployError, match=r"YAML syntax error at line 8.*starts at line 5"):
        load_source(FIXTURES / "broken_yaml")


def test_parameter_overrides_are_checked() -> None:
    with pytest.raises(DeployError, match="AllowedValues"):
        plan_stack(load_source(FIXTURES / "samapp"), {"Stage": "qa"}, run_lint=False)
    with pytest.raises(DeployError, match="do not exist"):
        plan_stack(load_source(FIXTURES / "samapp"), {"Nope": "1"}, run_lint=False)


def test_missing_stack_folder_and_template(tmp_path: Path) -> None:
    with pytest.raises(DeployError, match="does not exist"):
        load_source(tmp_path / "nope")
    with pytest.raises(DeployError, match=r"no template\.yaml"):
        load_source(tmp_path)


def test_stack_name_defaults_to_folder(tmp_path: Path) -> None:
    folder = tmp_path / "my-stack"
    folder.mkdir()
    (folder / "template.yaml").write_text("Resources:\n  Q:\n    Type: AWS::SQS::Queue\n")
    assert load_source(folder).name == "my-stack"
    (folder / "harness.yaml").write_text("name: renamed\ntenants: []\n")
    source = load_source(folder)
    assert source.name == "renamed" and source.profile == {"name": "renamed", "tenants": []}


def test_unsupported_transform_is_refused(tmp_path: Path) -> None:
    (tmp_path / "template.yaml").write_text(
        "Transform: AWS::LanguageExtensions\nResources:\n  Q:\n    Type: AWS::SQS::Queue\n"
    )
    with pytest.raises(DeployError, match="AWS::LanguageExtensions"):
        plan_stack(load_source(tmp_path), run_lint=False)


@pytest.mark.parametrize("type_", sorted(MODULES))
def test_every_resource_module_has_the_contract(type_: str) -> None:
    module = handler_for(type_)
    assert module is not None
    assert type_ in module.TYPES
    assert isinstance(module.BACKEND, str) and module.BACKEND
    assert isinstance(module.PROPERTIES, frozenset) and isinstance(module.IGNORED, dict)
    assert all(isinstance(v, str) and len(v) > 10 for v in module.IGNORED.values())
    assert isinstance(module.ATTRIBUTES, tuple)
    for name in ("create", "update", "delete"):
        assert callable(getattr(module, name))


def test_import_value_must_be_exported_before() -> None:
    with pytest.raises(DeployError) as info:
        plan_stack(load_source(FIXTURES / "importer"), run_lint=False)
    assert info.value.logical_id == "TableNameParam"
    assert "samapp-OrdersTable" in str(info.value)
    plan = plan_stack(
        load_source(FIXTURES / "importer"), imports={"samapp-OrdersTable": "t"}, run_lint=False
    )
    assert plan.order == ["TableNameParam"]


def test_get_att_of_an_attribute_the_backend_lacks(tmp_path: Path) -> None:
    (tmp_path / "template.yaml").write_text(
        "Resources:\n"
        "  Topic:\n    Type: AWS::SNS::Topic\n"
        "  Param:\n    Type: AWS::SSM::Parameter\n    Properties:\n"
        "      Type: String\n      Value: !Sub '${Topic.Nonsense}'\n"
    )
    with pytest.raises(DeployError) as info:
        plan_stack(load_source(tmp_path), run_lint=False)
    assert info.value.logical_id == "Param"
    assert "Topic.Nonsense" in str(info.value) and "TopicArn" in str(info.value)


def test_folder_names_become_valid_stack_names(tmp_path: Path) -> None:
    folder = tmp_path / "orders_service"
    folder.mkdir()
    (folder / "template.yaml").write_text("Resources:\n  Q:\n    Type: AWS::SQS::Queue\n")
    assert load_source(folder).name == "orders-service"
    (folder / "harness.yaml").write_text("name: bad_name\n")
    with pytest.raises(DeployError, match="stack name 'bad_name' is not valid"):
        load_source(folder)
