"""CloudFormation intrinsic functions, conditions and parameters, resolved against a deployment.

:class:`Resolver` turns a template fragment into plain values: ``Ref``, ``Fn::GetAtt``,
``Fn::Sub`` (both forms), ``Fn::Join``, ``Fn::Select``, ``Fn::Split``, ``Fn::If``,
``Fn::FindInMap``, ``Fn::Base64``, ``Fn::GetAZs``, ``Fn::ImportValue``, ``Fn::Length``,
``Fn::ToJsonString`` and the pseudo parameters. ``AWS::NoValue`` removes the key or list item.
:func:`references` lists the logical names a fragment depends on (for ordering).
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from harness.errors import DeployError
from harness.model import ResourceRecord

__all__ = [
    "NO_VALUE",
    "PSEUDO_PARAMETERS",
    "Resolver",
    "attribute_references",
    "references",
    "resolve_parameters",
    "sub_variables",
]

PSEUDO_PARAMETERS = (
    "AWS::AccountId",
    "AWS::NoValue",
    "AWS::NotificationARNs",
    "AWS::Partition",
    "AWS::Region",
    "AWS::StackId",
    "AWS::StackName",
    "AWS::URLSuffix",
)

_SUB_VAR = re.compile(r"\$\{([^}]*)\}")


class _NoValue:
    def __repr__(self) -> str:
        return "AWS::NoValue"


NO_VALUE: Any = _NoValue()


def sub_variables(text: str) -> list[str]:
    """The ``${...}`` variables of a ``Fn::Sub`` string (``${!Literal}`` excluded)."""
    return [m.strip() for m in _SUB_VAR.findall(text) if not m.startswith("!")]


def references(value: Any) -> set[str]:
    """Logical names (resources or parameters) a template fragment refers to."""
    found: set[str] = set()

    def walk(node: Any, local: frozenset[str] = frozenset()) -> None:
        if isinstance(node, list):
            for item in node:
                walk(item, local)
            return
        if not isinstance(node, dict):
            return
        if len(node) == 1:
            ((key, arg),) = node.items()
            if key == "Ref" and isinstance(arg, str):
                if arg not in local:
                    found.add(arg)
                return
            if key == "Fn::GetAtt":
                target = arg.split(".", 1)[0] if isinstance(arg, str) else arg[0] if arg else None
                if isinstance(target, str):
                    found.add(target)
                if isinstance(arg, list) and len(arg) > 1:
                    walk(arg[1:], local)
                return
            if key == "Fn::Sub":
                text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
                names = local | frozenset(variables) if isinstance(variables, dict) else local
                if isinstance(text, str):
                    for var in sub_variables(text):
                        name = var.split(".", 1)[0]
                        if name not in names:
                            found.add(name)
                if isinstance(variables, dict):
                    walk(list(variables.values()), local)
                return
        for item in node.values():
            walk(item, local)

    walk(value)
    return {name for name in found if not name.startswith("AWS::")}


def attribute_references(value: Any) -> set[tuple[str, str]]:
    """``(resource, attribute)`` pairs a fragment reads with Fn::GetAtt or ``${A.B}`` in Fn::Sub."""
    found: set[tuple[str, str]] = set()

    def walk(node: Any) -> None:
        if isinstance(node, list):
            for item in node:
                walk(item)
        elif isinstance(node, dict):
            if len(node) == 1:
                ((key, arg),) = node.items()
                if key == "Fn::GetAtt":
                    if isinstance(arg, str) and "." in arg:
                        resource, _, attribute = arg.partition(".")
                        found.add((resource, attribute))
                    elif (
                        isinstance(arg, list)
                        and len(arg) == 2
                        and all(isinstance(a, str) for a in arg)
                    ):
                        found.add((arg[0], arg[1]))
                    return
                if key == "Fn::Sub":
                    text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
                    if isinstance(text, str):
                        for var in sub_variables(text):
                            name, dot, attribute = var.partition(".")
                            if (
                                dot
                                and not var.startswith("AWS::")
                                and name not in (variables or {})
                            ):
                                found.add((name, attribute))
                    if isinstance(variables, dict):
                        walk(list(variables.values()))
                    return
            for item in node.values():
                walk(item)

    walk(value)
    return found


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)


def resolve_parameters(
    definitions: Mapping[str, Any],
    overrides: Mapping[str, str],
    *,
    file: str,
    ssm_lookup: Callable[[str], str] | None = None,
) -> dict[str, Any]:
    """Values of the template's Parameters: override, else Default; checked like CloudFormation."""
    unknown = sorted(set(overrides) - set(definitions))
    if unknown:
        raise DeployError(
            f"parameter(s) {', '.join(unknown)} do not exist in the template "
            f"(it declares: {', '.join(sorted(definitions)) or 'none'}).",
            file=file,
            fix="remove the --param or declare it under Parameters.",
        )
    values: dict[str, Any] = {}
    for name, spec in definitions.items():
        spec = spec or {}
        kind = str(spec.get("Type", "String"))
        if name in overrides:
            raw: Any = overrides[name]
        elif "Default" in spec:
            raw = spec["Default"]
        else:
            raise DeployError(
                f"parameter '{name}' has no Default and no value was given.",
                file=file,
                fix=f"pass --param {name}=VALUE or give it a Default.",
            )
        text = _as_text(raw)
        allowed = spec.get("AllowedValues")
        if allowed is not None and text not in [_as_text(v) for v in allowed]:
            raise DeployError(
                f"parameter '{name}' is '{text}', not one of its AllowedValues "
                f"{[_as_text(v) for v in allowed]}.",
                file=file,
                fix=f"pass --param {name}=<one of the allowed values>.",
            )
        pattern = spec.get("AllowedPattern")
        if pattern and not re.fullmatch(str(pattern), text):
            raise DeployError(
                f"parameter '{name}' is '{text}', which does not match AllowedPattern {pattern}.",
                file=file,
            )
        if "MinLength" in spec and len(text) < int(spec["MinLength"]):
            raise DeployError(
                f"parameter '{name}' is shorter than MinLength {spec['MinLength']}.", file=file
            )
        if "MaxLength" in spec and len(text) > int(spec["MaxLength"]):
            raise DeployError(
                f"parameter '{name}' is longer than MaxLength {spec['MaxLength']}.", file=file
            )
        if kind == "Number":
            try:
                number = float(text)
            except ValueError:
                raise DeployError(
                    f"parameter '{name}' is of Type Number but '{text}' is not a number.", file=file
                ) from None
            if "MinValue" in spec and number < float(spec["MinValue"]):
                raise DeployError(
                    f"parameter '{name}' is below MinValue {spec['MinValue']}.", file=file
                )
            if "MaxValue" in spec and number > float(spec["MaxValue"]):
                raise DeployError(
                    f"parameter '{name}' is above MaxValue {spec['MaxValue']}.", file=file
                )
        if kind.startswith("AWS::SSM::Parameter::Value<"):
            if ssm_lookup is None:
                raise DeployError(
                    f"parameter '{name}' reads SSM parameter '{text}' but no environment is available.",
                    file=file,
                )
            text = ssm_lookup(text)
            kind = kind[len("AWS::SSM::Parameter::Value<") : -1]
        if kind.startswith("List<") or kind == "CommaDelimitedList":
            values[name] = [part.strip() for part in text.split(",")] if text else []
        else:
            values[name] = text
    return values


