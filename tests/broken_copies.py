"""Deliberately broken copies of the shipped stacks, and scenario runs against them.

A broken-copy test copies ``stacks/<name>`` into a temporary folder, patches anchored text (each
anchor must occur exactly once, so the test breaks loudly when the stack changes instead of
silently running an intact copy), optionally overrides profile parameters (``harness.yaml``),
points a shipped scenario's ``stacks:`` at the copy and runs it. Used by
``tests/integration/test_chaos_catalog.py`` and ``tests/integration/test_scenarios_broken.py``.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from harness.config import Settings
from harness.report.data import RunData
from harness.scenario.runner import RunOptions, run_scenario

ROOT = Path(__file__).resolve().parents[1]
STACKS = ROOT / "stacks"

# file (relative to the stack folder) -> {anchor: replacement}
Edits = Mapping[str, Mapping[str, str]]


def patch_text(text: str, changes: Mapping[str, str], where: str) -> str:
    """``text`` with each anchor replaced; an anchor missing or not unique is an error."""
    for old, new in changes.items():
        count = text.count(old)
        assert count == 1, (
            f"{where}: the anchor {old!r} occurs {count} times (must be once): the stack "
            "changed, update the broken copy"
        )
        text = text.replace(old, new)
    return text


def copy_stack(
    folder: Path,
    name: str,
    edits: Edits | None = None,
    parameters: Mapping[str, Any] | None = None,
) -> Path:
    """A copy of ``stacks/<name>`` under ``folder`` with ``edits`` applied and the profile's
    ``parameters`` updated with ``parameters``."""
    stack = folder / name
    shutil.copytree(STACKS / name, stack, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for rel, changes in (edits or {}).items():
        path = stack / rel
        path.write_text(patch_text(path.read_text(), changes, f"stacks/{name}/{rel}"))
    if parameters:
        profile_file = stack / "harness.yaml"
        profile = yaml.safe_load(profile_file.read_text())
        profile.setdefault("parameters", {}).update(parameters)
        profile_file.write_text(yaml.safe_dump(profile, sort_keys=False))
    return stack


def relocate(entry: str, copies: Mapping[str, Path]) -> str:
    """A scenario's ``stacks:`` entry (``stacks/<name>[/sub]``) moved into its copy."""
    parts = Path(entry).parts
    at = parts.index("stacks")
    name = parts[at + 1]
    assert name in copies, f"no broken copy of stacks/{name} (scenario entry {entry!r})"
    return str(copies[name].joinpath(*parts[at + 2 :]))


def run_on_copies(
    scenario: Path, copies: Mapping[str, Path], folder: Path, note: str = "broken copy"
) -> RunData:
    """Run ``scenario`` with its ``stacks:`` pointed at ``copies`` (stack name -> copy), its
    report in ``folder / "report"`` and its environment in ``folder / "state"``."""
    data = yaml.safe_load(scenario.read_text())
    data["title"] = f"{data['title']} ({note})"
    data["stacks"] = [relocate(str(entry), copies) for entry in data["stacks"]]
    path = folder / scenario.name
    folder.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return run_scenario(
        path,
        RunOptions(
            report_dir=folder / "report",
            settings=Settings.load(state_dir=folder / "state"),
            live=False,
        ),
    )
