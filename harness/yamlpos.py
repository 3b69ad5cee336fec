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

__all__ = [
    "Positions",
    "Problem",
    "describe_loc",
    "describe_validation",
    "load_with_positions",
    "validation_error",
    "validation_problems",
]

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
    """``("timeline", 2, "duration")`` -> ``timeline[2].duration`` (``(top level)`` if empty)."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


@dataclass(frozen=True)
class Problem:
    """One error of a pydantic ``ValidationError``: the field's path, its line if known, why."""

    loc: tuple[int | str, ...]
    message: str
    line: int | None = None

    @property
    def field(self) -> str:
        return describe_loc(self.loc)

    def __str__(self) -> str:
        where = f"line {self.line}, " if self.line else ""
        return f"{where}field {self.field}: {self.message}"


def validation_problems(
    exc: Any, positions: Positions | None = None, *, prefix: Sequence[int | str] = ()
) -> list[Problem]:
    """Every error of a pydantic ``ValidationError``, its location starting with ``prefix``
    (where the validated part sits in its file) and its line when ``positions`` knows it.

    The one place a ``loc`` is read: pydantic puts validator and union/tagged branch names into
    it (``function-after[...]``, ``list[str]``); only real keys and indexes are kept."""
    problems = []
    for err in exc.errors():
        loc = [p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-"))]
        loc = [p for p in loc if isinstance(p, int) or not str(p).endswith("]")]
        full = (*prefix, *loc)
        line = positions.line_of(full) if positions is not None else None
        problems.append(Problem(full, str(err["msg"]), line))
    return problems


def describe_validation(
    exc: Any, *, prefix: Sequence[int | str] = (), positions: Positions | None = None
) -> str:
    """The errors of a ``ValidationError`` on one line: ``field a.b: why; field c[0]: why``."""
    return "; ".join(str(p) for p in validation_problems(exc, positions, prefix=prefix))


def validation_error(
    exc: Any,
    positions: Positions,
    *,
    what: str,
    fix: str,
    prefix: Sequence[int | str] = (),
) -> ConfigError:
    """Turn a pydantic ``ValidationError`` into one ConfigError listing every problem with its
    line; ``source`` is the file, ``field`` the first problem's field."""
    problems = validation_problems(exc, positions, prefix=prefix)
    message = f"{positions.source}: the {what} is not valid:\n" + "\n".join(
        f"  {p}" for p in problems
    )
    error = ConfigError(message, fix=fix)
    error.source = positions.source
    error.field = problems[0].field if problems else None
    return error
