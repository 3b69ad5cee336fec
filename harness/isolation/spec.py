"""The ``isolation`` section of ``harness.yaml``: what the isolation machine exercises.

    isolation:
      owner: tenant                 # a resource belongs to its tenant (or: user)
      denied: [403, 404]            # acceptable answers to a foreign access
      resources:
        order:
          create: {method: POST, path: /orders, body: {items: [{product_id: "{fixture:product}", quantity: 1}]},
                   id: "$.order_id", expect: [201]}
          read:   {method: GET, path: "/orders/{id}"}
          list:   {method: GET, path: /orders, items: "$.items", id_field: order_id,
                   next: "$.next", cursor_param: cursor, max_pages: 20,   # followed to the end
                   filters: [{status: open}, {mine: "true"}]}             # each also checked
          update: {method: PATCH, path: "/orders/{id}", body: {note: "{text}"}}
          delete: {method: DELETE, path: "/orders/{id}"}
          tenant_hints: [query:tenant_id, header:x-tenant-id, body:tenant_id]
          # infer_hints: true     # also tenant/tenantId/org/account... everywhere, path:{tenant}
          # owner_fields: [tenant_id, owner]   # mass-assignment probes on update (default: many)
      data:                         # data-layer invariants, read from the emulators after a run
        dynamodb: [{table: MainTable, key: PK, pattern: "TENANT#{tenant}#*"}]
        s3: [{bucket: ExportBucket, pattern: "exports/{tenant}/*"}]
        sqs: [{queue: DeadLetterQueue, field: userId, pattern: "{tenant}"}]   # peeked, not consumed
        redis: [{pattern: "config##*", must_contain: "{tenant}"}]
        iam: {role: TenantAccessRole, table: MainTable, principal_tag: TenantId}
      token_tier: premium           # mint every token with this tier (default: the tenant's own)
      tampering: {path: /orders}    # the endpoint the token-tampering suite calls (default: a read)

Placeholders in paths and bodies: ``{id}`` (the resource id), ``{tenant}``, ``{user}``,
``{uuid}``, ``{text}``, ``{fixture:NAME}`` (a value from the stack's fixtures for that tenant).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

__all__ = [
    "DataRules",
    "DynamoRule",
    "Endpoint",
    "IamRule",
    "IsolationSpec",
    "RedisRule",
    "ResourceSpec",
    "S3Rule",
    "SqsRule",
    "TamperingSpec",
    "load_spec",
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Endpoint(_Model):
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "GET"
    path: str
    body: Any = None
    headers: dict[str, str] = Field(default_factory=dict)
    id: str | None = Field(None, description="create: where the new id is, e.g. $.order_id")
    items: str | None = Field(None, description="list: where the items are, e.g. $.items")
    id_field: str | None = Field(None, description="list: the id field of each item")
    expect: list[int] = Field(default_factory=lambda: [200, 201, 202, 204])
    next: str | None = Field(
        None,
        description="list: where the next page's token is in the answer, e.g. $.next "
        "(default: the first of next, nextToken, cursor, LastEvaluatedKey... that is present)",
    )
    cursor_param: str | None = Field(
        None,
        description="list: the query parameter that takes the token back (default: the "
        "token field's own name)",
    )
    max_pages: int = Field(20, ge=1, le=1000, description="list: pages followed per listing")
    filters: list[dict[str, str]] = Field(
        default_factory=list,
        description="list: documented filters, each a set of query parameters, e.g. "
        "[{mine: 'true'}, {status: open}]; every listing check also runs with each",
    )


class ResourceSpec(_Model):
    create: Endpoint | None = None
    read: Endpoint | None = None
    list_: Endpoint | None = Field(None, alias="list")
    update: Endpoint | None = None
    delete: Endpoint | None = None
    fixture: bool = Field(False, description="pre-seeded per tenant; not created by the machine")
    fixture_ids: dict[str, list[str]] = Field(default_factory=dict, description="tenant -> ids")
    tenant_hints: list[str] = Field(
        default_factory=lambda: ["query:tenant_id", "header:x-tenant-id"],
        description="where naive code might read a tenant id: query:NAME, header:NAME, "
        "body:NAME, path:tenant, path:user",
    )
    infer_hints: bool = Field(
        True,
        description="also attack with inferred hints: tenant/tenant_id/tenantId/org/account... "
        "in query, headers and bodies, and {tenant}/{user} in paths",
    )
    owner_fields: list[str] | None = Field(
        None,
        description="update-body fields a mass-assignment probe sets to another owner "
        "(default: tenant_id, tenantId, owner, ownerId, author, userId...)",
    )

    @model_validator(mode="after")
    def _usable(self) -> ResourceSpec:
        if self.create is None and not self.fixture:
            raise ValueError("a resource needs a 'create' endpoint, or 'fixture: true'")
        if self.create is not None and not self.create.id:
            raise ValueError("'create' needs 'id': where the new resource's id is in the answer")
        if self.read is None and self.list_ is None:
            raise ValueError("a resource needs a 'read' or a 'list' endpoint to check")
        if self.list_ is not None and not (self.list_.items and self.list_.id_field):
            raise ValueError("'list' needs 'items' and 'id_field'")
        for hint in self.tenant_hints:
            where, _, name = hint.partition(":")
            if where not in ("query", "header", "body", "path") or not name:
                raise ValueError(
                    f"tenant hint '{hint}' must be query:NAME, header:NAME, body:NAME, "
                    "path:tenant or path:user"
                )
            if where == "path" and name not in ("tenant", "user"):
                raise ValueError(f"tenant hint '{hint}': a path hint is path:tenant or path:user")
        return self


def _check_pattern(pattern: str) -> str:
    if "{tenant}" not in pattern and "{user}" not in pattern:
        raise ValueError(f"pattern '{pattern}' must contain {{tenant}} (or {{user}})")
    return pattern


class DynamoRule(_Model):
    """Items of ``table`` (a logical id) whose ``key`` attribute must match ``pattern``: a glob
    (``*`` any text) with ``{tenant}``/``{user}`` standing for the owner's id, e.g.
    ``TENANT#{tenant}#*``. ``{tenant}`` matches the whole id only: ``acme`` is not ``acme-corp``."""

    table: str = Field(description="logical id of the table in the stack")
    key: str = Field(description="the partition key attribute")
    pattern: str = Field(description="what the key must look like, with {tenant} / {user}")
    exempt: list[str] = Field(
        default_factory=list, description="globs of keys that belong to no tenant (e.g. LOCK#*)"
    )

    @model_validator(mode="after")
    def _pattern(self) -> DynamoRule:
        _check_pattern(self.pattern)
        return self


