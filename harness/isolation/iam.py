"""A local IAM policy evaluator for tenant isolation: ``dynamodb:LeadingKeys`` and friends.

No emulator enforces ``dynamodb:LeadingKeys`` conditions or policy variables such as
``${aws:PrincipalTag/TenantId}``, yet they are the core of pooled-table isolation (the token
vending machine pattern). This evaluates identity policies the way IAM documents it:

1. an explicit ``Deny`` that matches wins;
2. otherwise an ``Allow`` that matches allows;
3. otherwise the request is implicitly denied.

A statement matches when its ``Action``/``NotAction``, ``Resource``/``NotResource`` and every
``Condition`` match. Supported condition operators: String(Not)Equals(IgnoreCase),
String(Not)Like, Numeric*, Bool, Null, Arn(Not)Equals/Like, with the ``ForAllValues:`` and
``ForAnyValue:`` set qualifiers and the ``...IfExists`` suffix. Policy variables
(``${aws:PrincipalTag/K}``, ``${aws:username}``, ``${*}``, ``${?}``, ``${$}``, defaults
``${var, 'x'}``) are substituted in Resource and condition values.

The AWS edge applies it to every DynamoDB call made with assumed-role keys
(``harness.edge.iam_guard``, the per-request context from :func:`dynamodb_context`); the
isolation run's data-layer check applies it to the items written.

The classic bug this catches: a ``ForAllValues:StringLike`` on ``"acme*"`` also lets tenant
``acme-corp`` through. ``"acme#*"`` (with the key's separator) does not.
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["Decision", "Principal", "dynamodb_context", "evaluate"]

ContextValue = str | list[str] | None


@dataclass(frozen=True)
class Principal:
    """Who makes the call: tags and names feed policy variables."""

    arn: str = "arn:aws:sts::000000000000:assumed-role/tenant-role/session"
    tags: Mapping[str, str] = field(default_factory=dict)
    username: str | None = None
    userid: str | None = None

    def variables(self) -> dict[str, str]:
        values = {"aws:PrincipalArn": self.arn}
        if self.username:
            values["aws:username"] = self.username
        if self.userid:
            values["aws:userid"] = self.userid
        for key, value in self.tags.items():
            values[f"aws:PrincipalTag/{key}"] = value
        return values


@dataclass(frozen=True)
class Decision:
    effect: Literal["Allow", "Deny", "ImplicitDeny"]
    reason: str
    statement: str | None = None

    @property
    def allowed(self) -> bool:
        return self.effect == "Allow"


_VARIABLE = re.compile(r"\$\{([^}]+)\}")


def _substitute(text: str, variables: Mapping[str, str], *, for_like: bool) -> str | None:
    """Replace policy variables; None if one has no value and no default (the value never matches)."""
    missing = False

    def replace(match: re.Match[str]) -> str:
        nonlocal missing
        inner = match.group(1)
        if inner in ("*", "?", "$"):
            # literal characters; in *Like operators they must not act as wildcards
            return {"*": "[*]", "?": "[?]", "$": "$"}[inner] if for_like else inner
        name, _, default = inner.partition(",")
        name = name.strip()
        if name in variables:
            value = variables[name]
            return re.sub(r"([*?\[])", r"[\1]", value) if for_like else value
        default = default.strip()
        if default.startswith("'") and default.endswith("'") and len(default) >= 2:
            return default[1:-1]
        missing = True
        return ""

    result = _VARIABLE.sub(replace, text)
    return None if missing else result


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _glob(pattern: str, value: str, *, case: bool = True) -> bool:
    """IAM wildcards: * any run, ? one character (fnmatch, with [] already escaped where needed)."""
    if not case:
        pattern, value = pattern.lower(), value.lower()
    # fnmatch treats [seq]; escapes produced by _substitute use it on purpose.
    return fnmatch.fnmatchcase(value, pattern)


def _action_matches(patterns: Iterable[str], action: str) -> bool:
    return any(_glob(p, action, case=False) for p in patterns)


def _resource_matches(patterns: Iterable[str], resource: str, variables: Mapping[str, str]) -> bool:
    for pattern in patterns:
        expanded = _substitute(pattern, variables, for_like=True)
        if expanded is not None and _glob(expanded, resource):
            return True
    return False


def _compare(base: str, expected: str, actual: str) -> bool:
    if base in ("StringEquals", "StringNotEquals", "ArnEquals", "ArnNotEquals"):
        return actual == expected
    if base in ("StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase"):
        return actual.lower() == expected.lower()
    if base in ("StringLike", "StringNotLike", "ArnLike", "ArnNotLike"):
        return _glob(expected, actual)
    if base.startswith("Numeric"):
        try:
            a, e = float(actual), float(expected)
        except ValueError:
            return False
        return {
            "NumericEquals": a == e,
            "NumericNotEquals": a != e,
            "NumericLessThan": a < e,
            "NumericLessThanEquals": a <= e,
            "NumericGreaterThan": a > e,
            "NumericGreaterThanEquals": a >= e,
        }[base]
    if base == "Bool":
        return actual.lower() == expected.lower()
    raise ValueError(f"unsupported condition operator {base}")


_NEGATED = {
    "StringNotEquals",
    "StringNotEqualsIgnoreCase",
    "StringNotLike",
    "ArnNotEquals",
    "ArnNotLike",
    "NumericNotEquals",
}


def _condition_matches(
    operator: str,
    key: str,
    expected_raw: Any,
    context: Mapping[str, ContextValue],
    variables: Mapping[str, str],
) -> bool:
    qualifier = ""
    if ":" in operator and operator.split(":", 1)[0] in ("ForAllValues", "ForAnyValue"):
        qualifier, operator = operator.split(":", 1)
    if_exists = operator.endswith("IfExists")
    base = operator[: -len("IfExists")] if if_exists else operator
    actual = context.get(key)
    if base == "Null":
        wants_null = str(_as_list(expected_raw)[0]).lower() == "true"
        return (actual is None or actual == []) == wants_null
    if actual is None:
        # Missing key: IfExists matches; ForAllValues over an empty set is (famously) true.
        return if_exists or qualifier == "ForAllValues" or base in _NEGATED
    like = base in ("StringLike", "StringNotLike", "ArnLike", "ArnNotLike")
    expected = [
        v
        for v in (_substitute(str(x), variables, for_like=like) for x in _as_list(expected_raw))
        if v is not None
    ]
    actual_values = [str(v) for v in _as_list(actual)]
    negated = base in _NEGATED

    def one(value: str) -> bool:
        hit = any(_compare(base, e, value) for e in expected)
        return not hit if negated else hit

    if qualifier == "ForAllValues":
        return all(one(v) for v in actual_values)
    if qualifier == "ForAnyValue":
        return any(one(v) for v in actual_values)
    if len(actual_values) != 1:
        # a single-valued operator against a multi-valued key: IAM compares each; require all
        return all(one(v) for v in actual_values) if actual_values else False
    return one(actual_values[0])


def _statement_matches(
    statement: Mapping[str, Any],
    action: str,
    resource: str,
    context: Mapping[str, ContextValue],
    variables: Mapping[str, str],
) -> bool:
    if "Action" in statement and not _action_matches(_as_list(statement["Action"]), action):
        return False
    if "NotAction" in statement and _action_matches(_as_list(statement["NotAction"]), action):
        return False
    if "Resource" in statement and not _resource_matches(
        _as_list(statement["Resource"]), resource, variables
    ):
        return False
    if "NotResource" in statement and _resource_matches(
        _as_list(statement["NotResource"]), resource, variables
    ):
        return False
    for operator, pairs in (statement.get("Condition") or {}).items():
        for key, expected in pairs.items():
            if not _condition_matches(operator, key, expected, context, variables):
                return False
    return True


def evaluate(
    policies: Iterable[Mapping[str, Any] | str],
    action: str,
    resource: str,
    *,
    context: Mapping[str, ContextValue] | None = None,
    principal: Principal | None = None,
) -> Decision:
    """Evaluate identity ``policies`` for one request (``action`` like ``dynamodb:GetItem``)."""
    principal = principal or Principal()
    variables = principal.variables()
    full_context: dict[str, ContextValue] = {**variables, **(context or {})}
    allow: str | None = None
    for index, raw in enumerate(policies):
        document = json.loads(raw) if isinstance(raw, str) else raw
        for number, statement in enumerate(_as_list(document.get("Statement"))):
            label = statement.get("Sid") or f"policy {index} statement {number}"
            if not _statement_matches(statement, action, resource, full_context, variables):
                continue
            if statement.get("Effect") == "Deny":
                return Decision("Deny", f"explicitly denied by {label}", label)
            if statement.get("Effect") == "Allow" and allow is None:
                allow = label
    if allow is not None:
        return Decision("Allow", f"allowed by {allow}", allow)
    return Decision("ImplicitDeny", "no statement allows it", None)


# -- DynamoDB request context -----------------------------------------------------------------

_TABLE_OPS_WITH_KEY = {"GetItem", "PutItem", "UpdateItem", "DeleteItem"}


def dynamodb_context(
    operation: str, request: Mapping[str, Any], hash_keys: Mapping[str, str]
) -> list[tuple[str, str, dict[str, ContextValue]]]:
    """The (action, table, condition context) triples a DynamoDB request is authorised as.

    ``hash_keys`` maps table name -> partition key attribute name. ``dynamodb:LeadingKeys`` is the
    set of partition key values the request touches; for a Query it is the value in the key
    condition. Batch and transaction calls expand to one triple per table.
    """
    out: list[tuple[str, str, dict[str, ContextValue]]] = []

    def leading(table: str, items: Iterable[Mapping[str, Any]]) -> list[str]:
        attr = hash_keys.get(table)
        values: list[str] = []
        for item in items:
            if attr and isinstance(item.get(attr), dict):
                scalar = next(iter(item[attr].values()))
                values.append(str(scalar))
        return values

    def attributes(req: Mapping[str, Any]) -> list[str] | None:
        names = req.get("ExpressionAttributeNames") or {}
        projection = req.get("ProjectionExpression")
        if not projection:
            return None
        return [names.get(p.strip(), p.strip()) for p in projection.split(",")]

    if operation in _TABLE_OPS_WITH_KEY:
        table = request.get("TableName", "")
        item = request.get("Key") or request.get("Item") or {}
        out.append(
            (
                f"dynamodb:{operation}",
                table,
                {
                    "dynamodb:LeadingKeys": leading(table, [item]),
                    "dynamodb:Attributes": attributes(request),
                },
            )
        )
    elif operation == "Query":
        table = request.get("TableName", "")
        out.append(
            (
                f"dynamodb:{operation}",
                table,
                {
                    "dynamodb:LeadingKeys": _query_leading_keys(request, hash_keys.get(table)),
                    "dynamodb:Select": request.get("Select"),
                    "dynamodb:Attributes": attributes(request),
                },
            )
        )
    elif operation == "Scan":
        table = request.get("TableName", "")
        # A Scan touches every partition: no LeadingKeys value can be proven, so the key is absent.
        out.append(("dynamodb:Scan", table, {"dynamodb:LeadingKeys": None}))
    elif operation == "BatchGetItem":
        for table, spec in (request.get("RequestItems") or {}).items():
            out.append(
                (
                    "dynamodb:BatchGetItem",
                    table,
                    {"dynamodb:LeadingKeys": leading(table, spec.get("Keys", []))},
                )
            )
    elif operation == "BatchWriteItem":
        for table, writes in (request.get("RequestItems") or {}).items():
            items = [
                (w.get("PutRequest") or {}).get("Item")
                or (w.get("DeleteRequest") or {}).get("Key")
                or {}
                for w in writes
            ]
            out.append(
                ("dynamodb:BatchWriteItem", table, {"dynamodb:LeadingKeys": leading(table, items)})
            )
    elif operation in ("TransactGetItems", "TransactWriteItems"):
        for entry in request.get("TransactItems", []):
            for kind, inner in entry.items():
                table = inner.get("TableName", "")
                item = inner.get("Key") or inner.get("Item") or {}
                action = {
                    "Get": "GetItem",
                    "Put": "PutItem",
                    "Update": "UpdateItem",
                    "Delete": "DeleteItem",
                    "ConditionCheck": "ConditionCheckItem",
                }.get(kind, kind)
                out.append(
                    (f"dynamodb:{action}", table, {"dynamodb:LeadingKeys": leading(table, [item])})
                )
    else:
        out.append((f"dynamodb:{operation}", request.get("TableName", ""), {}))
    return out


def _query_leading_keys(request: Mapping[str, Any], hash_attr: str | None) -> list[str] | None:
    names = request.get("ExpressionAttributeNames") or {}
    values = request.get("ExpressionAttributeValues") or {}
    expression = request.get("KeyConditionExpression") or ""
    if hash_attr and expression:
        aliases = [alias for alias, real in names.items() if real == hash_attr] + [hash_attr]
        for alias in aliases:
            match = re.search(
                rf"(?<![\w#]){re.escape(alias)}\s*=\s*(:\w+)", expression
            ) or re.search(rf"(:\w+)\s*=\s*{re.escape(alias)}(?![\w])", expression)
            if match and match.group(1) in values:
                return [str(next(iter(values[match.group(1)].values())))]
    conditions = request.get("KeyConditions") or {}
    if hash_attr and hash_attr in conditions:
        return [
            str(next(iter(v.values()))) for v in conditions[hash_attr].get("AttributeValueList", [])
        ]
    return None
