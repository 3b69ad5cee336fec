"""AWS::Lambda::LayerVersion: recorded with its local content folder (``ContentDir``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.deploy.code_archive import local_code_folder
from harness.deploy.resources.base import LOCAL_CODE_BUCKET, Context, record
from harness.errors import DeployError
from harness.model import ResourceRecord

TYPES = ("AWS::Lambda::LayerVersion",)
BACKEND = "harness runtime"
PROPERTIES = frozenset(
    {
        "Content",
        "LayerName",
        "CompatibleRuntimes",
        "CompatibleArchitectures",
        "Description",
        "LicenseInfo",
    }
)
IGNORED: dict[str, str] = {}
ATTRIBUTES = ("LayerVersionArn",)


def content_dir(ctx: Context, logical_id: str, content: Any) -> Path:
    where: Path | None = None
    if isinstance(content, str):
        where = ctx.stack_dir / content
    elif isinstance(content, dict) and content.get("S3Bucket") == LOCAL_CODE_BUCKET:
        where = ctx.stack_dir / str(content["S3Key"])
    if where is not None:  # a folder, or a zip unpacked (code_archive.py)
        return local_code_folder(
            where.resolve(),
            work_dir=ctx.work_dir,
            file=ctx.file,
            logical_id=logical_id,
            property="ContentUri",
            backend=BACKEND,
        )
    raise DeployError(
        f"layer content must be a local folder (ContentUri: path), got {content!r}.",
        file=ctx.file,
        logical_id=logical_id,
        property="ContentUri",
        backend=BACKEND,
        fix="set ContentUri to a folder relative to the template.",
    )


def create(ctx: Context, logical_id: str, props: dict[str, Any]) -> ResourceRecord:
    name = str(props.get("LayerName") or f"{ctx.stack_name}-{logical_id}")
    arn = ctx.arn("lambda", f"layer:{name}:1")
    folder = content_dir(ctx, logical_id, props.get("Content"))
    return record(
        logical_id, TYPES[0], arn, props, arn=arn, LayerVersionArn=arn, ContentDir=str(folder)
    )


def update(ctx: Context, old: ResourceRecord, props: dict[str, Any]) -> ResourceRecord:
    return create(ctx, old.logical_id, props)


def delete(ctx: Context, rec: ResourceRecord) -> None:
    return None