class S3Rule(_Model):
    bucket: str = Field(description="logical id of the bucket in the stack")
    pattern: str = Field(description="object key glob with {tenant}, e.g. exports/{tenant}/*")
    exempt: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _pattern(self) -> S3Rule:
        _check_pattern(self.pattern)
        return self


class SqsRule(_Model):
    """Messages in ``queue`` (a logical id; peeked with a zero visibility timeout, so declare only
    queues nobody consumes, such as DLQs) whose body field ``field`` must match ``pattern``."""

    queue: str
    field: str = Field(description="a top-level field of the JSON body, e.g. userId")
    pattern: str = "{tenant}"

    @model_validator(mode="after")
    def _pattern(self) -> SqsRule:
        _check_pattern(self.pattern)
        return self


class RedisRule(_Model):
    """Redis keys matching ``pattern`` (a SCAN glob) must carry a tenant: ``must_contain`` with
    ``{tenant}`` replaced by one of the run's tenants must occur in the key."""

    pattern: str = "*"
    must_contain: str = "{tenant}"


class IamRule(_Model):
    """Apply the role's ``dynamodb:LeadingKeys`` policy to the items the run wrote: the owner's
    session (``principal_tag`` = its tenant) must be allowed, every other tenant's denied."""

    role: str = Field(description="logical id of the tenant-scoped AWS::IAM::Role")
    table: str = Field(description="logical id of the table it guards")
    principal_tag: str = "TenantId"
    actions: list[str] = Field(default_factory=lambda: ["dynamodb:GetItem", "dynamodb:PutItem"])


class DataRules(_Model):
    dynamodb: list[DynamoRule] = Field(default_factory=list)
    s3: list[S3Rule] = Field(default_factory=list)
    sqs: list[SqsRule] = Field(default_factory=list)
    redis: list[RedisRule] = Field(default_factory=list)
    iam: IamRule | None = None


class TamperingSpec(_Model):
    enabled: bool = True
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "GET"
    path: str | None = Field(None, description="default: the first resource's list or read path")
    accepted: list[int] = Field(
        default_factory=lambda: [401, 403], description="answers that count as a rejection"
    )


class IsolationSpec(_Model):
    owner: Literal["tenant", "user"] = "tenant"
    denied: list[int] = Field(default_factory=lambda: [403, 404])
    resources: dict[str, ResourceSpec] = Field(min_length=1)
    data: DataRules = Field(default_factory=DataRules)
    tenants: list[str] = Field(default_factory=list, description="default: the profile's tenants")
    users_per_tenant: int = Field(2, ge=1, le=5)
    generated_tenants: bool = Field(
        True, description="also mint tokens for tricky tenant ids (prefixes, case, look-alikes)"
    )
    token_tier: str | None = Field(
        None, description="mint every token with this tier, so usage plans do not slow the run"
    )
    steps: int = Field(20, ge=1, le=500, description="state-machine steps per example")
    tampering: TamperingSpec = Field(default_factory=TamperingSpec)


SPEC_FIX = (
    "correct the fields listed in the stack's harness.yaml `isolation` section "
    "(the format is documented in harness/isolation/spec.py and the README)."
)


def load_spec(stack_dir: Path) -> IsolationSpec:
    """The ``isolation`` section of ``stack_dir/harness.yaml``, validated, errors with lines."""
    from harness.errors import ConfigError
    from harness.yamlpos import load_with_positions, validation_error

    path = Path(stack_dir) / "harness.yaml"
    if not path.is_file():
        raise ConfigError(
            f"{path} does not exist: a stack needs a harness.yaml with an `isolation` section.",
            fix="add harness.yaml beside template.yaml (see stacks/catalog/harness.yaml).",
        )
    data, positions = load_with_positions(path.read_text(), str(path))
    section = data.get("isolation") if isinstance(data, dict) else None
    if not section:
        error = ConfigError(
            f"{path}: no `isolation` section, so there is nothing for the isolation machine to "
            "drive.",
            fix="declare the resources and endpoints under `isolation:` "
            "(see stacks/catalog/harness.yaml).",
        )
        error.source, error.field = str(path), "isolation"
        raise error
    try:
        return IsolationSpec.model_validate(section)
    except ValidationError as exc:
        raise validation_error(
            exc, positions, what="isolation section", fix=SPEC_FIX, prefix=("isolation",)
        ) from None
