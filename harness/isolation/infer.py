"""Propose the ``isolation`` section of ``harness.yaml`` from an API's shape, when it has none.

From the routes of the deployed API (a routes-only template) and, when the stack folder holds
one, an OpenAPI document (``openapi.yaml``/``openapi.yml``/``openapi.json``), resources are
found by path shape:

- ``POST /things`` creates, ``GET /things`` lists;
- ``GET /things/{p}`` reads, ``PATCH``/``PUT /things/{p}`` updates, ``DELETE /things/{p}``
  deletes (``{p}`` becomes ``{id}``);
- a path parameter named like a tenant (``tenant``, ``tenantId``, ``org``, ``account``...) or a
  user becomes ``{tenant}``/``{user}`` (and so a path hint).

The OpenAPI document, when there is one, gives the create body (its required properties, with
placeholder values by type), where the new id is (the create answer's id-like property), where
a listing's items are (its array property), the page token (a ``next``/``cursor``-like answer
property and query parameter) and the documented filters (the list's other query parameters
with an ``enum`` or a boolean type). What the document does not say is found by
:func:`probe` against the live stack (a create and a list as the first tenant) or left at a
stated guess. Every decision is recorded in plain words (``notes``) for the user.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

__all__ = ["infer_section", "load_openapi", "probe", "propose"]

TENANT_PARAMS = re.compile(
    r"^(tenant|tenantid|tenant_id|org|orgid|org_id|account|accountid|account_id)$", re.I
)
USER_PARAMS = re.compile(r"^(user|userid|user_id|owner|ownerid|owner_id)$", re.I)
ID_KEY = re.compile(r"(^id$|_id$|Id$)")
CURSOR_NAMES = ("next", "nextToken", "cursor", "nextCursor", "continuationToken", "pageToken")


def load_openapi(stack_dir: Path) -> tuple[dict[str, Any] | None, str | None]:
    """The stack folder's OpenAPI document (and its file name), if any."""
    import yaml

    for name in ("openapi.yaml", "openapi.yml", "openapi.json"):
        path = Path(stack_dir) / name
        if path.is_file():
            text = path.read_text()
            document = json.loads(text) if name.endswith(".json") else yaml.safe_load(text)
            return (document if isinstance(document, dict) else None), name
    return None, None


def _owner_path(path: str) -> str:
    def swap(match: re.Match[str]) -> str:
        name = match.group(1).rstrip("+")
        if TENANT_PARAMS.match(name):
            return "{tenant}"
        if USER_PARAMS.match(name):
            return "{user}"
        return match.group(0)

    return re.sub(r"\{([^}]+)\}", swap, path)


def _singular(word: str) -> str:
    word = re.sub(r"[^A-Za-z0-9_]", "_", word)
    if word.endswith("ies"):
        return word[:-3] + "y"
    if word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def _schema(document: dict[str, Any] | None, schema: Any) -> dict[str, Any]:
    """``schema`` with a local ``$ref`` followed (one level deep is what these documents use)."""
    if not isinstance(schema, dict):
        return {}
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/") and document is not None:
        node: Any = document
        for part in ref[2:].split("/"):
            node = node.get(part, {}) if isinstance(node, dict) else {}
        return node if isinstance(node, dict) else {}
    return schema


def _operation(document: dict[str, Any] | None, method: str, path: str) -> dict[str, Any]:
    if document is None:
        return {}
    item = (document.get("paths") or {}).get(path) or {}
    op = item.get(method.lower()) if isinstance(item, dict) else None
    return op if isinstance(op, dict) else {}


def _json_schema(document: dict[str, Any] | None, holder: dict[str, Any]) -> dict[str, Any]:
    content = (holder.get("content") or {}).get("application/json") or {}
    return _schema(document, content.get("schema"))


def _placeholder(prop: dict[str, Any]) -> Any:
    kind = prop.get("type")
    if prop.get("enum"):
        return prop["enum"][0]
    if kind == "integer" or kind == "number":
        return 1
    if kind == "boolean":
        return True
    if kind == "array":
        return []
    if kind == "object":
        return {}
    return "iso {text}"


def _find_id(
    document: dict[str, Any] | None, schema: dict[str, Any], prefix: str = "$"
) -> str | None:
    props = schema.get("properties") or {}
    for name in props:
        if ID_KEY.search(name):
            return f"{prefix}.{name}"
    for name, sub in props.items():
        found = _find_id(document, _schema(document, sub), f"{prefix}.{name}")
        if found:
            return found
    return None


def _find_items(document: dict[str, Any] | None, schema: dict[str, Any]) -> tuple[str, str] | None:
    for name, sub in (schema.get("properties") or {}).items():
        sub = _schema(document, sub)
        if sub.get("type") == "array":
            item = _schema(document, sub.get("items"))
            id_path = _find_id(document, item)
            if id_path and id_path.count(".") == 1:
                return f"$.{name}", id_path.split(".", 1)[1]
        elif sub.get("type") == "object":
            found = _find_items(document, sub)
            if found:
                return f"$.{name}{found[0][1:]}", found[1]
    return None


