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
    "NotificationConfiguration": "S3 event notifications are not delivered by the harness",
    "ObjectLockConfiguration": "object lock (WORM retention) is not enforced locally",
    "ObjectLockEnabled": "object lock (WORM retention) is not enforced locally",
    "ReplicationConfiguration": "cross-region/cross-bucket replication is not performed locally",
}
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
