"""Where naive code reads a tenant (or an owner) from the request instead of the token.

A *hint* puts the victim's tenant where such code looks: ``query:NAME`` (the query string),
``header:NAME``, ``body:NAME`` (a top-level field of a JSON body) or ``path:tenant`` /
``path:user`` (an endpoint whose path carries ``{tenant}``/``{user}`` is called with the
victim's value there). The machine attacks every operation of a resource (create, read, update,
delete, list) with the hints the spec declares plus the ones inferred here: the usual names
(``tenant``, ``tenant_id``, ``tenantId``, ``org``, ``account`` ...) in the query, headers and
body, and the path hint of every endpoint whose path carries the owner.

Mass assignment: an update body that also sets an owner field (``tenant_id``, ``owner``,
``author`` ...) to someone else's value must not move the record (OWASP API3).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from harness.isolation.spec import Endpoint, ResourceSpec

__all__ = [
    "INFERRED_NAMES",
    "OWNER_FIELDS",
    "Hint",
    "hint_kwargs",
    "hints_for",
    "owner_fields",
]

# Query/body names naive code reads a tenant from (the list, in the usual spellings).
INFERRED_NAMES = ("tenant", "tenant_id", "tenantId", "org", "orgId", "account", "accountId")
INFERRED_HEADERS = ("x-tenant-id", "x-tenant", "x-org-id", "x-account-id")
# Update-body fields that name an owner (mass assignment); user-valued ones get the victim user.
OWNER_FIELDS = {
    "tenant": "tenant",
    "tenant_id": "tenant",
    "tenantId": "tenant",
    "org": "tenant",
    "orgId": "tenant",
    "account": "tenant",
    "accountId": "tenant",
    "owner": "user",
    "owner_id": "user",
    "ownerId": "user",
    "author": "user",
    "authorId": "user",
    "user_id": "user",
    "userId": "user",
}


@dataclass(frozen=True)
class Hint:
    """One place (``where``) and one or more names the victim's value is put under at once:
    naive code reading any of them takes it, so one call tries them all."""

    where: str  # query | header | body | path
    names: tuple[str, ...]

    @property
    def name(self) -> str:
        return self.names[0]

    def __str__(self) -> str:
        return f"{self.where}:{','.join(self.names)}"


def _parse(text: str) -> tuple[str, str]:
    where, _, name = text.partition(":")
    return where, name


def _carries_owner(endpoint: Endpoint | None, placeholder: str) -> bool:
    return endpoint is not None and "{" + placeholder + "}" in endpoint.path


def hints_for(resource: ResourceSpec, operation: str) -> list[Hint]:
    """The hints to attack ``operation`` (create/read/update/delete/list) with: one per place,
    carrying every declared name there plus (with ``infer_hints``) every inferred one; body
    hints only where the operation sends a body; a path hint where its path carries
    ``{tenant}``/``{user}``."""
    endpoint: Endpoint | None = getattr(resource, "list_" if operation == "list" else operation)
    names: dict[str, list[str]] = {"query": [], "header": [], "body": [], "path": []}
    for where, name in (_parse(h) for h in resource.tenant_hints):
        names[where].append(name)
    if resource.infer_hints:
        names["query"] += INFERRED_NAMES
        names["header"] += INFERRED_HEADERS
        names["body"] += INFERRED_NAMES
        names["path"] += [p for p in ("tenant", "user") if _carries_owner(endpoint, p)]
    has_body = endpoint is not None and (
        endpoint.body is not None or endpoint.method in ("POST", "PUT", "PATCH")
    )
    out: list[Hint] = []
    for where, found in names.items():
        if where == "body" and not has_body:
            continue
        if where == "header":
            found = [n.lower() for n in found]
        unique = tuple(dict.fromkeys(found))
        if where == "path":
            out += [Hint("path", (n,)) for n in unique]
        elif unique:
            out.append(Hint(where, unique))
    return out


def hint_kwargs(hint: Hint, tenant: str, user: str) -> dict[str, Any]:
    """The machine's ``call`` keyword arguments that put ``tenant`` (or ``user``) where
    ``hint`` says, under each of its names."""
    values = dict.fromkeys(hint.names, tenant)
    if hint.where == "query":
        return {"query": values}
    if hint.where == "header":
        return {"headers": values}
    if hint.where == "body":
        return {"body_extra": values}
    return {"path_owner": {hint.name: tenant if hint.name == "tenant" else user}}


def owner_fields(resource: ResourceSpec) -> list[str]:
    """The owner fields a mass-assignment probe sets in an update body."""
    return list(resource.owner_fields) if resource.owner_fields is not None else list(OWNER_FIELDS)
