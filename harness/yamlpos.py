"""YAML loading that remembers where every value came from, for error messages with line numbers.

    data, positions = load_with_positions(text, "scenarios/x.yaml")
    positions.line_of(("timeline", 2, "duration"))   # -> 14

Used for every file people write (scenarios, stack profiles), so a validation error can say
"scenarios/x.yaml, line 14, field timeline[2].duration: ...".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from harness.errors import ConfigError

__all__ = ["Positions", "describe_loc", "load_with_positions", "validation_error"]

Path_ = tuple[int | str, ...]


@dataclass
class Positions:
    source: str
    lines: dict[Path_, int] = field(default_factory=dict)

    def line_of(self, path: Sequence[int | str]) -> int | None:
        """Line (1-based) of the value at ``path``, or of its nearest ancestor that exists."""
        key = tuple(path)
        while True:
            if key in self.lines:
                return self.lines[key]
            if not key:
                return None
            key = key[:-1]


def _construct(node: yaml.Node, path: Path_, positions: Positions, loader: yaml.SafeLoader) -> Any:
    positions.lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if key == "<<":  # merge keys: fall back to plain construction for the merged part
                merged = loader.construct_object(value_node, deep=True)
                if isinstance(merged, dict):
                    result.update(merged)
                continue
            child = (*path, key)
            positions.lines[child] = key_node.start_mark.line + 1
            result[key] = _construct(value_node, child, positions, loader)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [
            _construct(item, (*path, i), positions, loader) for i, item in enumerate(node.value)
        ]
    return loader.construct_object(node, deep=True)


def load_with_positions(text: str, source: str) -> tuple[Any, Positions]:
    """Parse YAML; a syntax error becomes a :class:`ConfigError` with the line."""
    positions = Positions(source)
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, positions
        return _construct(node, (), positions, loader), positions
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = f", line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(
            f"{source}{line}: not valid YAML: {exc.problem or exc}.",
            fix="fix the YAML syntax at that line (indentation, a missing ':' or quote).",
        ) from None
    finally:
        loader.dispose()


def describe_loc(loc: Sequence[int | str]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


def validation_error(exc: Any, positions: Positions, *, what: str, fix: str) -> ConfigError:
    """Turn a pydantic ``ValidationError`` into one ConfigError listing every problem with its line."""
    problems = []
    first_field = None
    for err in exc.errors():
        loc = [p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-"))]
        # pydantic puts union/tagged branch names into loc; keep only real keys and indexes
        loc = [p for p in loc if isinstance(p, int) or not str(p).endswith("]")]
        line = positions.line_of(loc)
        field_name = describe_loc(loc)
        first_field = first_field or field_name
        where = f"line {line}, " if line else ""
        problems.append(f"  {where}field {field_name}: {err['msg']}")
    message = f"{positions.source}: the {what} is not valid:\n" + "\n".join(problems)
    error = ConfigError(message, fix=fix)
    error.source, error.field = positions.source, first_field
    return error
