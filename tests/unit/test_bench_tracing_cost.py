"""The tracing-cost benchmark's in-process figures measure the real tracing code."""

from __future__ import annotations

from harness.bench.tracing_cost import in_process_cost


def test_in_process_cost_measures_each_part() -> None:
    cost = in_process_cost(iterations=300)
    assert set(cost) == {"gateway", "invocation", "call", "total"}
    assert all(value > 0 for value in cost.values())
    assert cost["total"] == round(cost["gateway"] + cost["invocation"], 2)
    # five spans and a context per request cost more than one span
    assert cost["gateway"] > cost["invocation"]
