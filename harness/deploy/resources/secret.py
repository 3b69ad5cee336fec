"""AWS::SecretsManager::Secret on the emulator, generating the value like GenerateSecretString."""

from __future__ import annotations

import json
import secrets
import string
from typing import Any

from harness.deploy.resources.base import Context, boolean, record
from harness.model import ResourceRecord

TYPES = ("AWS::SecretsManager::Secret",)
BACKEND = "ministack Secrets Manager"
PROPERTIES = frozenset({"Name", "Description", "SecretString", "GenerateSecretString", "Tags"})
# accepted with no local effect, and why (unsupported.py)
IGNORED: dict[str, str] = {
    "KmsKeyId": "encryption at rest with a customer key; nothing observable changes locally",
}
# refused at deploy (unless --allow-unsupported), and why
REFUSED: dict[str, str] = {
    "ReplicaRegions": "the local environment has one region",
}
ATTRIBUTES = ("Id",)


def generate(spec: dict[str, Any]) -> str:
    """A value as Secrets Manager's GetRandomPassword would make it from ``spec``."""
    alphabet = ""
    if not boolean(spec.get("ExcludeLowercase", False)):
        alphabet += string.ascii_lowercase
    if not boolean(spec.get("ExcludeUppercase", False)):
        alphabet += string.ascii_uppercase
    if not boolean(spec.get("ExcludeNumbers", False)):
        alphabet += string.digits
    if not boolean(spec.get("ExcludePunctuation", False)):
        alphabet += "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"
    if boolean(spec.get("IncludeSpace", False)):
        alphabet += " "
    excluded = set(str(spec.get("ExcludeCharacters", "")))
    alphabet = "".join(c for c in alphabet if c not in excluded) or string.ascii_letters
    length = int(spec.get("PasswordLength", 32))
    password = "".join(secrets.choice(alphabet) for _ in range(length))
    template, key = spec.get("SecretStringTemplate"), spec.get("GenerateStringKey")
    if template and key:
        data = json.loads(template)
        data[key] = password
        return json.dumps(data)
    return password


def _value(props: dict[str, Any]) -> str:
    if "SecretString" in props:
        return str(props["SecretString"])
    return generate(props.get("GenerateSecretString") or {})


def create(ctx: Context, logical_id: str, props: dict[str, Any]) -> ResourceRecord:
    name = str(props.get("Name") or ctx.physical_name(logical_id, max_len=256))
    args: dict[str, Any] = {"Name": name, "SecretString": _value(props)}
    if props.get("Description"):
        args["Description"] = props["Description"]
    if props.get("Tags"):
        args["Tags"] = props["Tags"]
    arn = ctx.call(logical_id, BACKEND, ctx.client("secretsmanager").create_secret, **args)["ARN"]
    return record(logical_id, TYPES[0], arn, props, arn=arn, Id=arn, Name=name)


def update(ctx: Context, old: ResourceRecord, props: dict[str, Any]) -> ResourceRecord:
    if old.properties.get("Name") != props.get("Name"):
        delete(ctx, old)
        return create(ctx, old.logical_id, props)
    before = old.properties
    if before.get("SecretString") != props.get("SecretString") or before.get(
        "GenerateSecretString"
    ) != props.get("GenerateSecretString"):
        ctx.call(
            old.logical_id,
            BACKEND,
            ctx.client("secretsmanager").put_secret_value,
            SecretId=old.physical_id,
            SecretString=_value(props),
        )
    if before.get("Description") != props.get("Description"):
        ctx.quietly(
            ctx.client("secretsmanager").update_secret,
            SecretId=old.physical_id,
            Description=str(props.get("Description") or ""),
        )
    return record(old.logical_id, TYPES[0], old.physical_id, props, arn=old.arn, **old.attributes)


def delete(ctx: Context, rec: ResourceRecord) -> None:
    ctx.quietly(
        ctx.client("secretsmanager").delete_secret,
        SecretId=rec.physical_id,
        ForceDeleteWithoutRecovery=True,
    )
