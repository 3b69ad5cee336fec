"""What the isolation state machine models: the principals (a tenant and a user), the records
they own, the run's configuration, and the violation a failing step raises."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st

from harness.isolation.http import Call
from harness.isolation.spec import IsolationSpec

__all__ = [
    "IsolationViolation",
    "MachineConfig",
    "Owned",
    "Principal",
    "TokenFactory",
    "tricky_tenants",
]

TokenFactory = Callable[[str, str], str]


class IsolationViolation(AssertionError):
    """A tenant reached another tenant's data (or the API misbehaved in a way that hides it)."""

    def __init__(
        self,
        kind: str,
        message: str,
        calls: list[Call],
        *,
        evidence: int = -1,
        mode: str = "not-denied",
        foreign_ids: list[str] | None = None,
    ) -> None:
        self.kind = kind
        self.all_calls = calls  # every call of the failing run, for the replay file
        # which call shows the violation, and how a replay re-checks it:
        # not-denied | not-refused (with a tenant hint: any 4xx refuses) | listed (foreign_ids
        # appear) | not-ok (owner lost access) | server-error
        self.evidence = evidence if evidence >= 0 else len(calls) + evidence
        self.mode = mode
        self.foreign_ids = foreign_ids or []
        super().__init__(f"[{kind}] {message}")


@dataclass(frozen=True)
class Principal:
    tenant: str
    user: str

    def __str__(self) -> str:
        return f"{self.tenant}/{self.user}"


@dataclass
class Owned:
    kind: str
    id: str
    owner: Principal
    content: Any

    def __repr__(self) -> str:  # what Hypothesis prints in the minimal example
        return f"{self.kind}:{self.id} of {self.owner}"


@dataclass
class MachineConfig:
    base_url: str
    spec: IsolationSpec
    tokens: TokenFactory
    tenants: list[str]
    generated: bool = True
    fixtures: dict[str, dict[str, list[str]]] = field(default_factory=dict)  # tenant -> name -> ids
    users: dict[str, list[str]] = field(default_factory=dict)  # tenant -> its users (else user-N)


def tricky_tenants(base: str) -> st.SearchStrategy[str]:
    """Tenant ids that collide with ``base`` in naive code."""
    return st.sampled_from(
        [
            f"{base}-corp",  # prefix collision: begins_with / LeadingKeys 'acme*'
            f"{base}corp",
            base.upper() if base.upper() != base else base.capitalize(),  # case variant
            base.replace("a", "\u0430", 1)
            if "a" in base
            else f"\u0430{base}",  # Cyrillic look-alike
            f"{base}#x",  # key separator
            f"{base}/x",  # path separator
            f"{base} ",  # trailing space
            "",  # empty
            base * 20,  # very long
        ]
    )
