"""Capacity faults, the runtime's side: what it asks of them, never how they choose.

A capacity fault takes execution environments (and the gateway's processes) away: a cold-start
storm recycles every environment of some functions, an "AZ failure" loses a share of all of
them for a while. The runtime's control API (``/_harness/runtime/recycle``, ``/az``) resolves
the functions and hands their pools to a :class:`CapacityFaults`; the chaos package implements
it (:class:`harness.chaos.capacity.CapacityChaos`: the seeded choice, the timer, the gateway's
processes, the fault log), acting on the pools only through their public methods
(:meth:`~harness.runtime.pool.WorkerPools.drain`, :meth:`~harness.runtime.pool.WorkerPools.kill`,
``capacity_factor``). The runtime is given the implementation when it is built
(:mod:`harness.runtime.server`), so nothing here knows a fault's rules.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from harness.runtime.pool import FunctionPool, WorkerPools

__all__ = ["AzFailure", "CapacityFactory", "CapacityFaults"]


@dataclass(frozen=True, slots=True)
class AzFailure:
    """An "AZ failure": lose ``share`` of the execution environments (and of the gateway's
    worker processes but ``spare_pids``) for ``duration_s``; ``seed`` picks which."""

    duration_s: float
    seed: int
    share: float = 0.5
    description: str | None = None
    spare_pids: tuple[int, ...] = ()


class CapacityFaults(Protocol):
    """Capacity faults on a runtime's environments; each returns its fault-log entry."""

    def recycle(self, pools: list[FunctionPool], description: str | None) -> dict[str, Any]:
        """A cold-start storm: every environment of ``pools`` goes (busy ones when their
        invocation ends)."""
        ...

    def begin_az_failure(self, pools: list[FunctionPool], failure: AzFailure) -> dict[str, Any]:
        """``failure`` on the environments of ``pools`` now; capacity returns after its
        duration. ValueError if one is already on."""
        ...

    def end_az_failure(self) -> dict[str, Any] | None:
        """Give the capacity back now (None when no AZ failure is on)."""
        ...

    @property
    def outage(self) -> dict[str, Any] | None:
        """The AZ failure in force (its log entry), None when there is none."""
        ...


CapacityFactory = Callable[[WorkerPools, Path, Callable[[dict[str, Any]], None]], CapacityFaults]
"""Builds a runtime's :class:`CapacityFaults` from its pools, its state folder and the fault
log's ``record``."""
