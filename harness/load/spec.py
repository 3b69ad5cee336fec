"""What the master hands each worker (pickled in its ``harness_spec`` message)."""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.auth.providers import Token, TokenProvider
from harness.load.profile import LoadProfile, Tenants, TrafficMix

__all__ = ["WorkerSpec"]


@dataclass
class WorkerSpec:
    index: int
    processes: int
    base_url: str
    profile: LoadProfile
    mix: TrafficMix
    tenants: Tenants
    seed: int
    pool_size: int
    pre_allocated: int
    tokens: TokenProvider | None = None
    prefetched: dict[tuple[str, str], Token] = field(default_factory=dict)
    report_interval: float = 1.0
