"""AWS::SSM::Parameter on the emulator (String / StringList)."""

from __future__ import annotations

from typing import Any

from harness.deploy.resources.base import Context, record
from harness.model import ResourceRecord

TYPES = ("AWS::SSM::Parameter",)
BACKEND = "ministack SSM"
PROPERTIES = frozenset(
    {"Name", "Type", "Value", "Description", "AllowedPattern", "DataType", "Tags"}
)
# accepted with no local effect, and why (unsupported.py)
IGNORED: dict[str, str] = {
    "Tier": "standard/advanced pricing tier (size limit 4 KB vs 8 KB)",
}
# refused at deploy (unless --allow-unsupported), and why
REFUSED: dict[str, str] = {
    "Policies": "parameter policies (expiration, notification) are not applied",
}
ATTRIBUTES = ("Type", "Value")


def _put(ctx: Context, logical_id: str, name: str, props: dict[str, Any], overwrite: bool) -> None:
    value = props["Value"]
    args: dict[str, Any] = {
        "Name": name,
        "Value": ",".join(value) if isinstance(value, list) else str(value),
        "Type": props.get("Type", "String"),
        "Overwrite": overwrite,
    }
    for key in ("Description", "AllowedPattern", "DataType"):
        if props.get(key):
            args[key] = props[key]
    if props.get("Tags") and not overwrite:
        tags = props["Tags"]
        args["Tags"] = (
            [{"Key": k, "Value": str(v)} for k, v in tags.items()]
            if isinstance(tags, dict)
            else tags
        )
    ctx.call(logical_id, BACKEND, ctx.client("ssm").put_parameter, **args)


def _record(logical_id: str, name: str, props: dict[str, Any]) -> ResourceRecord:
    return record(
        logical_id,
        TYPES[0],
        name,
        props,
        arn=None,
        Type=props.get("Type", "String"),
        Value=props["Value"],
    )


def create(ctx: Context, logical_id: str, props: dict[str, Any]) -> ResourceRecord:
    name = str(props.get("Name") or ctx.physical_name(logical_id, max_len=128))
    _put(ctx, logical_id, name, props, overwrite=False)
    rec = _record(logical_id, name, props)
    rec.arn = ctx.arn("ssm", f"parameter/{name.lstrip('/')}")
    return rec


def update(ctx: Context, old: ResourceRecord, props: dict[str, Any]) -> ResourceRecord:
    if old.properties.get("Name") != props.get("Name"):
        delete(ctx, old)
        return create(ctx, old.logical_id, props)
    _put(ctx, old.logical_id, old.physical_id, props, overwrite=True)
    rec = _record(old.logical_id, old.physical_id, props)
    rec.arn = old.arn
    return rec


def delete(ctx: Context, rec: ResourceRecord) -> None:
    ctx.quietly(ctx.client("ssm").delete_parameter, Name=rec.physical_id)
