"""The isolation machine finds each bug class in a deliberately broken API, shrinks it, and the
replay file reproduces it; the correct API passes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.isolation.machine import MachineConfig
from harness.isolation.run import replay, run_machine
from harness.isolation.spec import IsolationSpec
from tests.functional.fake_tenant_app import SPEC, serve


def tokens(tenant: str, user: str) -> str:
    return f"{tenant}|{user}"


def config(base_url: str, tenants: list[str] | None = None) -> MachineConfig:
    return MachineConfig(
        base_url=base_url,
        spec=IsolationSpec.model_validate(SPEC),
        tokens=tokens,
        tenants=tenants or ["acme", "globex"],
    )


def test_the_correct_api_passes(tmp_path: Path) -> None:
    with serve("correct") as url:
        result = run_machine(config(url), examples=15, steps=12, seed_value=1, report_dir=tmp_path)
    assert result.passed, result.violation
    assert result.calls > 100
    assert len(result.tenants) >= 3  # the stack's tenants plus generated tricky ones
    assert not (tmp_path / "isolation-replay.json").exists()


@pytest.mark.parametrize(
    ("variant", "kinds"),
    [
        ("trusts_query", {"idor-create", "foreign-list"}),
        ("trusts_body", {"idor-create"}),
        ("prefix_list", {"foreign-list"}),
        ("unfiltered_list", {"foreign-list"}),
        ("no_owner_check", {"foreign-read", "foreign-update", "foreign-delete", "foreign-change"}),
        (
            "case_insensitive",
            {
                "foreign-read",
                "foreign-list",
                "foreign-update",
                "foreign-delete",
                "idor-create",
                "foreign-change",
            },
        ),
    ],
)
def test_each_broken_variant_is_found_shrunk_and_replayed(
    variant: str, kinds: set[str], tmp_path: Path
) -> None:
    with serve(variant) as url:
        result = run_machine(config(url), examples=100, steps=10, seed_value=3, report_dir=tmp_path)
    assert not result.passed
    assert result.violation is not None and result.violation["kind"] in kinds, result.violation
    assert result.replay_file is not None
    document = json.loads(Path(result.replay_file).read_text())
    assert len(document["calls"]) <= 8, [c["step"] for c in document["calls"]]  # shrunk
    assert "authorization" not in json.dumps(document).lower()  # tokens are never stored
    with serve(variant) as fresh:  # a fresh server: new ids, same bug
        reproduced, how, _ = replay(document, fresh, tokens)
    assert reproduced, how
    with serve("correct") as fixed:
        reproduced, how, _ = replay(document, fixed, tokens)
    assert not reproduced, how


def test_the_seed_makes_runs_repeatable() -> None:
    with serve("correct") as url:
        first = run_machine(config(url), examples=5, steps=8, seed_value=11)
        second = run_machine(config(url), examples=5, steps=8, seed_value=11)
    assert first.tenants == second.tenants and first.calls == second.calls