def infer_section(
    routes: Iterable[tuple[str, str]],
    openapi: dict[str, Any] | None = None,
    *,
    source: str = "the API's routes",
) -> tuple[dict[str, Any], list[str]]:
    """(a proposed ``isolation`` section, what was inferred, one line each). ``routes``:
    (method, path) pairs of the API; OpenAPI paths are added to them."""
    pairs = {(m.upper(), p) for m, p in routes if p.startswith("/")}
    if openapi is not None:
        for path, item in (openapi.get("paths") or {}).items():
            for method in item if isinstance(item, dict) else {}:
                if method.upper() in ("GET", "POST", "PUT", "PATCH", "DELETE"):
                    pairs.add((method.upper(), path))
    notes: list[str] = []
    resources: dict[str, Any] = {}
    collections = sorted({p for _, p in pairs if not p.rstrip("/").endswith("}")})
    for collection in collections:
        base = collection.rstrip("/") or "/"
        items = sorted(
            p
            for _, p in pairs
            if re.fullmatch(re.escape(base) + r"/\{[^}/]+\}", p)
            and not TENANT_PARAMS.match(p.rsplit("{", 1)[1].rstrip("}"))
        )
        methods = {m for m, p in pairs if p == collection}
        if "POST" not in methods:
            continue
        item = items[0] if items else None
        item_methods = {m for m, p in pairs if p == item}
        if "GET" not in methods and "GET" not in item_methods:
            continue
        static = [s for s in base.split("/") if s and not s.startswith("{")]
        name = _singular(static[-1]) if static else "resource"
        resource: dict[str, Any] = {}
        create_op = _operation(openapi, "POST", collection)
        body_schema = _json_schema(openapi, create_op.get("requestBody") or {})
        body = {
            key: _placeholder(_schema(openapi, (body_schema.get("properties") or {}).get(key)))
            for key in body_schema.get("required") or []
        }
        answer = {}
        for status in ("201", "200", "202"):
            if status in (create_op.get("responses") or {}):
                answer = _json_schema(openapi, create_op["responses"][status])
                break
        id_path = _find_id(openapi, answer)
        resource["create"] = {
            "method": "POST",
            "path": _owner_path(collection),
            "body": body,
            "id": id_path or "$.id",
        }
        notes.append(
            f"{name}: create POST {collection}"
            + (
                f", body from the OpenAPI required properties {sorted(body)}"
                if body
                else ", empty body"
            )
            + (f", new id at {id_path} (OpenAPI answer)" if id_path else ", new id guessed at $.id")
        )
        if item is not None:
            item_path = _owner_path(re.sub(r"\{[^}/]+\}$", "{id}", item))
            for method, op in (
                ("GET", "read"),
                ("PATCH", "update"),
                ("PUT", "update"),
                ("DELETE", "delete"),
            ):
                if method in item_methods and op not in resource:
                    endpoint: dict[str, Any] = {"method": method, "path": item_path}
                    if op == "update":
                        endpoint["body"] = {k: v for k, v in body.items()} or {"text": "{text}"}
                    resource[op] = endpoint
                    notes.append(f"{name}: {op} {method} {item}")
        if "GET" in methods:
            list_op = _operation(openapi, "GET", collection)
            listing: dict[str, Any] = {"method": "GET", "path": _owner_path(collection)}
            found = _find_items(
                openapi, _json_schema(openapi, (list_op.get("responses") or {}).get("200") or {})
            )
            listing["items"], listing["id_field"] = found or (
                "$.items",
                (id_path or "$.id").rsplit(".", 1)[-1],
            )
            params = [_schema(openapi, p) for p in list_op.get("parameters") or []]
            queries = [p for p in params if p.get("in") == "query"]
            cursor = next((p["name"] for p in queries if p.get("name") in CURSOR_NAMES), None)
            if cursor:
                listing["cursor_param"] = cursor
            filters = [
                {p["name"]: _filter_value(_schema(openapi, p.get("schema")))}
                for p in queries
                if p.get("name") != cursor and _is_filter(_schema(openapi, p.get("schema")))
            ]
            if filters:
                listing["filters"] = filters
            resource["list"] = listing
            notes.append(
                f"{name}: list GET {collection}, items at {listing['items']} "
                f"({'OpenAPI answer' if found else 'guessed'}), id field {listing['id_field']}"
                + (f", page token sent back as ?{cursor}" if cursor else "")
                + (f", filters {filters}" if filters else "")
            )
        resources[name] = resource
    if not resources:
        notes.append(f"no resource found in {source}: no POST /things with a GET beside it")
    return {"resources": resources}, notes


