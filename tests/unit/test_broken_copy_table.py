"""Every shipped scenario has a broken-copy test (issue 28): an entry in
``tests/integration/test_scenarios_broken.py``'s ``CASES``, a test named in ``ELSEWHERE``, or an
entry in ``WITHOUT`` with one of the named ``REASONS``. Also checks, without running anything,
that each case still applies to its stack (every anchor once) and names expectations the
scenario has."""

from __future__ import annotations

from pathlib import Path

import yaml

from tests.broken_copies import STACKS, patch_text
from tests.integration.test_scenarios_broken import (
    CASES,
    ELSEWHERE,
    REASONS,
    SCENARIOS,
    WITHOUT,
    _stack_names,
)

INTEGRATION = Path(__file__).resolve().parents[1] / "integration"


def _shipped() -> set[str]:
    return {
        p.relative_to(SCENARIOS).as_posix()
        for p in [*SCENARIOS.glob("*.yaml"), *SCENARIOS.glob("chaos/*.yaml")]
    }


def test_every_shipped_scenario_has_a_broken_copy_entry() -> None:
    listed = [*CASES, *ELSEWHERE, *WITHOUT]
    assert len(listed) == len(set(listed)), "a scenario is listed twice"
    missing = _shipped() - set(listed)
    assert not missing, (
        f"scenarios without a broken-copy test: {sorted(missing)}: add each to CASES in "
        "tests/integration/test_scenarios_broken.py (or WITHOUT with a named reason)"
    )
    assert set(listed) - _shipped() == set(), "entries for scenarios that are not shipped"


def test_scenarios_without_a_broken_copy_give_a_named_reason() -> None:
    for scenario, (reason, why) in WITHOUT.items():
        assert reason in REASONS, f"{scenario}: unknown reason {reason!r}"
        assert why.strip(), f"{scenario}: say why"


def test_tests_named_elsewhere_exist() -> None:
    for scenario, where in ELSEWHERE.items():
        module, _, test = where.partition("::")
        text = (INTEGRATION / module).read_text()
        assert f"def {test}(" in text, f"{scenario}: no {where}"


def test_each_case_applies_to_its_stack_and_names_its_expectations() -> None:
    for scenario, case in CASES.items():
        path = SCENARIOS / scenario
        assert case.fails, f"{scenario}: name the expectations the broken copy must fail"
        stack = STACKS / _stack_names(path)[0]
        for rel, changes in case.edits.items():
            patch_text((stack / rel).read_text(), changes, f"{scenario}: {rel}")
        names = {e["name"] for e in yaml.safe_load(path.read_text())["expectations"]}
        assert set(case.fails) <= names, f"{scenario}: {set(case.fails) - names} not in it"
        assert case.edits or case.parameters, f"{scenario}: the copy is not broken"
        assert set(case.min_observed) <= set(case.fails), f"{scenario}: min_observed not in fails"
        template = (stack / "template.yaml").read_text()
        for parameter, value in case.parameters.items():
            assert f"\n  {parameter}:\n" in template, f"{scenario}: no parameter {parameter}"
            assert isinstance(value, str), f"{scenario}: harness.yaml parameters are strings"
