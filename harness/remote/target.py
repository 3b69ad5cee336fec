"""A scenario's remote target in an AWS account: ``target: {kind: aws, stack: NAME, region: R}``.

Everything is read through the AWS APIs only (no local template, no harness state): the stack's
outputs and resources (CloudFormation ``DescribeStacks``/``ListStackResources``) give the API
URL, the functions, tables, queues, alarms and the Cognito user pool; tokens come from that pool
(``InitiateAuth`` with a test user the scenario names, or the client-credentials grant of one of
its app clients through the pool's domain). ``endpoint_url`` points every client at an emulator
that plays the account (the end-to-end test does that); leave it out for AWS.

    target:
      kind: aws
      stack: syncwell-staging
      region: eu-west-1
      profile: gameday            # a named AWS profile (default: the usual credential chain)
      api: ApiUrl                 # an output key or a REST/HTTP API's logical id (default: the one API)
      auth:
        user: {username: loadtest@example.com, password_env: LOADTEST_PASSWORD, client: WebClient}
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from harness.errors import ConfigError, HarnessError

__all__ = [
    "AwsAuth",
    "AwsTarget",
    "CognitoUserTokens",
    "RemoteStack",
    "RemoteTargetError",
    "read_stack",
]


class RemoteTargetError(HarnessError):
    """The remote stack could not be read, or lacks what the scenario needs."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class UserAuth(_Model):
    username: str = Field(min_length=1)
    password_env: str = Field(min_length=1, description="env var holding the password")
    client: str | None = Field(None, description="app client logical id (default: the only one)")


class ClientCredentialsAuth(_Model):
    client: str = Field(min_length=1, description="app client logical id (with a secret)")
    scope: str | None = None
    domain: str | None = Field(
        None, description="token endpoint base, e.g. https://auth.example.com (default: pool's)"
    )


class AwsAuth(_Model):
    user: UserAuth | None = None
    client_credentials: ClientCredentialsAuth | None = None

    @model_validator(mode="after")
    def _one(self) -> AwsAuth:
        if (self.user is None) == (self.client_credentials is None):
            raise ValueError("give exactly one of 'user' or 'client_credentials'")
        return self


class AwsTarget(_Model):
    """A CloudFormation stack deployed in an AWS account (or an emulator playing one)."""

    kind: Literal["aws"]
    stack: str = Field(min_length=1)
    region: str = Field(min_length=1)
    profile: str | None = None
    endpoint_url: str | None = Field(None, description="an emulator playing the account")
    api: str | None = Field(None, description="output key or API logical id the load goes to")
    auth: AwsAuth | None = None
    fis_role_arn: str | None = Field(None, description="role FIS assumes (plan: a placeholder)")
    availability_zone: str | None = Field(None, description="the AZ an az:failure takes out")

    @property
    def base_url(self) -> str:  # the URL target's attribute; resolved only when the run starts
        raise RemoteTargetError(f"the API URL of stack {self.stack} is read when the run starts")


@dataclass
class RemoteStack:
    """What a deployed stack is, as its account's APIs tell it."""

    name: str
    region: str
    stack_id: str
    status: str
    outputs: dict[str, str] = field(default_factory=dict)
    # logical id -> (resource type, physical id)
    resources: dict[str, tuple[str, str]] = field(default_factory=dict)

    def of_type(self, kind: str) -> dict[str, str]:
        return {k: pid for k, (t, pid) in self.resources.items() if t == kind}

    @property
    def account(self) -> str:
        return self.stack_id.split(":")[4] if self.stack_id.count(":") >= 5 else ""

    def api_url(self, wanted: str | None) -> str:
        """The base URL of the API the load goes to: an output, or an API's execute-api URL."""
        if wanted and wanted in self.outputs:
            return self.outputs[wanted].rstrip("/")
        apis = {
            **self.of_type("AWS::ApiGateway::RestApi"),
            **self.of_type("AWS::ApiGatewayV2::Api"),
        }
        if wanted and wanted in apis:
            return self._execute_api(wanted, apis[wanted])
        urls = {k: v for k, v in self.outputs.items() if v.startswith("http")}
        if wanted is None and len(urls) == 1:
            return next(iter(urls.values())).rstrip("/")
        if wanted is None and len(apis) == 1:
            logical, api_id = next(iter(apis.items()))
            return self._execute_api(logical, api_id)
        raise RemoteTargetError(
            f"stack {self.name}: "
            + (f"'{wanted}' is neither an output nor an API" if wanted else "several or no APIs")
            + f" (outputs with URLs: {', '.join(sorted(urls)) or 'none'}; APIs: "
            f"{', '.join(sorted(apis)) or 'none'}). Set target.api to one of them."
        )

    def _execute_api(self, logical: str, api_id: str) -> str:
        stages = self.of_type("AWS::ApiGateway::Stage") or self.of_type("AWS::ApiGatewayV2::Stage")
        stage = next(iter(stages.values()), "Prod")
        return f"https://{api_id}.execute-api.{self.region}.amazonaws.com/{stage}"


def session(target: AwsTarget) -> Any:
    import boto3

    return boto3.session.Session(profile_name=target.profile, region_name=target.region)


def client(target: AwsTarget, service: str) -> Any:
    return session(target).client(service, endpoint_url=target.endpoint_url)


