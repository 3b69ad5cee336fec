"""Intrinsic functions, conditions and parameters, resolved without any backend."""

from __future__ import annotations

from typing import Any

import pytest

from harness.deploy.intrinsics import Resolver, references, resolve_parameters
from harness.errors import DeployError
from harness.model import ResourceRecord


def resolver(**kwargs: Any) -> Resolver:
    records = {
        "Table": ResourceRecord(
            "Table",
            "AWS::DynamoDB::Table",
            "orders-table",
            arn="arn:aws:dynamodb:us-east-1:000000000000:table/orders-table",
            attributes={"StreamArn": "arn:stream/1"},
        ),
        "Queue": ResourceRecord(
            "Queue",
            "AWS::SQS::Queue",
            "http://edge/000000000000/q",
            arn="arn:aws:sqs:us-east-1:000000000000:q",
            attributes={"QueueName": "q", "Arn": "arn:aws:sqs:us-east-1:000000000000:q"},
        ),
    }
    defaults: dict[str, Any] = {
        "stack_name": "shop",
        "region": "eu-west-1",
        "account_id": "123456789012",
        "file": "template.yaml",
        "parameters": {"Stage": "prod", "Zones": ["a", "b"]},
        "mappings": {"Sizes": {"prod": {"Memory": 512}, "dev": {"Memory": 128}}},
        "conditions": {
            "IsProd": {"Fn::Equals": [{"Ref": "Stage"}, "prod"]},
            "IsDev": {"Fn::Not": [{"Condition": "IsProd"}]},
            "Both": {"Fn::And": [{"Condition": "IsProd"}, {"Fn::Equals": ["1", 1]}]},
            "Either": {"Fn::Or": [{"Condition": "IsDev"}, {"Condition": "Both"}]},
        },
        "records": records,
        "imports": {"shared-bus": "bus-1"},
        "resource_types": {
            "Table": "AWS::DynamoDB::Table",
            "Queue": "AWS::SQS::Queue",
            "Off": "AWS::SQS::Queue",
        },
    }
    defaults.update(kwargs)
    return Resolver(**defaults)


def test_ref_parameter_pseudo_and_resource() -> None:
    r = resolver()
    assert r.resolve({"Ref": "Stage"}) == "prod"
    assert r.resolve({"Ref": "AWS::Region"}) == "eu-west-1"
    assert r.resolve({"Ref": "AWS::AccountId"}) == "123456789012"
    assert r.resolve({"Ref": "AWS::StackName"}) == "shop"
    assert r.resolve({"Ref": "AWS::Partition"}) == "aws"
    assert r.resolve({"Ref": "AWS::URLSuffix"}) == "amazonaws.com"
    assert r.resolve({"Ref": "Table"}) == "orders-table"
    assert r.resolve({"Ref": "Queue"}) == "http://edge/000000000000/q"


def test_get_att() -> None:
    r = resolver()
    assert r.resolve({"Fn::GetAtt": ["Table", "Arn"]}).endswith(":table/orders-table")
    assert r.resolve({"Fn::GetAtt": ["Table", "StreamArn"]}) == "arn:stream/1"
    assert r.resolve({"Fn::GetAtt": "Queue.QueueName"}) == "q"


def test_get_att_unknown_attribute_lists_supported_ones() -> None:
    with pytest.raises(DeployError, match=r"no attribute 'Nope'.*StreamArn"):
        resolver().resolve({"Fn::GetAtt": ["Table", "Nope"]})


def test_sub_both_forms_and_literals() -> None:
    r = resolver()
    assert r.resolve({"Fn::Sub": "${AWS::StackName}-${Stage}-${Table}"}) == "shop-prod-orders-table"
    assert r.resolve({"Fn::Sub": "${Queue.QueueName}/${!Literal}"}) == "q/${Literal}"
    assert r.resolve({"Fn::Sub": ["${x}-${Stage}", {"x": {"Ref": "Table"}}]}) == "orders-table-prod"


