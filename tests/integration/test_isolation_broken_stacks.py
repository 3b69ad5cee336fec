"""`run_isolation` and `harness isolation` against a real deployed stack with deliberate
isolation bugs (tests/fixtures/stacks/notes, switched on by its `Broken` template parameter):
each bug is found through the gateway, shrunk to a few HTTP calls, and the replay file makes
`harness replay` fail again; against the fixed stack the same file no longer reproduces, and the
correct stack passes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from harness import Environment, Settings
from harness.deploy import deploy_stack
from harness.deploy.engine import destroy_stack
from harness.isolation import run_isolation
from harness.isolation.run import replay
from harness.isolation.stack import machine_config
from harness.model import DeployedStack

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
NOTES = ROOT / "tests" / "fixtures" / "stacks" / "notes"


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Environment]:
    with Environment(Settings.load(state_dir=tmp_path_factory.mktemp("isolation-state"))) as env:
        yield env


@pytest.fixture
def notes(env: Environment) -> Iterator[Callable[[str], DeployedStack]]:
    """Deploy the notes stack with one bug switched on (``none``: the correct stack). Each test
    starts from an empty table (a list scan over every earlier test's notes slows shrinking
    down) and the stack is destroyed afterwards; a second call updates it in place."""

    def deploy(variant: str) -> DeployedStack:
        return deploy_stack(env, NOTES, {"Broken": variant})

    yield deploy
    destroy_stack(env, "notes")


def cli(env: Environment, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness", *args],
        env={**os.environ, "HARNESS_STATE_DIR": str(env.state_dir)},
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )


def not_reproduced_when_fixed(
    env: Environment, notes: Callable[[str], DeployedStack], document: dict[str, Any]
) -> None:
    config = machine_config(env, notes("none"))
    reproduced, how, _ = replay(document, config.base_url, config.tokens)
    assert not reproduced, how


@pytest.mark.parametrize(
    "seed", [0, pytest.param(1, marks=pytest.mark.slow), pytest.param(2, marks=pytest.mark.slow)]
)
def test_the_correct_stack_passes(
    env: Environment, notes: Callable[[str], DeployedStack], tmp_path: Path, seed: int
) -> None:
    stack = notes("none")
    # seed 0 also proves every new attack ran; a token attack needs a holder with a full page
    # (two notes) first, which 20 examples did not always reach in the full suite
    examples = 30 if seed == 0 else 20
    result = run_isolation(env, stack, examples=examples, seed=seed, report_dir=tmp_path)
    assert result.passed, result.violations
    assert result.replay_file is None and not (tmp_path / "isolation-replay.json").exists()
    assert result.endpoints == [
        "DELETE /notes/{id}",
        "GET /notes",
        "GET /notes/{id}",
        "PATCH /notes/{id}",
        "POST /notes",
    ]
    if seed != 0:
        return  # other seeds: 0 violations is the point; seed 0 also proves what was exercised
    steps = {c.step.split(" claiming")[0] for c in result.made}
    if "list note with a tampered token" not in steps:
        # the token attack needs a foreign attacker drawn against a paginating holder: when
        # seed 0's examples never drew one (seen once in the full suite), a second seed does;
        # both runs must be free of false alarms
        again = run_isolation(env, stack, examples=examples, seed=100, report_dir=tmp_path)
        assert again.passed, again.violations
        steps |= {c.step.split(" claiming")[0] for c in again.made}
    # every new attack ran against the correct stack, and none is a false alarm
    assert {"list note with a tampered token", "update note of another"} <= steps, sorted(steps)
    assert any(s.startswith("update note setting") for s in steps), sorted(steps)
    assert any("filtered by" in s for s in steps), sorted(steps)
    assert {"t1", "t10", "t2"} <= set(result.tenants)
    assert result.data_layer["dynamodb NotesTable.PK"]["new_records"] > 0
    assert all(case["passed"] for case in result.tampering)


# variant -> (what the machine must report, a data-layer violation it must also find or None,
# the Hypothesis seed: each finds its bug quickly; measured with 40 examples on an empty table)
VARIANTS = {
    "cache-key": ({"foreign-read"}, "redis notes:note:*", 2),
    "prefix-query": ({"foreign-list"}, None, 4),
    "worker-body-tenant": ({"idor-create"}, "dynamodb NotesTable.PK", 3),
}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_each_broken_variant_is_found_shrunk_and_replayed(
    env: Environment, notes: Callable[[str], DeployedStack], tmp_path: Path, variant: str
) -> None:
    kinds, data_rule, seed = VARIANTS[variant]
    stack = notes(variant)
    result = run_isolation(env, stack, examples=40, seed=seed, report_dir=tmp_path)
    assert not result.passed
    assert result.violation is not None and result.violation["kind"] in kinds, result.violations
    if data_rule is not None:
        assert any(v.startswith(f"data layer: {data_rule}") for v in result.violations)
    assert result.replay_file is not None
    document = json.loads(Path(result.replay_file).read_text())
    assert document["params"]["Broken"] == variant  # the replay redeploys the same variant
    # shrunk: 2-4 calls, up to 6 when a multi-page listing needs the lister's own records
    assert len(document["calls"]) <= 6, [c["step"] for c in document["calls"]]
    assert "authorization" not in json.dumps(document).lower()  # tokens are never stored

    replayed = cli(env, "replay", result.replay_file, "--attach")
    assert replayed.returncode == 1, replayed.stdout + replayed.stderr
    assert "REPRODUCED" in replayed.stdout

    not_reproduced_when_fixed(env, notes, document)


def test_harness_isolation_cli_fails_with_exit_1_and_a_replay_file(
    env: Environment, notes: Callable[[str], DeployedStack], tmp_path: Path
) -> None:
    """The CLI end to end on a variant the parametrized test does not use: the list endpoint
    has no partition filter. Then `harness replay` of the file: exit 1, and exit 0 once the
    file names the fixed stack."""
    report = tmp_path / "report"
    found = cli(
        env, "isolation", str(NOTES), "--param", "Broken=unfiltered-list",
        "--examples", "40", "--seed", "2", "--report-dir", str(report),
    )  # fmt: skip
    assert found.returncode == 1, found.stdout + found.stderr
    assert "FAILED: isolation violated" in found.stdout
    replay_file = report / "isolation-replay.json"
    assert f"harness replay {replay_file}" in found.stdout
    summary = json.loads((report / "isolation.json").read_text())
    assert summary["violation"]["kind"] == "foreign-list" and not summary["passed"]

    replayed = cli(env, "replay", str(replay_file), "--attach")
    assert replayed.returncode == 1, replayed.stdout + replayed.stderr
    assert "REPRODUCED: call" in replayed.stdout

    fixed = json.loads(replay_file.read_text())
    fixed["params"]["Broken"] = "none"
    (tmp_path / "fixed.json").write_text(json.dumps(fixed))
    replayed = cli(env, "replay", str(tmp_path / "fixed.json"), "--attach")
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    assert "NOT REPRODUCED" in replayed.stdout


@pytest.mark.slow
def test_a_tenant_id_trusted_from_the_body_is_found(
    env: Environment, notes: Callable[[str], DeployedStack], tmp_path: Path
) -> None:
    stack = notes("body-tenant")
    result = run_isolation(env, stack, examples=40, seed=3, report_dir=tmp_path)
    assert result.violation is not None and result.violation["kind"] == "idor-create"
    document = json.loads(Path(str(result.replay_file)).read_text())
    config = machine_config(env, stack)
    reproduced, how, _ = replay(document, config.base_url, config.tokens)
    assert reproduced, how
    not_reproduced_when_fixed(env, notes, document)


@pytest.mark.slow
def test_replay_on_a_fresh_environment(
    env: Environment, notes: Callable[[str], DeployedStack], tmp_path: Path
) -> None:
    """`harness replay` without --attach: a private environment of its own, the stack deployed
    there with the file's parameters, stopped afterwards."""
    stack = notes("prefix-query")
    result = run_isolation(env, stack, examples=40, seed=4, report_dir=tmp_path)
    assert result.replay_file is not None
    replayed = subprocess.run(
        [sys.executable, "-m", "harness", "replay", result.replay_file],
        env={k: v for k, v in os.environ.items() if k != "HARNESS_STATE_DIR"},
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
    )
    assert replayed.returncode == 1, replayed.stdout + replayed.stderr
    assert "REPRODUCED" in replayed.stdout


