"""AWS::S3::Bucket on the emulator: versioning, public access block, CORS; notifications recorded."""

from __future__ import annotations

from typing import Any

from harness.deploy.resources.base import Context, record
from harness.model import ResourceRecord

TYPES = ("AWS::S3::Bucket",)
BACKEND = "ministack S3"
PROPERTIES = frozenset(
    {
        "BucketName",
        "VersioningConfiguration",
        "PublicAccessBlockConfiguration",
        "CorsConfiguration",
        "Tags",
        "NotificationConfiguration",  # delivered by the runtime (pollers/s3_poller.py)
    }
)
# accepted with no local effect, and why (unsupported.py)
IGNORED: dict[str, str] = {
    "AccessControl": "a canned ACL; local requests are not authorised by ACL",
    "BucketEncryption": "encryption at rest with a customer key; nothing observable changes locally",
    "IntelligentTieringConfigurations": "storage class transitions after 30+ days",
    "LifecycleConfiguration": "expirations and transitions act after days; a local run lasts minutes",
    "LoggingConfiguration": "server access logs delivered to another bucket",
    "MetricsConfigurations": "CloudWatch request metrics for the bucket",
    "OwnershipControls": "object ownership for cross-account writers; the local environment has one account",
    "WebsiteConfiguration": "recorded for stacks that serve the bucket through a CDN stand-in (its index and error documents); no website endpoint is served",
}
# refused at deploy (unless --allow-unsupported), and why
REFUSED: dict[str, str] = {
    "ObjectLockConfiguration": "object lock (WORM retention) is not enforced locally",
    "ObjectLockEnabled": "object lock (WORM retention) is not enforced locally",
    "ReplicationConfiguration": "cross-region/cross-bucket replication is not performed locally",
}
# S3 event types the runtime's notifier produces (it sees objects appear and disappear; it cannot
# tell a copy or a multipart upload from a put, so it names every creation ObjectCreated:Put)
NOTIFIED_EVENTS = frozenset(
    {
        "s3:ObjectCreated:*",
        "s3:ObjectCreated:Put",
        "s3:ObjectRemoved:*",
        "s3:ObjectRemoved:Delete",
    }
)
_DESTINATIONS = {
    "LambdaConfigurations": "Function",
    "QueueConfigurations": "Queue",
    "TopicConfigurations": "Topic",
}


def refusals(type_: str, props: dict[str, Any]) -> list[tuple[str, str]]:
    """The parts of NotificationConfiguration the runtime cannot deliver."""
    config = props.get("NotificationConfiguration")
    if not isinstance(config, dict):
        return []
    found: list[tuple[str, str]] = []
    for key in config:
        if key not in _DESTINATIONS and key != "EventBridgeConfiguration":
            found.append((f"NotificationConfiguration.{key}", "not a notification destination"))
    bridge = config.get("EventBridgeConfiguration")
    if (
        isinstance(bridge, dict)
        and str(bridge.get("EventBridgeEnabled", "false")).lower() == "true"
    ):
        found.append(
            (
                "NotificationConfiguration.EventBridgeConfiguration",
                "S3 events to EventBridge are not sent locally (Lambda, SQS and SNS destinations "
                "are)",
            )
        )
    for key in _DESTINATIONS:
        for n, entry in enumerate(config.get(key) or []):
            if not isinstance(entry, dict):
                continue
            event = entry.get("Event")
            if isinstance(event, str) and event not in NOTIFIED_EVENTS:
                found.append(
                    (
                        f"NotificationConfiguration.{key}[{n}].Event",
                        f"{event} is not produced locally (only "
                        + ", ".join(sorted(NOTIFIED_EVENTS))
                        + "; every creation is reported as ObjectCreated:Put)",
                    )
                )
            rules = ((entry.get("Filter") or {}).get("S3Key") or {}).get("Rules") or []
            for rule in rules:
                name = str((rule or {}).get("Name", "")).lower()
                if name not in ("prefix", "suffix"):
                    found.append(
                        (
                            f"NotificationConfiguration.{key}[{n}].Filter",
                            f"filter rule {name or '?'} is not an S3 key filter (prefix, suffix)",
                        )
                    )
    return found


