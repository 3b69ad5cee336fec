"""Nested stacks (AWS::CloudFormation::Stack, SAM AWS::Serverless::Application) planned without a
backend: a local child template is found relative to the parent, its Outputs are the attributes
the parent may read, and a missing file, an unknown output or a remote location is refused with
the file, the logical id and the property named."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from harness.deploy.engine import plan_stack
from harness.deploy.local_urls import local_url
from harness.deploy.resources import cloudformation_stack, handler_for
from harness.deploy.template import load_source
from harness.errors import DeployError
from harness.model import ApiSpec, DeployedStack

NESTED = Path(__file__).resolve().parents[1] / "fixtures" / "deploy" / "nested"


def _copy(tmp_path: Path) -> Path:
    folder = tmp_path / "nested"
    shutil.copytree(NESTED, folder)
    return folder


def _replace(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def test_both_forms_plan_as_nested_stacks_before_what_reads_their_outputs() -> None:
    plan = plan_stack(load_source(NESTED))
    types = {k: plan.template["Resources"][k]["Type"] for k in plan.order}
    assert types["English"] == types["French"] == "AWS::CloudFormation::Stack"
    assert handler_for("AWS::CloudFormation::Stack") is cloudformation_stack
    assert plan.order.index("English") < plan.order.index("FrontApi")


def test_the_child_outputs_are_the_attributes() -> None:
    props = {"TemplateURL": "child/template.yaml"}
    file = str(NESTED / "template.yaml")
    assert cloudformation_stack.attributes_of(file, "English", props) == (
        "Outputs.FunctionArn",
        "Outputs.FunctionName",
        "Outputs.ApiUrl",
    )
    props = {"TemplateURL": f"file://{NESTED / 'child' / 'template.yaml'}"}
    assert "Outputs.ApiUrl" in cloudformation_stack.attributes_of(file, "English", props)


def test_a_missing_child_template_is_refused_before_anything(tmp_path: Path) -> None:
    folder = _copy(tmp_path)
    _replace(folder / "template.yaml", "Location: child/template.yaml", "Location: kid/t.yaml")
    with pytest.raises(DeployError) as info:
        plan_stack(load_source(folder), run_lint=False)
    err = info.value
    assert (err.logical_id, err.property) == ("English", "TemplateURL")
    assert err.file == str(folder / "template.yaml")
    assert "kid/t.yaml does not exist" in str(err)
    assert str((folder / "kid" / "t.yaml").resolve()) in str(err)


def test_an_unknown_child_output_is_refused_with_the_known_ones(tmp_path: Path) -> None:
    folder = _copy(tmp_path)
    _replace(folder / "template.yaml", "French, Outputs.FunctionName", "French, Outputs.Nope")
    with pytest.raises(DeployError) as info:
        plan_stack(load_source(folder), run_lint=False)
    err = info.value
    assert err.logical_id == "Outputs.FrenchFunction"
    assert "French.Outputs.Nope" in str(err)
    assert "Outputs.FunctionName" in str(err)  # what it could have read


@pytest.mark.parametrize(
    ("old", "new", "logical_id", "prop", "words"),
    [
        (
            "Location: child/template.yaml",
            "Location: {ApplicationId: 'arn:aws:serverlessrepo:us-east-1:1:applications/x', "
            "SemanticVersion: 1.0.0}",
            "English",
            "Location",
            ["Serverless Application Repository", "applications/x"],
        ),
        (
            "Location: child/template.yaml",
            "Location: https://example.com/child.yaml",
            "English",
            "Location",
            ["https://example.com/child.yaml", "remote"],
        ),
        (
            "TemplateURL: ./child/template.yaml",
            "TemplateURL: https://s3.amazonaws.com/bucket/child.yaml",
            "French",
            "TemplateURL",
            ["https://s3.amazonaws.com/bucket/child.yaml", "remote"],
        ),
    ],
)
def test_remote_templates_are_refused_with_file_id_property_and_why(
    tmp_path: Path, old: str, new: str, logical_id: str, prop: str, words: list[str]
) -> None:
    folder = _copy(tmp_path)
    _replace(folder / "template.yaml", old, new)
    # the outputs read from the refused stack would fail first: keep only the other's
    _replace(folder / "template.yaml", "Outputs:\n", "Unused:\n")
    template = folder / "template.yaml"
    _replace(template, "${English.Outputs.FunctionArn}", "arn:aws:lambda:us-east-1:0:function:x")
    with pytest.raises(DeployError) as info:
        plan_stack(load_source(folder), run_lint=False)
    text = str(info.value)
    assert "cannot be honoured locally" in text
    assert f"resource '{logical_id}', property '{prop}'" in text
    assert str(template) in text
    for word in words:
        assert word in text


def test_allow_unsupported_leaves_a_remote_application_out(tmp_path: Path) -> None:
    folder = _copy(tmp_path)
    _replace(folder / "template.yaml", "Outputs:\n", "Unused:\n")
    _replace(
        folder / "template.yaml",
        "Location: child/template.yaml",
        "Location: {ApplicationId: 'arn:aws:serverlessrepo:us-east-1:1:applications/x', "
        "SemanticVersion: 1.0.0}",
    )
    _replace(
        folder / "template.yaml",
        "${English.Outputs.FunctionArn}",
        "arn:aws:lambda:us-east-1:0:function:x",
    )
    plan = plan_stack(load_source(folder), run_lint=False, allow_unsupported=True)
    assert "English" not in plan.order and "French" in plan.order
    assert [(u.logical_id, u.property) for u in plan.unsupported] == [("English", "Location")]


def test_local_url_maps_a_nested_stack_api_passed_up_as_an_output() -> None:
    parent = DeployedStack(name="p", stack_dir="", template_path="", deployed_at=0)
    child = DeployedStack(
        name="p-Child",
        stack_dir="",
        template_path="",
        deployed_at=0,
        parent="p",
        apis={
            "Api": ApiSpec(
                logical_id="Api",
                kind="http",
                stage="$default",
                api_id="abc123",
                base_url="http://l/x",
            )
        },
    )
    url = "https://abc123.execute-api.us-east-1.amazonaws.com/hello"
    assert local_url(parent, url) == url  # not the parent's API
    assert local_url(parent, url, [child]) == "http://l/x/hello"
