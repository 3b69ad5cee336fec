"""harness.yamlpos: the one formatter of pydantic validation errors (file, line, field)."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from harness.chaos.rules import validate_each
from harness.errors import ConfigError
from harness.yamlpos import (
    describe_validation,
    load_with_positions,
    validation_error,
    validation_problems,
)


class Item(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    size: int = 1

    @field_validator("name")
    @classmethod
    def _not_empty(cls, value: str) -> str:
        if not value:
            raise ValueError("a name is needed")
        return value


class Doc(BaseModel):
    items: list[Item]
    mode: list[int] | None = None


TEXT = "top:\n  items:\n    - {name: a}\n    - name: ''\n      size: big\n"


def errors_of(data: object) -> ValidationError:
    with pytest.raises(ValidationError) as info:
        Doc.model_validate(data)
    return info.value


def test_problems_carry_the_prefixed_field_and_its_line() -> None:
    data, positions = load_with_positions(TEXT, "x.yaml")
    exc = errors_of(data["top"])
    problems = validation_problems(exc, positions, prefix=("top",))
    assert [(p.field, p.line) for p in problems] == [
        ("top.items[1].name", 4),
        ("top.items[1].size", 5),
    ]
    assert "a name is needed" in problems[0].message
    assert str(problems[0]).startswith("line 4, field top.items[1].name: ")
    assert validation_problems(exc)[0].line is None  # no positions: no line


def test_one_error_for_a_file_names_the_file_line_and_first_field() -> None:
    data, positions = load_with_positions(TEXT, "x.yaml")
    error = validation_error(
        errors_of(data["top"]), positions, what="doc", fix="fix it.", prefix=("top",)
    )
    assert isinstance(error, ConfigError)
    assert (error.source, error.field) == ("x.yaml", "top.items[1].name")
    assert "x.yaml: the doc is not valid:\n  line 4, field top.items[1].name" in str(error)
    assert "line 5, field top.items[1].size" in str(error) and str(error).endswith("Fix: fix it.")


def test_one_line_form_and_what_callers_get() -> None:
    text = describe_validation(errors_of({"items": [{"name": "a", "extra": 1}]}))
    assert text.startswith("field items[0].extra: Extra inputs are not permitted")
    with pytest.raises(ValueError, match=r"field \[1\]\.name: Field required"):
        validate_each(Item, [{"name": "ok"}, {}])
    # a union's branch names (list[int]) are not fields
    problems = validation_problems(errors_of({"items": [], "mode": ["x"]}))
    assert [p.field for p in problems] == ["mode[0]"]
