"""The template loader: short-form intrinsic tags, JSON, and syntax errors with line numbers."""

from __future__ import annotations

import pytest

from harness.deploy.yaml_loader import load_template_text
from harness.errors import DeployError

TEMPLATE = """
AWSTemplateFormatVersion: 2010-09-09
Resources:
  Queue:
    Type: AWS::SQS::Queue
    Properties:
      A: !Ref Name
      B: !GetAtt Table.StreamArn
      C: !GetAtt [Table, Arn]
      D: !Sub "${AWS::StackName}-x"
      E: !Sub ["${a}-y", {a: !Ref Name}]
      F: !If [IsProd, !Join ["-", [a, b]], !Ref AWS::NoValue]
      G: !Select [0, !Split [",", "a,b"]]
      H: !FindInMap [Map, !Ref AWS::Region, Key]
      I: !Equals [!Ref Name, x]
      J: !Not [!Condition IsProd]
      K: !And [!Condition IsProd, !Or [!Condition A, !Condition B]]
      L: !Base64 hello
      M: !GetAZs ""
      N: !ImportValue other-export
      O: !Cidr [10.0.0.0/16, 2, 8]
"""


def test_short_form_tags_become_long_form() -> None:
    props = load_template_text(TEMPLATE)["Resources"]["Queue"]["Properties"]
    assert props["A"] == {"Ref": "Name"}
    assert props["B"] == {"Fn::GetAtt": ["Table", "StreamArn"]}
    assert props["C"] == {"Fn::GetAtt": ["Table", "Arn"]}
    assert props["D"] == {"Fn::Sub": "${AWS::StackName}-x"}
    assert props["E"] == {"Fn::Sub": ["${a}-y", {"a": {"Ref": "Name"}}]}
    assert props["F"] == {
        "Fn::If": ["IsProd", {"Fn::Join": ["-", ["a", "b"]]}, {"Ref": "AWS::NoValue"}]
    }
    assert props["G"] == {"Fn::Select": [0, {"Fn::Split": [",", "a,b"]}]}
    assert props["H"] == {"Fn::FindInMap": ["Map", {"Ref": "AWS::Region"}, "Key"]}
    assert props["I"] == {"Fn::Equals": [{"Ref": "Name"}, "x"]}
    assert props["J"] == {"Fn::Not": [{"Condition": "IsProd"}]}
    assert props["K"]["Fn::And"][1] == {"Fn::Or": [{"Condition": "A"}, {"Condition": "B"}]}
    assert props["L"] == {"Fn::Base64": "hello"}
    assert props["M"] == {"Fn::GetAZs": ""}
    assert props["N"] == {"Fn::ImportValue": "other-export"}
    assert props["O"] == {"Fn::Cidr": ["10.0.0.0/16", 2, 8]}


def test_dates_stay_strings() -> None:
    assert load_template_text(TEMPLATE)["AWSTemplateFormatVersion"] == "2010-09-09"


def test_json_template() -> None:
    data = load_template_text('{"Resources": {"Q": {"Type": "AWS::SQS::Queue"}}}')
    assert data["Resources"]["Q"]["Type"] == "AWS::SQS::Queue"


def test_yaml_error_names_file_and_line() -> None:
    text = "Resources:\n  Queue:\n    Type: AWS::SQS::Queue\n   Properties: {}\n"
    with pytest.raises(DeployError) as info:
        load_template_text(text, "stack/template.yaml")
    message = str(info.value)
    assert "stack/template.yaml" in message
    assert "line 4" in message


def test_json_error_names_line() -> None:
    with pytest.raises(DeployError, match="line 2"):
        load_template_text('{"Resources":\n  {"Q": }}', "t.json")


def test_template_without_resources_is_refused() -> None:
    with pytest.raises(DeployError, match="no Resources"):
        load_template_text("Parameters: {}\n")
