"""The cold-start benchmark measures both paths and reports its ratio (short: one run each)."""

from __future__ import annotations

import pytest

from harness.bench.cold_start import run
from harness.config import Settings

pytestmark = pytest.mark.integration


def test_cold_start_reports_exec_and_fork() -> None:
    result = run(Settings(), runs=1)
    for path in ("exec", "fork"):
        figures = result[path]
        assert set(figures) == {"wall_ms", "cpu_ms", "init_ms"}
        assert figures["cpu_ms"]["median"] > 0  # measured, never a default 0
    # the exec path imports boto3 and Powertools in a new interpreter; a fork does not
    assert result["exec"]["cpu_ms"]["median"] > 3 * result["fork"]["cpu_ms"]["median"]
    assert result["fork_to_exec_cpu"] == pytest.approx(
        result["fork"]["cpu_ms"]["median"] / result["exec"]["cpu_ms"]["median"], abs=0.002
    )
    assert result["template_start"]["cpu_ms"] > 0
    assert isinstance(result["passed"], bool)
