"""Dependency order and cycle detection."""

from __future__ import annotations

import pytest

from harness.deploy.graph import dependencies, find_cycle, topological_order
from harness.errors import DeployError


def test_order_follows_ref_getatt_sub_and_depends_on() -> None:
    resources = {
        "Function": {"Properties": {"Env": {"Fn::Sub": "${Queue.Arn}"}, "T": {"Ref": "Table"}}},
        "Queue": {"Properties": {"Dlq": {"Fn::GetAtt": ["Dlq", "Arn"]}}},
        "Dlq": {"Properties": {}},
        "Table": {"Properties": {}, "DependsOn": "Dlq"},
        "Alone": {},
    }
    deps = dependencies(resources, parameters=["Stage"])
    order = topological_order(deps)
    assert order.index("Dlq") < order.index("Queue") < order.index("Function")
    assert order.index("Dlq") < order.index("Table") < order.index("Function")
    assert set(order) == set(resources)


def test_cycle_is_named() -> None:
    deps = {"A": {"B"}, "B": {"C"}, "C": {"A"}, "D": set()}
    assert find_cycle(deps) == ["A", "B", "C", "A"]
    with pytest.raises(DeployError) as info:
        topological_order(deps, file="stack/template.yaml")
    message = str(info.value)
    assert "A -> B -> C -> A" in message
    assert "stack/template.yaml" in message
    assert info.value.logical_id == "A"


def test_self_reference_is_a_cycle() -> None:
    with pytest.raises(DeployError, match="Q -> Q"):
        topological_order({"Q": {"Q"}})


def test_dangling_reference_names_resource() -> None:
    resources = {"Queue": {"Properties": {"X": {"Ref": "Ghost"}}}}
    with pytest.raises(DeployError) as info:
        dependencies(resources, file="t.yaml")
    assert info.value.logical_id == "Queue"
    assert "Ghost" in str(info.value)


def test_depends_on_unknown_resource() -> None:
    with pytest.raises(DeployError, match="DependsOn names 'Nothing'"):
        dependencies({"Queue": {"DependsOn": ["Nothing"]}})
