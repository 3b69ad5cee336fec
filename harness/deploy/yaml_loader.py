"""Read CloudFormation/SAM templates: YAML with the short-form intrinsic tags, or JSON.

``!Ref X`` becomes ``{"Ref": "X"}``, ``!GetAtt A.B`` becomes ``{"Fn::GetAtt": ["A", "B"]}``,
``!Condition C`` becomes ``{"Condition": "C"}`` and every other ``!Fn`` becomes
``{"Fn::Fn": ...}``. Dates stay strings (``AWSTemplateFormatVersion: 2010-09-09``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from harness.errors import DeployError

__all__ = ["SHORT_TAGS", "load_snippet_text", "load_template_file", "load_template_text"]

SHORT_TAGS = (
    "And",
    "Base64",
    "Cidr",
    "Equals",
    "FindInMap",
    "GetAZs",
    "If",
    "ImportValue",
    "Join",
    "Length",
    "Not",
    "Or",
    "Select",
    "Split",
    "Sub",
    "ToJsonString",
    "Transform",
)


class TemplateLoader(yaml.SafeLoader):
    """A safe YAML loader that knows CloudFormation's short-form tags."""


def _construct(node: yaml.Node, loader: TemplateLoader) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    assert isinstance(node, yaml.MappingNode)
    return loader.construct_mapping(node, deep=True)


def _function(name: str) -> Any:
    def construct(loader: TemplateLoader, node: yaml.Node) -> Any:
        return {f"Fn::{name}": _construct(node, loader)}

    return construct


def _ref(loader: TemplateLoader, node: yaml.Node) -> Any:
    return {"Ref": _construct(node, loader)}


def _condition(loader: TemplateLoader, node: yaml.Node) -> Any:
    return {"Condition": _construct(node, loader)}


def _get_att(loader: TemplateLoader, node: yaml.Node) -> Any:
    value = _construct(node, loader)
    if isinstance(value, str):
        resource, _, attribute = value.partition(".")
        return {"Fn::GetAtt": [resource, attribute]}
    return {"Fn::GetAtt": value}


def _string(loader: TemplateLoader, node: yaml.Node) -> Any:
    return loader.construct_scalar(node)  # type: ignore[arg-type]


for _name in SHORT_TAGS:
    TemplateLoader.add_constructor(f"!{_name}", _function(_name))
TemplateLoader.add_constructor("!Ref", _ref)
TemplateLoader.add_constructor("!Condition", _condition)
TemplateLoader.add_constructor("!GetAtt", _get_att)
TemplateLoader.add_constructor("tag:yaml.org,2002:timestamp", _string)


def load_template_text(text: str, source: str = "template.yaml") -> dict[str, Any]:
    """Parse a template; a syntax error names the file, the line and the column."""
    data = load_snippet_text(text, source)
    if not isinstance(data, dict):
        raise DeployError(
            "the template is not a mapping (expected keys such as Resources).", file=source
        )
    if not isinstance(data.get("Resources"), dict) or not data["Resources"]:
        raise DeployError(
            "the template has no Resources section.",
            file=source,
            fix="declare at least one resource under Resources.",
        )
    return data


def load_snippet_text(text: str, source: str) -> Any:
    """Parse any template fragment (an ``AWS::Include`` file: an OpenAPI body, a snippet), with
    the short-form intrinsics; a syntax error names the file, the line and the column."""
    if text.lstrip().startswith("{"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DeployError(
                f"JSON syntax error at line {exc.lineno}, column {exc.colno}: {exc.msg}.",
                file=source,
                fix="correct the JSON at that line.",
            ) from None
    else:
        try:
            data = yaml.load(text, Loader=TemplateLoader)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown line"
            problem = exc.problem or exc.context or "invalid YAML"
            context = exc.context_mark
            if exc.context and context and mark and context.line != mark.line:
                problem += (
                    f" ({exc.context} that starts at line {context.line + 1},"
                    f" column {context.column + 1})"
                )
            raise DeployError(
                f"YAML syntax error at {where}: {problem}.",
                file=source,
                fix="correct the YAML at that line (indentation, quotes, a missing ':').",
            ) from None
        except yaml.YAMLError as exc:
            raise DeployError(f"YAML error: {exc}", file=source) from None
    return data


def load_template_file(path: Path) -> dict[str, Any]:
    return load_template_text(path.read_text(encoding="utf-8"), str(path))
