"""The error ``harness deploy`` raises: which template, which resource, which property, which backend.

    HarnessError
    └── DeployError   the template cannot be deployed as written (or a backend call failed)

Every :class:`DeployError` is raised before anything is created when the problem can be seen in
the template; a failure half-way through rolls back what this deploy created, then re-raises.
"""

from __future__ import annotations

from harness.errors import HarnessError

__all__ = ["DeployError"]


class DeployError(HarnessError):
    """A template that cannot be deployed, with the place of the problem.

    ``problems`` lists every problem found when more than one was (e.g. all cfn-lint errors).
    """

    exit_code = 1

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        logical_id: str | None = None,
        property: str | None = None,
        backend: str | None = None,
        fix: str | None = None,
        problems: list[str] | None = None,
    ) -> None:
        self.file = file
        self.logical_id = logical_id
        self.property = property
        self.backend = backend
        self.problems = problems or []
        where = []
        if file:
            where.append(file)
        if logical_id:
            where.append(f"resource '{logical_id}'")
        if property:
            where.append(f"property '{property}'")
        if backend:
            where.append(f"backend {backend}")
        text = f"{', '.join(where)}: {message}" if where else message
        super().__init__(text, fix=fix)