# Issue 21's classes: variant -> (what the machine must report, Hypothesis seed). Each is found,
# shrunk, written to a replay file, and that file is confirmed by `run_isolation` itself on a
# fresh deployment (the stack destroyed and deployed again) and on a pre-filled one.
NEW_VARIANTS = {
    "hint-tenant-query": ({"foreign-update", "foreign-delete"}, 0),
    "owner-move": ({"mass-assignment"}, 0),
    "cursor-partition": ({"cursor-tamper"}, 0),
    "page2-leak": ({"foreign-list", "idor-create"}, 1),
    "filter-leak": ({"foreign-list"}, 0),
}


def run_confirmed(
    env: Environment, notes: Callable[[str], DeployedStack], variant: str, seed: int, out: Path
) -> Any:
    stack = notes(variant)

    def redeploy() -> DeployedStack:
        destroy_stack(env, "notes")
        return notes(variant)

    return run_isolation(env, stack, examples=40, seed=seed, report_dir=out, redeploy=redeploy)


@pytest.mark.parametrize(
    "variant",
    [
        "hint-tenant-query",
        "owner-move",
        *(
            pytest.param(v, marks=pytest.mark.slow)
            for v in ("cursor-partition", "page2-leak", "filter-leak")
        ),
    ],
)
def test_each_new_class_is_found_shrunk_and_replayed_fresh_and_prefilled(
    env: Environment, notes: Callable[[str], DeployedStack], tmp_path: Path, variant: str
) -> None:
    kinds, seed = NEW_VARIANTS[variant]
    result = run_confirmed(env, notes, variant, seed, tmp_path)
    assert result.violation is not None and result.violation["kind"] in kinds, result.violations
    document = json.loads(Path(result.replay_file).read_text())
    assert len(document["calls"]) <= 8, [c["step"] for c in document["calls"]]
    confirmed = document["confirmed"]
    assert confirmed["fresh"], confirmed
    assert confirmed["prefilled"] and confirmed["prefill_calls"] > 0, confirmed
    assert result.confirmed[result.replay_file] == confirmed
    not_reproduced_when_fixed(env, notes, document)


