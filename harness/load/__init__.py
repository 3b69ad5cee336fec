"""Load generation: open-model (arrival rate) and closed-model load on Locust, multi-process,
with per-phase, per-endpoint and per-tenant statistics and an SLO gate.

    from harness.load import LoadProfile, Stage, TrafficMix, run_load
    result = run_load("http://127.0.0.1:8080", LoadProfile(stages=[Stage.hold(200, "30s")]))
    print(result.total.p99_ms, result.dropped)

Importing this package does not import Locust or gevent: Locust monkey-patches the process on
import, so it only runs in the generator child processes (``python -m harness.load.worker``).
Names are resolved lazily so that ``import harness.load`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from harness.auth.providers import (
        CommandTokens,
        OAuth2ClientCredentials,
        StackTokens,
        StaticTokens,
        Token,
        TokenProvider,
    )
    from harness.load.engine import LoadGeneratorError, LoadProgress, run_load
    from harness.load.histogram import Histogram
    from harness.load.profile import (
        LoadProfile,
        RequestTemplate,
        Stage,
        Tenant,
        Tenants,
        TrafficMix,
        ramp_profile,
        spike_profile,
        step_down_profile,
    )
    from harness.load.result import GroupStats, LoadResult
    from harness.load.slo import ExternalSlo, SloResult, SloSpec, evaluate_slos, parse_slo

__all__ = [
    "CommandTokens",
    "ExternalSlo",
    "GroupStats",
    "Histogram",
    "LoadGeneratorError",
    "LoadProfile",
    "LoadProgress",
    "LoadResult",
    "OAuth2ClientCredentials",
    "RequestTemplate",
    "SloResult",
    "SloSpec",
    "StackTokens",
    "Stage",
    "StaticTokens",
    "Tenant",
    "Tenants",
    "Token",
    "TokenProvider",
    "TrafficMix",
    "evaluate_slos",
    "parse_slo",
    "ramp_profile",
    "run_load",
    "spike_profile",
    "step_down_profile",
]

_WHERE = {
    "LoadGeneratorError": "engine",
    "LoadProgress": "engine",
    "run_load": "engine",
    "Histogram": "histogram",
    "GroupStats": "result",
    "LoadResult": "result",
    "ExternalSlo": "slo",
    "SloResult": "slo",
    "SloSpec": "slo",
    "evaluate_slos": "slo",
    "parse_slo": "slo",
    "CommandTokens": "harness.auth.providers",
    "OAuth2ClientCredentials": "harness.auth.providers",
    "StackTokens": "harness.auth.providers",
    "StaticTokens": "harness.auth.providers",
    "Token": "harness.auth.providers",
    "TokenProvider": "harness.auth.providers",
}


def __getattr__(name: str) -> Any:
    if name in __all__:
        where = _WHERE.get(name, "profile")
        module = importlib.import_module(where if "." in where else f"harness.load.{where}")
        return getattr(module, name)
    raise AttributeError(f"module 'harness.load' has no attribute '{name}'")
