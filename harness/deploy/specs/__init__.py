"""Typed specs for the gateway and runtime, read from the deployed resources' records."""

from __future__ import annotations

from harness.deploy.specs.apis import build_apis
from harness.deploy.specs.events import build_event_sources
from harness.deploy.specs.functions import FunctionIndex, build_functions

__all__ = [
    "FunctionIndex",
    "build_apis",
    "build_event_sources",
    "build_functions",
]
