"""Route matching as API Gateway does it: the most specific route wins.

A route path is split into segments: a literal (``orders``), a variable (``{id}``) or a greedy
variable (``{proxy+}``, last segment only). Among the routes that match a request, API Gateway
prefers, segment by segment from the left, a literal over a variable over a greedy variable;
then a route for the request's method over ``ANY``; the ``$default`` route only when nothing else
matches. Routes are compiled once per reload into a dict of fully literal paths (the fast path)
and a list of patterns sorted by that precedence, so the first pattern that matches wins.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["CompiledRoute", "Router", "compile_path", "normalise_path"]

_LITERAL, _VARIABLE, _GREEDY = 0, 1, 2
_VAR = re.compile(r"^\{([^{}+]+)(\+?)\}$")


@dataclass(slots=True)
class CompiledRoute:
    method: str  # upper-case, or "ANY"
    path: str  # as declared, "/orders/{id}" or "$default"
    route_key: str  # "GET /orders/{id}" / "$default"
    pattern: re.Pattern[str] | None = None
    param_names: tuple[str, ...] = ()
    rank: tuple[int, ...] = ()
    payload: Any = None  # whatever the gateway attaches (its RouteSpec, integration...)
    extra: dict[str, Any] = field(default_factory=dict)


def normalise_path(path: str) -> str:
    """``""`` → ``/``; a trailing slash is dropped (``/a/`` matches the route ``/a``)."""
    if not path:
        return "/"
    if len(path) > 1 and path.endswith("/"):
        path = path.rstrip("/") or "/"
    return path


def compile_path(path: str) -> tuple[re.Pattern[str] | None, tuple[str, ...], tuple[int, ...]]:
    """(regex or None when fully literal, parameter names, precedence rank)."""
    segments = [s for s in normalise_path(path).split("/") if s]
    parts: list[str] = []
    names: list[str] = []
    rank: list[int] = []
    literal = True
    for index, segment in enumerate(segments):
        match = _VAR.match(segment)
        if not match:
            parts.append(re.escape(segment))
            rank.append(_LITERAL)
            continue
        literal = False
        names.append(match.group(1))
        if match.group(2):
            if index != len(segments) - 1:
                raise ValueError(f"greedy path variable must be the last segment: {path}")
            parts.append(f"(?P<p{len(names) - 1}>.+)")
            rank.append(_GREEDY)
        else:
            parts.append(f"(?P<p{len(names) - 1}>[^/]+)")
            rank.append(_VARIABLE)
    if literal:
        return None, (), tuple(rank)
    return re.compile("^/" + "/".join(parts) + "$"), tuple(names), tuple(rank)


class Router:
    """Match ``(method, path)`` to the most specific route."""

    def __init__(self, routes: Iterable[CompiledRoute]) -> None:
        self.literal: dict[tuple[str, str], CompiledRoute] = {}
        patterned: list[CompiledRoute] = []
        self.default: CompiledRoute | None = None
        self.routes: list[CompiledRoute] = []
        for route in routes:
            self.routes.append(route)
            if route.path == "$default":
                self.default = route
                continue
            route.pattern, route.param_names, route.rank = compile_path(route.path)
            if route.pattern is None:
                self.literal[(route.method, normalise_path(route.path))] = route
            else:
                patterned.append(route)
        # Lower sorts first: literal < variable < greedy per segment, then method before ANY.
        patterned.sort(key=lambda r: (r.rank, r.method == "ANY"))
        self.patterned = patterned
        self.literal_paths = {path for (_method, path) in self.literal}

    def match(self, method: str, path: str) -> tuple[CompiledRoute | None, dict[str, str]]:
        path = normalise_path(path)
        if path in self.literal_paths:
            route = self.literal.get((method, path)) or self.literal.get(("ANY", path))
            if route is not None:
                return route, {}
        for route in self.patterned:
            if route.method != method and route.method != "ANY":
                continue
            match = route.pattern.match(path)  # type: ignore[union-attr]
            if match is not None:
                groups = match.groups()
                return route, dict(zip(route.param_names, groups, strict=True))
        if self.default is not None:
            return self.default, {}
        return None, {}

    def methods_for(self, path: str) -> set[str]:
        """Methods some route accepts on ``path`` (used to answer CORS preflights)."""
        path = normalise_path(path)
        found = {m for (m, p) in self.literal if p == path}
        for route in self.patterned:
            if route.pattern is not None and route.pattern.match(path):
                found.add(route.method)
        return found