def probe(section: dict[str, Any], client: Any, token: str, who: tuple[str, str]) -> list[str]:
    """Fill guessed ``create.id`` and ``list.items``/``id_field`` from a real create and list
    as ``who`` (the answers' id-like field and array); what was learned, one line each."""
    from harness.isolation.http import Call

    notes: list[str] = []
    for name, resource in section["resources"].items():
        create = resource["create"]
        body = json.loads(json.dumps(create["body"]).replace("{text}", "probe"))
        made = client.send(
            Call(
                f"probe create {name}",
                "POST",
                create["path"].replace("{tenant}", who[0]).replace("{user}", who[1]),
                who[0],
                who[1],
                body=body,
            ),
            token,
        )
        if made.status >= 300:
            notes.append(
                f"{name}: a probe create answered {made.status}: the body may need fields (declare it)"
            )
            continue
        found = _id_in(made.response)
        if found and create["id"] == "$.id" and found[0] != "$.id":
            create["id"] = found[0]
            notes.append(f"{name}: new id at {found[0]} (from a probe create's answer)")
        listing = resource.get("list")
        if listing is None:
            continue
        seen = client.send(
            Call(
                f"probe list {name}",
                "GET",
                listing["path"].replace("{tenant}", who[0]).replace("{user}", who[1]),
                who[0],
                who[1],
            ),
            token,
        )
        array = _array_in(seen.response)
        if array is not None and listing["items"] == "$.items" and array != "$.items":
            listing["items"] = array
            notes.append(f"{name}: listing items at {array} (from a probe list's answer)")
        if found:
            listing["id_field"] = found[0].rsplit(".", 1)[-1]
    return notes


def _is_filter(schema: dict[str, Any]) -> bool:
    return bool(schema.get("enum")) or schema.get("type") == "boolean"


def _filter_value(schema: dict[str, Any]) -> str:
    return str(schema["enum"][0]) if schema.get("enum") else "true"


def _id_in(document: Any, prefix: str = "$") -> tuple[str, str] | None:
    if not isinstance(document, dict):
        return None
    for key, value in document.items():
        if ID_KEY.search(key) and isinstance(value, str | int):
            return f"{prefix}.{key}", str(value)
    for key, value in document.items():
        found = _id_in(value, f"{prefix}.{key}")
        if found:
            return found
    return None


def _array_in(document: Any, prefix: str = "$") -> str | None:
    if isinstance(document, list):
        return prefix
    if isinstance(document, dict):
        for key, value in document.items():
            if isinstance(value, list):
                return f"{prefix}.{key}"
        for key, value in document.items():
            found = _array_in(value, f"{prefix}.{key}") if isinstance(value, dict) else None
            if found:
                return found
    return None


def propose(env: Any, stack: Any, report_dir: Path | None) -> tuple[dict[str, Any], list[str]]:
    """Infer the deployed ``stack``'s isolation section (routes, OpenAPI document, a probe),
    validate it, and write it to ``report_dir/isolation-proposed.yaml`` for the user to
    review and paste into harness.yaml. (section, what was inferred)."""
    import yaml

    from harness.errors import ConfigError
    from harness.isolation.http import RecordingClient
    from harness.isolation.spec import IsolationSpec
    from harness.isolation.stack import api_of, stack_tokens

    api = api_of(stack)
    openapi, name = load_openapi(Path(stack.stack_dir))
    source = f"the routes of API {api.logical_id}"
    if name:
        source += f" and {name}"
    section, notes = infer_section(((r.method, r.path) for r in api.routes), openapi, source=source)
    if not section["resources"]:
        raise ConfigError(
            f"{Path(stack.stack_dir) / 'harness.yaml'}: no `isolation` section, and none could "
            f"be inferred from {source} ({notes[-1]}).",
            fix="declare the resources under `isolation:` (see stacks/catalog/harness.yaml), or "
            "add an openapi.yaml beside template.yaml.",
        )
    tenants = [str(t["id"]) for t in (stack.profile or {}).get("tenants") or []]
    if len(tenants) < 2:
        tenants = [*tenants, "iso-tenant-a", "iso-tenant-b"][:2]
        section["tenants"] = tenants
        notes.append(f"tenants: {tenants} (harness.yaml lists fewer than two)")
    spec = IsolationSpec.model_validate(section)
    tokens = stack_tokens(env, stack, spec)
    client = RecordingClient(api.base_url)
    try:
        notes += probe(section, client, tokens(tenants[0], "user-1"), (tenants[0], "user-1"))
    finally:
        client.close()
    IsolationSpec.model_validate(section)
    if report_dir is not None:
        report_dir.mkdir(parents=True, exist_ok=True)
        text = yaml.safe_dump({"isolation": section}, sort_keys=False)
        (report_dir / "isolation-proposed.yaml").write_text(
            "# Proposed by `harness isolation` from " + source + "; review, then paste into "
            "harness.yaml.\n" + "".join(f"# - {n}\n" for n in notes) + text
        )
    return section, notes
