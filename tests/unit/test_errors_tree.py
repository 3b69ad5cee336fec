"""harness.errors documents the whole tree, and user input errors come out of it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import harness.errors as errors
from harness.cli import main

HARNESS = Path(__file__).resolve().parents[2] / "harness"


def harness_error_classes(root: Path = HARNESS) -> dict[str, str]:
    """Every class under ``root`` deriving (directly or not) from HarnessError: name -> file."""
    bases: dict[str, tuple[set[str], str]] = {}
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef):
                names = {ast.unparse(b).rsplit(".", 1)[-1] for b in node.bases}
                bases[node.name] = (names, str(path.relative_to(root.parent)))
    found: dict[str, str] = {}
    changed = True
    while changed:
        changed = False
        for name, (parents, where) in bases.items():
            if name not in found and ({"HarnessError"} | set(found)) & parents:
                found[name] = where
                changed = True
    return found


def test_every_harness_error_is_in_the_documented_tree() -> None:
    found = harness_error_classes()
    assert {"DeployError", "TokenError", "LoadGeneratorError", "ConfigError"} <= set(found)
    for name in ("DeployError", "TokenError", "LoadGeneratorError"):
        assert found[name] == "harness/errors.py", name
        assert issubclass(getattr(errors, name), errors.HarnessError)
    undocumented = sorted(n for n in found if n not in (errors.__doc__ or ""))
    assert not undocumented, f"not in harness/errors.py's tree: {undocumented}"


def test_the_tree_check_finds_errors_at_any_depth(tmp_path: Path) -> None:
    (tmp_path / "harness").mkdir()
    (tmp_path / "harness" / "x.py").write_text(
        "class ZqAError(HarnessError): ...\nclass ZqBError(ZqAError): ...\nclass ZqC(ValueError): ...\n"
    )
    found = harness_error_classes(tmp_path / "harness")
    assert set(found) == {"ZqAError", "ZqBError"} and found["ZqBError"] == "harness/x.py"
    assert "ZqBError" not in (errors.__doc__ or "")  # so the documented-tree test would fail on it


def test_a_bad_master_address_is_a_config_error_naming_the_flag(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["load-worker", "--master", "no-port"]) == 2
    err = capsys.readouterr().err
    assert "harness load-worker, field '--master'" in err and "HOST:PORT" in err