def test_join_select_split() -> None:
    r = resolver()
    assert r.resolve({"Fn::Join": [":", ["a", {"Ref": "Stage"}, 3]]}) == "a:prod:3"
    assert r.resolve({"Fn::Select": ["1", {"Fn::Split": [",", "x,y,z"]}]}) == "y"
    assert r.resolve({"Fn::Select": [0, {"Ref": "Zones"}]}) == "a"
    assert r.resolve({"Fn::Join": ["", {"Fn::GetAZs": ""}]}) == "eu-west-1aeu-west-1beu-west-1c"


def test_conditions_and_if() -> None:
    r = resolver()
    assert r.condition("IsProd") is True
    assert r.condition("IsDev") is False
    assert r.condition("Both") is True
    assert r.condition("Either") is True
    assert r.resolve({"Fn::If": ["IsDev", 1, 2]}) == 2
    dev = resolver(parameters={"Stage": "dev"})
    assert dev.condition("Either") is True and dev.condition("Both") is False


def test_no_value_removes_keys_and_items() -> None:
    r = resolver()
    value = {
        "Keep": 1,
        "Drop": {"Fn::If": ["IsDev", "x", {"Ref": "AWS::NoValue"}]},
        "List": ["a", {"Ref": "AWS::NoValue"}, "b"],
    }
    assert r.resolve(value) == {"Keep": 1, "List": ["a", "b"]}


def test_find_in_map_base64_import() -> None:
    r = resolver()
    assert r.resolve({"Fn::FindInMap": ["Sizes", {"Ref": "Stage"}, "Memory"]}) == 512
    assert r.resolve({"Fn::Base64": "hi"}) == "aGk="
    assert r.resolve({"Fn::ImportValue": "shared-bus"}) == "bus-1"
    with pytest.raises(DeployError, match="no deployed stack exports"):
        r.resolve({"Fn::ImportValue": "nobody-exports-this"})
    with pytest.raises(DeployError, match="FindInMap"):
        r.resolve({"Fn::FindInMap": ["Sizes", "test", "Memory"]})


def test_dangling_ref_and_inactive_resource() -> None:
    r = resolver()
    r.context = "Function"
    with pytest.raises(DeployError, match=r"resource 'Function'.*'Missing'"):
        r.resolve({"Ref": "Missing"})
    with pytest.raises(DeployError, match="Condition is false"):
        r.resolve({"Ref": "Off"})


def test_references_lists_dependencies() -> None:
    value = {
        "A": {"Ref": "Table"},
        "B": {"Fn::GetAtt": ["Queue", "Arn"]},
        "C": {"Fn::Sub": "${Topic.TopicName}-${AWS::Region}-${Stage}"},
        "D": {"Fn::Sub": ["${local}-${Bus}", {"local": {"Ref": "Other"}}]},
        "E": {"Ref": "AWS::StackName"},
    }
    assert references(value) == {"Table", "Queue", "Topic", "Stage", "Bus", "Other"}


def test_parameters_defaults_overrides_and_checks() -> None:
    definitions = {
        "Stage": {"Type": "String", "Default": "dev", "AllowedValues": ["dev", "prod"]},
        "Size": {"Type": "Number", "Default": 3, "MinValue": 1, "MaxValue": 10},
        "Zones": {"Type": "CommaDelimitedList", "Default": "a,b"},
    }
    values = resolve_parameters(definitions, {"Stage": "prod"}, file="t.yaml")
    assert values == {"Stage": "prod", "Size": "3", "Zones": ["a", "b"]}
    with pytest.raises(DeployError, match="AllowedValues"):
        resolve_parameters(definitions, {"Stage": "qa"}, file="t.yaml")
    with pytest.raises(DeployError, match="above MaxValue"):
        resolve_parameters(definitions, {"Size": "11"}, file="t.yaml")
    with pytest.raises(DeployError, match="do not exist"):
        resolve_parameters(definitions, {"Nope": "1"}, file="t.yaml")
    with pytest.raises(DeployError, match="no Default"):
        resolve_parameters({"Key": {"Type": "String"}}, {}, file="t.yaml")


def test_ssm_parameter_type_is_looked_up() -> None:
    values = resolve_parameters(
        {"Ami": {"Type": "AWS::SSM::Parameter::Value<String>", "Default": "/shared/ami"}},
        {},
        file="t.yaml",
        ssm_lookup=lambda name: f"value-of-{name}",
    )
    assert values == {"Ami": "value-of-/shared/ami"}