class Resolver:
    """Resolves intrinsic functions for one stack; resources are looked up in ``records``."""

    def __init__(
        self,
        *,
        stack_name: str,
        region: str,
        account_id: str,
        file: str,
        parameters: Mapping[str, Any] | None = None,
        mappings: Mapping[str, Any] | None = None,
        conditions: Mapping[str, Any] | None = None,
        records: Mapping[str, ResourceRecord] | None = None,
        imports: Mapping[str, str] | None = None,
        resource_types: Mapping[str, str] | None = None,
    ) -> None:
        self.stack_name = stack_name
        self.region = region
        self.account_id = account_id
        self.file = file
        self.parameters = dict(parameters or {})
        self.mappings = dict(mappings or {})
        self.condition_defs = dict(conditions or {})
        self.records: Mapping[str, ResourceRecord] = records if records is not None else {}
        self.imports = dict(imports or {})
        self.resource_types = dict(resource_types or {})
        self._conditions: dict[str, bool] = {}
        self._evaluating: set[str] = set()
        self.context: str | None = None  # logical id being resolved, for error messages

    # -- pseudo parameters -----------------------------------------------------------------

    def pseudo(self, name: str) -> Any:
        values = {
            "AWS::AccountId": self.account_id,
            "AWS::Region": self.region,
            "AWS::StackName": self.stack_name,
            "AWS::StackId": f"arn:aws:cloudformation:{self.region}:{self.account_id}:stack/"
            f"{self.stack_name}/00000000-0000-0000-0000-000000000000",
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::NotificationARNs": [],
            "AWS::NoValue": NO_VALUE,
        }
        if name not in values:
            self._fail(f"unknown pseudo parameter '{name}'.")
        return values[name]

    def _fail(self, message: str, *, fix: str | None = None, prop: str | None = None) -> Any:
        raise DeployError(message, file=self.file, logical_id=self.context, property=prop, fix=fix)

    # -- conditions ------------------------------------------------------------------------

    def condition(self, name: str) -> bool:
        if name in self._conditions:
            return self._conditions[name]
        if name not in self.condition_defs:
            self._fail(
                f"condition '{name}' is not declared under Conditions.",
                fix="declare it or correct the name.",
            )
        if name in self._evaluating:
            self._fail(f"condition '{name}' refers to itself.")
        self._evaluating.add(name)
        try:
            result = self._truth(self.condition_defs[name])
        finally:
            self._evaluating.discard(name)
        self._conditions[name] = result
        return result

    def _truth(self, node: Any) -> bool:
        if isinstance(node, bool):
            return node
        if isinstance(node, str) and node.lower() in ("true", "false"):
            return node.lower() == "true"
        if isinstance(node, dict) and len(node) == 1:
            ((key, arg),) = node.items()
            if key == "Condition":
                return self.condition(str(arg))
            if key == "Fn::Equals":
                left, right = (self.resolve(v) for v in arg)
                return _as_text(left) == _as_text(right)
            if key == "Fn::Not":
                return not self._truth(arg[0] if isinstance(arg, list) else arg)
            if key == "Fn::And":
                return all(self._truth(a) for a in arg)
            if key == "Fn::Or":
                return any(self._truth(a) for a in arg)
        return bool(self._fail(f"cannot evaluate condition {node!r}."))

    # -- values ----------------------------------------------------------------------------

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            items = [self.resolve(v) for v in value]
            return [v for v in items if v is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            handler = self._FUNCTIONS.get(key)
            if handler is not None:
                return handler(self, arg)
        result = {}
        for k, v in value.items():
            resolved = self.resolve(v)
            if resolved is not NO_VALUE:
                result[k] = resolved
        return result

    def ref(self, name: str) -> Any:
        if not isinstance(name, str):
            self._fail(f"Ref needs a name, got {name!r}.")
        if name.startswith("AWS::"):
            return self.pseudo(name)
        if name in self.parameters:
            return self.parameters[name]
        if name in self.records:
            return self.records[name].physical_id
        return self._missing(name)

    def _missing(self, name: str) -> Any:
        if name in self.resource_types:
            return self._fail(
                f"refers to resource '{name}', which is not deployed (its Condition is false or it "
                "was not created yet).",
                fix=f"guard the reference with the same Condition as '{name}'.",
            )
        return self._fail(
            f"refers to '{name}', which is neither a parameter nor a resource of the template.",
            fix="declare it or correct the name.",
        )

    def get_att(self, arg: Any) -> Any:
        if isinstance(arg, str):
            resource, _, attribute = arg.partition(".")
        else:
            resource, attribute = arg[0], self.resolve(arg[1])
        if resource not in self.records:
            return self._missing(resource)
        record = self.records[resource]
        if attribute == "Arn" and record.arn and "Arn" not in record.attributes:
            return record.arn
        if attribute in record.attributes:
            return record.attributes[attribute]
        supported = sorted({*record.attributes, *(["Arn"] if record.arn else [])})
        return self._fail(
            f"Fn::GetAtt {resource}.{attribute}: {record.type} has no attribute '{attribute}' "
            f"here (supported: {', '.join(supported) or 'none'}).",
            fix="use one of the supported attributes.",
        )

    def sub(self, arg: Any) -> str:
        if isinstance(arg, str):
            text, variables = arg, {}
        else:
            text, variables = arg[0], {k: self.resolve(v) for k, v in (arg[1] or {}).items()}

        def replace(match: re.Match[str]) -> str:
            var = match.group(1)
            if var.startswith("!"):
                return "${" + var[1:] + "}"
            var = var.strip()
            if var in variables:
                return _as_text(variables[var])
            if "." in var and not var.startswith("AWS::"):
                return _as_text(self.get_att(var))
            return _as_text(self.ref(var))

        return _SUB_VAR.sub(replace, text)

    def join(self, arg: Any) -> str:
        delimiter, items = arg[0], self.resolve(arg[1])
        if not isinstance(items, list):
            self._fail(f"Fn::Join needs a list, got {items!r}.")
        return str(delimiter).join(_as_text(i) for i in items)

    def select(self, arg: Any) -> Any:
        index, items = int(self.resolve(arg[0])), self.resolve(arg[1])
        if not isinstance(items, list) or not 0 <= index < len(items):
            self._fail(f"Fn::Select index {index} is out of range for {items!r}.")
        return items[index]

    def split(self, arg: Any) -> list[str]:
        delimiter, text = arg[0], self.resolve(arg[1])
        return _as_text(text).split(str(delimiter))

    def if_(self, arg: Any) -> Any:
        name, then, otherwise = arg
        return self.resolve(then if self.condition(str(name)) else otherwise)

    def find_in_map(self, arg: Any) -> Any:
        name, top, second = (_as_text(self.resolve(a)) for a in arg[:3])
        try:
            return self.resolve(self.mappings[name][top][second])
        except (KeyError, TypeError):
            if len(arg) > 3 and isinstance(arg[3], dict) and "DefaultValue" in arg[3]:
                return self.resolve(arg[3]["DefaultValue"])
            return self._fail(
                f"Fn::FindInMap [{name}, {top}, {second}] has no value in Mappings.",
                fix="add the key to the mapping or correct the lookup.",
            )

    def base64(self, arg: Any) -> str:
        return base64.b64encode(_as_text(self.resolve(arg)).encode()).decode()

    def get_azs(self, arg: Any) -> list[str]:
        region = self.resolve(arg) or self.region
        return [f"{region}{zone}" for zone in "abc"]

    def import_value(self, arg: Any) -> str:
        name = _as_text(self.resolve(arg))
        if name not in self.imports:
            self._fail(
                f"Fn::ImportValue '{name}': no deployed stack exports that name.",
                fix="deploy the stack that exports it first (Outputs: ... Export: Name).",
            )
        return self.imports[name]

    def length(self, arg: Any) -> int:
        value = self.resolve(arg)
        return len(value) if isinstance(value, list) else 1

    def to_json_string(self, arg: Any) -> str:
        return json.dumps(self.resolve(arg), separators=(",", ":"))

    def condition_fn(self, arg: Any) -> bool:
        return self.condition(str(arg))

    def unsupported(self, name: str) -> Callable[[Resolver, Any], Any]:
        def fail(resolver: Resolver, arg: Any) -> Any:
            return resolver._fail(f"{name} is not supported by harness deploy.")

        return fail

    _FUNCTIONS: dict[str, Callable[[Resolver, Any], Any]] = {}


Resolver._FUNCTIONS = {
    "Ref": Resolver.ref,
    "Fn::GetAtt": Resolver.get_att,
    "Fn::Sub": Resolver.sub,
    "Fn::Join": Resolver.join,
    "Fn::Select": Resolver.select,
    "Fn::Split": Resolver.split,
    "Fn::If": Resolver.if_,
    "Fn::FindInMap": Resolver.find_in_map,
    "Fn::Base64": Resolver.base64,
    "Fn::GetAZs": Resolver.get_azs,
    "Fn::ImportValue": Resolver.import_value,
    "Fn::Length": Resolver.length,
    "Fn::ToJsonString": Resolver.to_json_string,
    "Fn::Equals": lambda r, a: r._truth({"Fn::Equals": a}),
    "Fn::Not": lambda r, a: r._truth({"Fn::Not": a}),
    "Fn::And": lambda r, a: r._truth({"Fn::And": a}),
    "Fn::Or": lambda r, a: r._truth({"Fn::Or": a}),
    "Fn::Cidr": lambda r, a: r._fail("Fn::Cidr is not supported by harness deploy."),
}
