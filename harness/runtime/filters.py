"""Event filtering of event source mappings (``FilterCriteria``), EventBridge pattern syntax.

A record is handed to the function when it matches *any* of the patterns; no pattern = all match.
For SQS the ``body`` is matched as JSON when it parses as a JSON object (else as the string), as
Lambda does. Supported: literal lists, ``prefix``, ``suffix``, ``anything-but`` (values or
``{"prefix": ...}``), ``exists``, ``numeric`` (``["<", 10, ">=", 2]``), ``equals-ignore-case``,
``cidr`` (IPv4/IPv6), ``wildcard`` (``*``), and nested objects. :func:`unknown_operators` lists
the operators of a pattern outside that set, so a deploy can refuse them instead of never
matching.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import operator
import re
from typing import Any

__all__ = ["OPERATORS", "matches", "matches_any", "sqs_filter_view", "unknown_operators"]

OPERATORS = frozenset(
    {
        "exists",
        "prefix",
        "suffix",
        "anything-but",
        "numeric",
        "equals-ignore-case",
        "cidr",
        "wildcard",
    }
)

_NUMERIC = {
    "<": operator.lt,
    "<=": operator.le,
    "=": operator.eq,
    ">": operator.gt,
    ">=": operator.ge,
}
_MISSING = object()


def _match_value(rule: Any, value: Any) -> bool:
    if not isinstance(rule, dict):
        return bool(rule == value)
    if "exists" in rule:
        return (value is not _MISSING) == bool(rule["exists"])
    if value is _MISSING:
        return False
    if "prefix" in rule:
        return isinstance(value, str) and value.startswith(rule["prefix"])
    if "suffix" in rule:
        return isinstance(value, str) and value.endswith(rule["suffix"])
    if "equals-ignore-case" in rule:
        return isinstance(value, str) and value.lower() == str(rule["equals-ignore-case"]).lower()
    if "anything-but" in rule:
        banned = rule["anything-but"]
        if isinstance(banned, dict):
            return not _match_value(banned, value)
        banned = banned if isinstance(banned, list) else [banned]
        return value not in banned
    if "numeric" in rule:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        terms = rule["numeric"]
        return all(_NUMERIC[terms[i]](value, terms[i + 1]) for i in range(0, len(terms), 2))
    if "cidr" in rule:
        try:
            return ipaddress.ip_address(str(value)) in ipaddress.ip_network(
                str(rule["cidr"]), strict=False
            )
        except ValueError:
            return False
    if "wildcard" in rule:
        if not isinstance(value, str):
            return False
        parts = str(rule["wildcard"]).split("*")
        return re.fullmatch(".*".join(re.escape(p) for p in parts), value, re.DOTALL) is not None
    return False


def unknown_operators(pattern: Any) -> list[str]:
    """The operators in ``pattern`` that :func:`matches` does not know (sorted, unique)."""
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, list):
            for item in node:
                if isinstance(item, dict):
                    found.update(k for k in item if k not in OPERATORS)
                    if isinstance(item.get("anything-but"), dict):
                        walk([item["anything-but"]])
        elif isinstance(node, dict):
            for value in node.values():
                walk(value)

    walk(pattern)
    return sorted(found)


def matches(pattern: dict[str, Any], event: Any) -> bool:
    """Does ``event`` (a dict) match one EventBridge-style ``pattern``?"""
    if not isinstance(event, dict):
        return False
    for key, rule in pattern.items():
        value = event.get(key, _MISSING)
        if isinstance(rule, dict) and not any(k in rule for k in OPERATORS):
            if value is _MISSING or not matches(rule, value):
                return False
            continue
        rules = rule if isinstance(rule, list) else [rule]
        values = value if isinstance(value, list) else [value]
        if not any(_match_value(r, v) for r in rules for v in values):
            return False
    return True


def matches_any(patterns: list[dict[str, Any]], event: Any) -> bool:
    return not patterns or any(matches(p, event) for p in patterns)


def sqs_filter_view(record: dict[str, Any]) -> dict[str, Any]:
    """The SQS record as filters see it: ``body`` parsed when it is a JSON object."""
    body = record.get("body")
    if isinstance(body, str) and body.startswith("{"):
        with contextlib.suppress(ValueError):
            body = json.loads(body)
    return {**record, "body": body}