def test_a_data_layer_finding_gets_a_confirmed_replay(
    env: Environment, notes: Callable[[str], DeployedStack], tmp_path: Path
) -> None:
    """The worker writes the note into the partition the request body names: the record is
    traced to the create call that planted it, re-run, shrunk and written as a replay file that
    `harness replay` reproduces from the emulators' data."""
    result = run_confirmed(env, notes, "worker-body-tenant", 3, tmp_path)
    traced = [e for e in result.data_replays if e.get("replay_file")]
    assert traced, result.data_replays
    entry = traced[0]
    assert entry["violation"].startswith("data layer: dynamodb NotesTable.PK")
    document = json.loads(Path(entry["replay_file"]).read_text())
    assert document["check"]["mode"] == "data-layer"
    assert [c["step"].split(" claiming")[0] for c in document["calls"]] == ["create note"]
    assert document["confirmed"]["fresh"] and document["confirmed"]["prefilled"]

    replayed = cli(env, "replay", entry["replay_file"], "--attach")
    assert replayed.returncode == 1, replayed.stdout + replayed.stderr
    assert "REPRODUCED" in replayed.stdout and "data layer" in replayed.stdout


def test_without_an_isolation_section_the_cli_infers_one_and_still_finds_the_bug(
    env: Environment, tmp_path: Path
) -> None:
    """The notes stack with its `isolation` section deleted (a routes-only profile): the CLI
    proposes the note resource from the routes, learns the id and items from a probe, prints
    what it inferred, writes isolation-proposed.yaml, and finds the unfiltered list."""
    import shutil

    import yaml

    stack_dir = tmp_path / "notes"
    shutil.copytree(NOTES, stack_dir)
    profile = yaml.safe_load((stack_dir / "harness.yaml").read_text())
    del profile["isolation"]
    (stack_dir / "harness.yaml").write_text(yaml.safe_dump(profile))
    report = tmp_path / "report"
    try:
        found = cli(
            env, "isolation", str(stack_dir), "--param", "Broken=unfiltered-list",
            "--examples", "30", "--seed", "2", "--report-dir", str(report),
        )  # fmt: skip
    finally:
        destroy_stack(env, "notes")
    assert "no `isolation` section" in found.stdout, found.stdout + found.stderr
    assert "new id at $.note_id (from a probe create's answer)" in found.stdout
    proposed = yaml.safe_load((report / "isolation-proposed.yaml").read_text())["isolation"]
    note = proposed["resources"]["note"]
    assert {"create", "read", "update", "delete", "list"} <= set(note)
    assert note["read"]["path"] == "/notes/{id}"
    assert found.returncode == 1, found.stdout + found.stderr
    summary = json.loads((report / "isolation.json").read_text())
    assert summary["violation"]["kind"] in {"foreign-list", "idor-create", "cursor-tamper"}
