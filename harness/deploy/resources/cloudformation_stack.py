"""AWS::CloudFormation::Stack (and SAM's AWS::Serverless::Application, which becomes one): a
nested stack whose template is a local file, deployed as a stack of its own.

As ``sam`` reads nested stacks locally (aws-sam-cli ``samcli/lib/providers/sam_stack_provider.py``:
``Location``/``TemplateURL`` is a path relative to the parent template, or ``file://``; ``s3://``,
``http(s)://`` and Serverless Application Repository locations are remote), the child template is
read from the parent's folder and deployed as the stack ``<parent>-<LogicalId>`` with the
``Parameters`` given here; its resources are named after that stack (so two instances of one child
never collide), its ``Outputs`` are this resource's ``Outputs.<Name>`` attributes, ``Ref`` is its
stack ARN, destroying the parent destroys it, and ``harness status`` lists it beside its parent.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from harness.deploy.resources.base import Context, record
from harness.errors import DeployError
from harness.model import ResourceRecord

TYPES = ("AWS::CloudFormation::Stack",)
BACKEND = "harness deploy (nested stack)"
PROPERTIES = frozenset({"TemplateURL", "Parameters"})
IGNORED: dict[str, str] = {
    "Tags": "stack tags are not propagated to the child's resources locally (nothing reads them)",
    "TimeoutInMinutes": "the child is deployed synchronously, with the parent's own limits",
}
REFUSED: dict[str, str] = {
    "NotificationARNs": "stack events are not published to SNS locally",
    "TemplateBody": "CloudFormation's nested stacks take TemplateURL; write the child to a file",
}
ATTRIBUTES: tuple[str, ...] = ()  # Outputs.<Name>: see attributes_of()

REMOTE = ("s3://", "http://", "https://")


def nested_name(parent: str, logical_id: str) -> str:
    """The child stack's name: ``<parent>-<LogicalId>`` (CloudFormation adds a random tail; a
    fixed name lets a redeploy update the child in place)."""
    return f"{parent}-{logical_id}"[:128]


def _location(url: Any) -> str | None:
    if not isinstance(url, str):
        return None
    return unquote(urlparse(url).path) if url.startswith("file://") else url


def refusals(type_: str, props: dict[str, Any]) -> list[tuple[str, str]]:
    """A remote template: the Serverless Application Repository, S3 or a web address."""
    url = props.get("TemplateURL")
    if isinstance(url, str) and url.startswith(REMOTE):
        return [
            (
                "TemplateURL",
                f"the nested stack's template {url} is remote; only a template file relative "
                "to the parent template (or file://) is deployed locally (as `sam local` does)",
            )
        ]
    return []


def child_template(file: str, logical_id: str, stack_dir: Path, url: Any) -> Path:
    """The child template's path (relative to the parent template's folder), or a DeployError."""
    location = _location(url)
    if location is None:
        raise DeployError(
            "TemplateURL (SAM: Location) must be a plain string naming a local template file.",
            file=file,
            logical_id=logical_id,
            property="TemplateURL",
            fix="write the path relative to the parent template, e.g. child/template.yaml.",
        )
    path = (stack_dir / location).resolve()
    if not path.is_file():
        raise DeployError(
            f"nested stack template {location} does not exist (looked for {path}, relative to "
            "the parent template as SAM CLI reads it).",
            file=file,
            logical_id=logical_id,
            property="TemplateURL",
            fix="correct the path (SAM: Location; CloudFormation: TemplateURL), relative to the "
            "parent template's folder.",
        )
    return path


def check(file: str, logical_id: str, props: dict[str, Any]) -> None:
    url = props.get("TemplateURL")
    if isinstance(url, str) and not url.startswith(REMOTE):
        child_template(file, logical_id, Path(file).parent, url)


def attributes_of(file: str, logical_id: str, props: dict[str, Any]) -> tuple[str, ...]:
    """``Outputs.<Name>`` for each output the child template declares."""
    from harness.deploy.yaml_loader import load_template_file

    url = props.get("TemplateURL")
    if not isinstance(url, str) or url.startswith(REMOTE):
        return ()
    template = load_template_file(child_template(file, logical_id, Path(file).parent, url))
    return tuple(f"Outputs.{name}" for name in template.get("Outputs") or {})


def _parameters(props: dict[str, Any]) -> dict[str, str]:
    raw = props.get("Parameters") or {}
    return {
        str(k): ",".join(map(str, v)) if isinstance(v, list) else str(v) for k, v in raw.items()
    }


def _deploy(ctx: Context, logical_id: str, props: dict[str, Any], stack_id: str) -> ResourceRecord:
    if ctx.deploy_nested is None:
        raise DeployError(
            "nested stacks are deployed only onto a running environment.",
            file=ctx.file,
            logical_id=logical_id,
            backend=BACKEND,
        )
    path = child_template(ctx.file, logical_id, ctx.stack_dir, props.get("TemplateURL"))
    name = nested_name(ctx.stack_name, logical_id)
    child = ctx.deploy_nested(name, path, _parameters(props))
    outputs = {f"Outputs.{k}": v for k, v in child.outputs.items()}
    rec = record(logical_id, ctx.current_type, stack_id, props, arn=stack_id, StackName=name)
    rec.attributes.update(outputs)
    return rec


def create(ctx: Context, logical_id: str, props: dict[str, Any]) -> ResourceRecord:
    name = nested_name(ctx.stack_name, logical_id)
    stack_id = ctx.arn("cloudformation", f"stack/{name}/{uuid.uuid4()}")
    return _deploy(ctx, logical_id, props, stack_id)


def update(ctx: Context, old: ResourceRecord, props: dict[str, Any]) -> ResourceRecord:
    return _deploy(ctx, old.logical_id, props, old.physical_id)


def refresh(ctx: Context, old: ResourceRecord) -> ResourceRecord:
    """The parent's properties are unchanged, but the child's template may not be: redeploy it
    (the engine's diff leaves its unchanged resources alone)."""
    return _deploy(ctx, old.logical_id, old.properties, old.physical_id)


def delete(ctx: Context, rec: ResourceRecord) -> None:
    if ctx.destroy_nested is not None:
        ctx.destroy_nested(str(rec.attributes.get("StackName") or ""))
