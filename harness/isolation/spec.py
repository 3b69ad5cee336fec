"""The ``isolation`` section of ``harness.yaml``: what the isolation machine exercises.

    isolation:
      owner: tenant                 # a resource belongs to its tenant (or: user)
      denied: [403, 404]            # acceptable answers to a foreign access
      resources:
        order:
          create: {method: POST, path: /orders, body: {items: [{product_id: "{fixture:product}", quantity: 1}]},
                   id: "$.order_id", expect: [201]}
          read:   {method: GET, path: "/orders/{id}"}
          list:   {method: GET, path: /orders, items: "$.items", id_field: order_id}
          update: {method: PATCH, path: "/orders/{id}", body: {note: "{text}"}}
          delete: {method: DELETE, path: "/orders/{id}"}
          tenant_hints: [query:tenant_id, header:x-tenant-id, body:tenant_id]
      data:                         # data-layer invariants, read from the emulators after a run
        dynamodb: [{table: MainTable, key: PK, pattern: "TENANT#{tenant}#"}]
        redis: [{pattern: "*", must_contain: "{tenant}"}]

Placeholders in paths and bodies: ``{id}`` (the resource id), ``{tenant}``, ``{user}``,
``{uuid}``, ``{text}``, ``{fixture:NAME}`` (a value from the stack's fixtures for that tenant).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["DataRules", "Endpoint", "IsolationSpec", "ResourceSpec"]


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
        description="where naive code might read a tenant id: query:NAME, header:NAME, body:NAME",
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
            if hint.split(":", 1)[0] not in ("query", "header", "body") or ":" not in hint:
                raise ValueError(
                    f"tenant hint '{hint}' must be query:NAME, header:NAME or body:NAME"
                )
        return self


class DynamoRule(_Model):
    table: str = Field(description="logical id of the table in the stack")
    key: str = Field(description="the partition key attribute")
    pattern: str = Field(description="what the key must look like, with {tenant} / {user}")


class RedisRule(_Model):
    pattern: str = "*"
    must_contain: str = "{tenant}"


class DataRules(_Model):
    dynamodb: list[DynamoRule] = Field(default_factory=list)
    redis: list[RedisRule] = Field(default_factory=list)


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
