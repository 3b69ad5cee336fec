"""AWS::Cognito::UserPool on the emulator. Lambda triggers (LambdaConfig) are only recorded."""

from __future__ import annotations

from typing import Any

from harness.deploy.resources.base import Context, boolean, record
from harness.model import ResourceRecord

TYPES = ("AWS::Cognito::UserPool",)
BACKEND = "ministack Cognito"
_PASSTHROUGH = (
    "Policies",
    "AutoVerifiedAttributes",
    "AliasAttributes",
    "UsernameAttributes",
    "SmsVerificationMessage",
    "EmailVerificationMessage",
    "EmailVerificationSubject",
    "VerificationMessageTemplate",
    "SmsAuthenticationMessage",
    "MfaConfiguration",
    "DeviceConfiguration",
    "EmailConfiguration",
    "SmsConfiguration",
    "AdminCreateUserConfig",
    "UsernameConfiguration",
    "AccountRecoverySetting",
    "UserAttributeUpdateSettings",
    "DeletionProtection",
)
PROPERTIES = frozenset({"UserPoolName", "Schema", "UserPoolTags", *_PASSTHROUGH})
# accepted with no local effect, and why (unsupported.py)
IGNORED: dict[str, str] = {
    "LambdaConfig": "the pool's triggers run in the harness runtime once the stack's fixtures call harness.cognito_triggers.wire_pool_triggers (README: harness token)",
    "UserPoolTier": "the pricing tier (LITE/ESSENTIALS/PLUS); the emulator serves every feature it has whatever the tier",
    "WebAuthnRelyingPartyID": "passkey sign-in; the harness signs users in with passwords and client credentials only",
    "WebAuthnUserVerification": "passkey sign-in; the harness signs users in with passwords and client credentials only",
}
# refused at deploy (unless --allow-unsupported), and why
REFUSED: dict[str, str] = {
    "EnabledMfas": "multi-factor sign-in is not emulated (no SMS, e-mail or TOTP codes)",
    "UserPoolAddOns": "advanced security (risk scoring, compromised credentials) is not emulated",
}
ATTRIBUTES = ("Arn", "ProviderName", "ProviderURL", "UserPoolId")


def _schema(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    result = []
    for entry in entries:
        item = dict(entry)
        for key in ("Mutable", "Required", "DeveloperOnlyAttribute"):
            if key in item:
                item[key] = boolean(item[key])
        for key in ("StringAttributeConstraints", "NumberAttributeConstraints"):
            if key in item:
                item[key] = {k: str(v) for k, v in item[key].items()}
        result.append(item)
    return result


def _args(props: dict[str, Any]) -> dict[str, Any]:
    args = {k: props[k] for k in _PASSTHROUGH if k in props}
    policy = (args.get("Policies") or {}).get("PasswordPolicy")
    if policy:
        for key, value in list(policy.items()):
            if key.startswith("Require"):
                policy[key] = boolean(value)
            elif key in ("MinimumLength", "TemporaryPasswordValidityDays", "PasswordHistorySize"):
                policy[key] = int(value)
    if "UserPoolTags" in props:
        args["UserPoolTags"] = {k: str(v) for k, v in props["UserPoolTags"].items()}
    return args


def _record(ctx: Context, logical_id: str, pool_id: str, props: dict[str, Any]) -> ResourceRecord:
    arn = ctx.arn("cognito-idp", f"userpool/{pool_id}")
    provider = f"cognito-idp.{ctx.region}.amazonaws.com/{pool_id}"
    return record(
        logical_id,
        TYPES[0],
        pool_id,
        props,
        arn=arn,
        Arn=arn,
        ProviderName=provider,
        ProviderURL=f"https://{provider}",
        UserPoolId=pool_id,
        Triggers=props.get("LambdaConfig"),
    )


def create(ctx: Context, logical_id: str, props: dict[str, Any]) -> ResourceRecord:
    name = str(props.get("UserPoolName") or ctx.physical_name(logical_id, max_len=128))
    args = _args(props)
    if props.get("Schema"):
        args["Schema"] = _schema(props["Schema"])
    pool = ctx.call(
        logical_id, BACKEND, ctx.client("cognito-idp").create_user_pool, PoolName=name, **args
    )
    return _record(ctx, logical_id, pool["UserPool"]["Id"], props)


def update(ctx: Context, old: ResourceRecord, props: dict[str, Any]) -> ResourceRecord:
    before = old.properties
    if (
        before.get("UserPoolName") != props.get("UserPoolName")
        or before.get("Schema") != props.get("Schema")
        or before.get("UsernameAttributes") != props.get("UsernameAttributes")
    ):
        delete(ctx, old)
        return create(ctx, old.logical_id, props)
    args = _args(props)
    for key in ("UsernameAttributes", "AliasAttributes", "UsernameConfiguration"):
        args.pop(key, None)
    ctx.quietly(ctx.client("cognito-idp").update_user_pool, UserPoolId=old.physical_id, **args)
    return _record(ctx, old.logical_id, old.physical_id, props)


def delete(ctx: Context, rec: ResourceRecord) -> None:
    ctx.quietly(ctx.client("cognito-idp").delete_user_pool, UserPoolId=rec.physical_id)