ATTRIBUTES = ("Arn", "DomainName", "RegionalDomainName", "WebsiteURL", "DualStackDomainName")


def _configure(ctx: Context, logical_id: str, name: str, props: dict[str, Any]) -> None:
    s3 = ctx.client("s3")
    versioning = props.get("VersioningConfiguration")
    if versioning:
        ctx.call(
            logical_id,
            BACKEND,
            s3.put_bucket_versioning,
            Bucket=name,
            VersioningConfiguration={"Status": versioning.get("Status", "Enabled")},
        )
    block = props.get("PublicAccessBlockConfiguration")
    if block:  # recorded when the emulator lacks the call
        ctx.quietly(s3.put_public_access_block, Bucket=name, PublicAccessBlockConfiguration=block)
    cors = props.get("CorsConfiguration")
    if cors:
        rules = [
            {
                k: r[k]
                for k in (
                    "AllowedHeaders",
                    "AllowedMethods",
                    "AllowedOrigins",
                    "ExposeHeaders",
                    "MaxAge",
                )
                if k in r
            }
            for r in cors.get("CorsRules", [])
        ]
        for rule in rules:
            if "MaxAge" in rule:
                rule["MaxAgeSeconds"] = int(rule.pop("MaxAge"))
            if "ExposeHeaders" in rule:
                rule["ExposeHeaders"] = rule.pop("ExposeHeaders")
        ctx.quietly(s3.put_bucket_cors, Bucket=name, CORSConfiguration={"CORSRules": rules})
    if props.get("Tags"):
        ctx.quietly(s3.put_bucket_tagging, Bucket=name, Tagging={"TagSet": props["Tags"]})


def _record(ctx: Context, logical_id: str, name: str, props: dict[str, Any]) -> ResourceRecord:
    arn = f"arn:aws:s3:::{name}"
    return record(
        logical_id,
        TYPES[0],
        name,
        props,
        arn=arn,
        Arn=arn,
        DomainName=f"{name}.s3.amazonaws.com",
        RegionalDomainName=f"{name}.s3.{ctx.region}.amazonaws.com",
        DualStackDomainName=f"{name}.s3.dualstack.{ctx.region}.amazonaws.com",
        WebsiteURL=f"http://{name}.s3-website-{ctx.region}.amazonaws.com",
        Notifications=props.get("NotificationConfiguration"),
    )


def create(ctx: Context, logical_id: str, props: dict[str, Any]) -> ResourceRecord:
    name = str(props.get("BucketName") or ctx.physical_name(logical_id, max_len=63, lower=True))
    args: dict[str, Any] = {"Bucket": name}
    if ctx.region != "us-east-1":
        args["CreateBucketConfiguration"] = {"LocationConstraint": ctx.region}
    ctx.call(logical_id, BACKEND, ctx.client("s3").create_bucket, **args)
    _configure(ctx, logical_id, name, props)
    return _record(ctx, logical_id, name, props)


def update(ctx: Context, old: ResourceRecord, props: dict[str, Any]) -> ResourceRecord:
    if old.properties.get("BucketName") != props.get("BucketName"):
        delete(ctx, old)
        return create(ctx, old.logical_id, props)
    _configure(ctx, old.logical_id, old.physical_id, props)
    return _record(ctx, old.logical_id, old.physical_id, props)


def delete(ctx: Context, rec: ResourceRecord) -> None:
    s3 = ctx.client("s3")
    name = rec.physical_id
    versions = ctx.quietly(s3.list_object_versions, Bucket=name) or {}
    objects = [
        {"Key": v["Key"], "VersionId": v["VersionId"]}
        for v in versions.get("Versions", []) + versions.get("DeleteMarkers", [])
    ]
    listing = ctx.quietly(s3.list_objects_v2, Bucket=name) or {}
    objects += [{"Key": o["Key"]} for o in listing.get("Contents", [])]
    for start in range(0, len(objects), 1000):
        ctx.quietly(
            s3.delete_objects, Bucket=name, Delete={"Objects": objects[start : start + 1000]}
        )
    ctx.quietly(s3.delete_bucket, Bucket=name)
