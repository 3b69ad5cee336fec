"""Evidence that the isolation checks raise no false alarm: the whole ``harness isolation`` run
(token tampering, the state machine with 100 examples, the data-layer, IAM and control-plane
invariants) passes on each shipped stack. Slow (minutes per stack on the 2-core machine): run
once per change to the machine, not in the default suite:

    .venv/bin/pytest -m slow tests/e2e/test_isolation_shipped_stacks.py -k catalog

``HARNESS_ISOLATION_EVIDENCE_EXAMPLES`` changes the number of examples (default 100). Any
violation is either a stack bug (fix the stack, add a regression test) or a false alarm of the
harness (fix the harness).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from harness import Environment, Settings
from harness.deploy import deploy_stack

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
STACKS = ("catalog", "cloudsaas", "codexflow", "synchub", "syncwell")
EXAMPLES = int(os.environ.get("HARNESS_ISOLATION_EVIDENCE_EXAMPLES", "100"))


@pytest.mark.parametrize("name", STACKS)
def test_a_shipped_stack_passes_every_isolation_check(
    name: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    from harness.isolation import run_isolation

    state_dir = tmp_path_factory.mktemp(f"isolation-{name}")
    report_dir = tmp_path_factory.mktemp(f"isolation-{name}-report")
    with Environment(Settings.load(state_dir=state_dir)) as env:
        stack = deploy_stack(env, ROOT / "stacks" / name)
        result = run_isolation(env, stack, examples=EXAMPLES, seed=0, report_dir=report_dir)
    summary = {
        "stack": name,
        "examples_run": result.examples_run,
        "steps": result.steps,
        "calls": result.calls,
        "seconds": round(result.seconds, 1),
        "violations": result.violations,
        "data_layer": result.data_layer,
    }
    print(json.dumps(summary))
    assert result.passed, result.violations or result.inconclusive
    assert result.examples_run >= EXAMPLES
    assert result.steps > EXAMPLES  # the examples did something
    assert (report_dir / "isolation.json").exists()
    assert not (report_dir / "isolation-replay.json").exists()
