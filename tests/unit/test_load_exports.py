"""``harness.load``'s public names resolve lazily, and importing it never imports Locust/gevent."""

from __future__ import annotations

import subprocess
import sys

import harness.load


def test_all_is_sorted_and_resolves() -> None:
    assert harness.load.__all__ == sorted(harness.load.__all__)
    for name in harness.load.__all__:
        assert getattr(harness.load, name) is not None, name


def test_the_calling_side_never_imports_locust_or_gevent() -> None:
    code = (
        "import sys, harness.load, harness.load.engine, harness.cli.load, harness.load.slo, "
        "harness.load.plan, harness.bench.load_engine; "
        "from harness.load import run_load, LoadResult, evaluate_slos; "
        "print(sorted(m for m in ('locust', 'gevent', 'geventhttpclient') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