def read_stack(target: AwsTarget) -> RemoteStack:
    """Read the stack through CloudFormation; a missing or failed stack is an error."""
    from botocore.exceptions import BotoCoreError, ClientError

    cfn = client(target, "cloudformation")
    try:
        stacks = cfn.describe_stacks(StackName=target.stack)["Stacks"]
        resources: dict[str, tuple[str, str]] = {}
        for page in cfn.get_paginator("list_stack_resources").paginate(StackName=target.stack):
            for r in page["StackResourceSummaries"]:
                resources[r["LogicalResourceId"]] = (
                    r["ResourceType"],
                    r.get("PhysicalResourceId", ""),
                )
    except (ClientError, BotoCoreError) as exc:
        raise RemoteTargetError(
            f"could not read stack {target.stack} in {target.region}"
            f"{' at ' + target.endpoint_url if target.endpoint_url else ''}: {exc}"
        ) from None
    stack = stacks[0]
    status = str(stack["StackStatus"])
    if not status.endswith("_COMPLETE") or "ROLLBACK" in status or "DELETE" in status:
        raise RemoteTargetError(f"stack {target.stack} is {status}, not deployed")
    return RemoteStack(
        name=target.stack,
        region=target.region,
        stack_id=str(stack.get("StackId", "")),
        status=status,
        outputs={o["OutputKey"]: str(o["OutputValue"]) for o in stack.get("Outputs", [])},
        resources=resources,
    )


class CognitoUserTokens:
    """Tokens of one test user of the stack's user pool (``InitiateAuth``, USER_PASSWORD_AUTH).

    Plain data, so it pickles into the load workers, which refresh through the same call. Every
    tenant and user of the load gets this user's token: the pool decides the tenant claim.
    """

    def __init__(
        self,
        region: str,
        client_id: str,
        username: str,
        password: str,
        *,
        endpoint_url: str | None = None,
        profile: str | None = None,
    ) -> None:
        self.region = region
        self.client_id = client_id
        self.username = username
        self.password = password
        self.endpoint_url = endpoint_url
        self.profile = profile

    def token(self, tenant: str, user: str) -> Any:
        import boto3

        from harness.auth.providers import Token
        from harness.errors import TokenError

        idp = boto3.session.Session(profile_name=self.profile, region_name=self.region).client(
            "cognito-idp", endpoint_url=self.endpoint_url
        )
        try:
            answer = idp.initiate_auth(
                ClientId=self.client_id,
                AuthFlow="USER_PASSWORD_AUTH",
                AuthParameters={"USERNAME": self.username, "PASSWORD": self.password},
            )["AuthenticationResult"]
        except Exception as exc:
            raise TokenError(f"Cognito InitiateAuth for {self.username} failed: {exc}") from None
        expires = float(answer.get("ExpiresIn", 3600))
        return Token(str(answer.get("IdToken") or answer["AccessToken"]), time.time() + expires)


def token_provider(target: AwsTarget, stack: RemoteStack, source: str) -> Any:
    """The load's token provider for the target's ``auth`` (None when it has none)."""
    auth = target.auth
    if auth is None:
        return None
    clients = stack.of_type("AWS::Cognito::UserPoolClient")
    pools = stack.of_type("AWS::Cognito::UserPool")
    chosen = (
        auth.user.client
        if auth.user
        else auth.client_credentials.client
        if auth.client_credentials
        else None
    )
    if chosen is None:
        if len(clients) != 1:
            raise ConfigError(
                f"stack {stack.name} has {len(clients)} Cognito app clients "
                f"({', '.join(sorted(clients)) or 'none'}); name one.",
                source=source,
                field="target.auth.user.client",
            )
        chosen = next(iter(clients))
    if chosen not in clients:
        raise ConfigError(
            f"stack {stack.name} has no Cognito app client '{chosen}' "
            f"(it has: {', '.join(sorted(clients)) or 'none'}).",
            source=source,
            field="target.auth",
        )
    client_id = clients[chosen]
    if auth.user is not None:
        password = os.environ.get(auth.user.password_env)
        if not password:
            raise ConfigError(
                f"the environment variable {auth.user.password_env} (the test user's password) "
                "is not set.",
                source=source,
                field="target.auth.user.password_env",
            )
        return CognitoUserTokens(
            target.region,
            client_id,
            auth.user.username,
            password,
            endpoint_url=target.endpoint_url,
            profile=target.profile,
        )
    assert auth.client_credentials is not None
    from harness.auth.providers import OAuth2ClientCredentials

    cc = auth.client_credentials
    pool_id = next(iter(pools.values()), "")
    idp = client(target, "cognito-idp")
    described = idp.describe_user_pool_client(UserPoolId=pool_id, ClientId=client_id)
    secret = described["UserPoolClient"].get("ClientSecret")
    if not secret:
        raise ConfigError(
            f"app client {chosen} of stack {stack.name} has no secret: the client-credentials "
            "grant needs one.",
            source=source,
            field="target.auth.client_credentials.client",
        )
    domain = cc.domain
    if domain is None:
        pool = idp.describe_user_pool(UserPoolId=pool_id)["UserPool"]
        if not pool.get("Domain"):
            raise ConfigError(
                f"the user pool of stack {stack.name} has no domain (the token endpoint).",
                source=source,
                field="target.auth.client_credentials.domain",
            )
        domain = f"https://{pool['Domain']}.auth.{target.region}.amazoncognito.com"
    return OAuth2ClientCredentials(
        domain.rstrip("/") + "/oauth2/token", client_id, str(secret), scope=cc.scope
    )


def resolve_load_target(target: AwsTarget, source: str) -> tuple[str, Any]:
    """(base URL, token provider) of the load on a remote stack, read through its account."""
    stack = read_stack(target)
    return stack.api_url(target.api), token_provider(target, stack, source)
