"""Nothing silent: what a template asks for that the local backends cannot honour.

Every resource type, property and event source of a template is either honoured, explicitly
ignored with a reason (a property with no observable effect locally, listed per module in
``IGNORED``), or refused. Refusals are collected as :class:`Unsupported` items, each naming the
file, the logical id, the property (a path such as ``ApiStages[0].Throttle``) and why, then
:func:`enforce` either fails the deploy with all of them (the default) or, with
``allow_unsupported`` (``harness deploy --allow-unsupported``), logs each as a warning and hands
them back so the deploy can repeat them at its end and record them for ``harness status``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from harness.errors import DeployError

__all__ = ["Unsupported", "enforce", "property_refusals"]

logger = logging.getLogger(__name__)

NOT_IMPLEMENTED = "the local backend does not implement it"


@dataclass(frozen=True)
class Unsupported:
    """One thing the template asks for that is not honoured locally."""

    file: str
    logical_id: str
    property: str
    reason: str
    backend: str = "harness deploy"

    def text(self) -> str:
        return (
            f"{self.file}, resource '{self.logical_id}', property '{self.property}' "
            f"({self.backend}): {self.reason}"
        )

    def to_json(self) -> dict[str, str]:
        return {
            "file": self.file,
            "logical_id": self.logical_id,
            "property": self.property,
            "reason": self.reason,
            "backend": self.backend,
        }


def property_refusals(
    file: str, logical_id: str, type_: str, props: Mapping[str, Any], module: Any
) -> list[Unsupported]:
    """The top-level properties of one resource that its module neither honours nor ignores,
    then the module's own finer checks (``refusals(logical_id, props)``, when it has one)."""
    honoured: frozenset[str] = module.PROPERTIES
    ignored: Mapping[str, str] = module.IGNORED
    reasons: Mapping[str, str] = getattr(module, "REFUSED", {})
    found = [
        Unsupported(
            file,
            logical_id,
            name,
            f"property {name} of {type_} cannot be honoured: "
            f"{reasons.get(name, NOT_IMPLEMENTED)}. Honoured: {', '.join(sorted(honoured))}; "
            f"ignored (no local effect): {', '.join(sorted(ignored)) or 'none'}.",
            module.BACKEND,
        )
        for name in props
        if name not in honoured and name not in ignored
    ]
    finer = getattr(module, "refusals", None)
    if finer is not None:
        for prop, reason in finer(type_, props):
            found.append(Unsupported(file, logical_id, prop, reason, module.BACKEND))
    return found


def enforce(items: Iterable[Unsupported], *, allow: bool) -> list[Unsupported]:
    """Refuse (raise one :class:`DeployError` listing every item) unless ``allow``; with
    ``allow`` each item is logged as a warning and returned."""
    found = list(dict.fromkeys(items))
    if not found:
        return []
    if not allow:
        first = found[0]
        raise DeployError(
            f"{len(found)} thing(s) in the template cannot be honoured locally:\n  "
            + "\n  ".join(u.text() for u in found),
            file=first.file,
            logical_id=first.logical_id,
            property=first.property,
            backend=first.backend,
            fix="remove them (or guard them with a Condition that is false locally), or deploy "
            "with --allow-unsupported to go on with each one listed as a warning.",
            problems=[u.text() for u in found],
        )
    for item in found:
        logger.warning("NOT HONOURED (--allow-unsupported): %s", item.text())
    return found
