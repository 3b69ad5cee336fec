"""The package's layering (ARCHITECTURE.md) holds: an import that breaks it fails here.

Static rules read every module's imports (including the ones inside functions, which load
just as surely when they run); the runtime rule imports the runtime's modules in a fresh
interpreter and looks at what got loaded, so an indirect path (runtime -> chaos -> edge) counts.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HARNESS = ROOT / "harness"


def imports(path: Path) -> Iterator[str]:
    """Every absolute module name ``path`` imports, anywhere in it."""
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module


def violations(package: str, forbidden: tuple[str, ...], root: Path = HARNESS) -> list[str]:
    """``file: module`` for each import under ``root/package`` of a forbidden module."""
    base = root / package if package else root
    files = [base] if base.suffix == ".py" else sorted(base.rglob("*.py"))
    return [
        f"{path.relative_to(root.parent)}: {name}"
        for path in files
        for name in imports(path)
        if any(name == f or name.startswith(f + ".") for f in forbidden)
    ]


def test_only_the_load_package_imports_locust() -> None:
    outside = [v for v in violations("", ("locust", "gevent")) if not v.startswith("harness/load/")]
    assert not outside, "Locust (gevent) loaded outside harness.load:\n" + "\n".join(outside)


def test_the_environment_does_not_import_the_deploy() -> None:
    found = violations("env", ("harness.deploy",))
    assert not found, "harness.env imports harness.deploy:\n" + "\n".join(found)


def test_the_report_does_not_import_the_scenario_runner() -> None:
    found = violations("report", ("harness.scenario",))
    assert not found, "harness.report imports harness.scenario:\n" + "\n".join(found)


def test_the_auth_package_imports_none_of_its_users() -> None:
    """harness.auth is imported by the gateway, load, isolation and the CLI (no cycle back)."""
    users = ("harness.gateway", "harness.load", "harness.isolation", "harness.cli",
             "harness.scenario", "harness.remote", "harness.tokens")  # fmt: skip
    found = violations("auth", users)
    assert not found, "harness.auth imports a package that uses it:\n" + "\n".join(found)


def test_only_entry_points_import_the_cli() -> None:
    """harness.cli is the top layer: one module per command; nothing below it imports it."""
    entry = ("harness/cli/", "harness/__main__.py", "harness/pytest_plugin.py")
    found = [v for v in violations("", ("harness.cli",)) if not v.startswith(entry)]
    assert not found, "harness.cli imported below the entry points:\n" + "\n".join(found)
    leftovers = sorted(str(p.relative_to(ROOT)) for p in HARNESS.rglob("*cli.py"))
    assert not leftovers, f"command modules outside harness/cli/: {leftovers}"


def test_foundations_import_no_service() -> None:
    services = ("harness.env", "harness.gateway", "harness.runtime", "harness.edge",
                "harness.chaos", "harness.deploy", "harness.scenario", "harness.load")  # fmt: skip
    found = [
        v
        for module in ("errors.py", "config.py", "durations.py", "yamlpos.py", "profile.py")
        for v in violations(module, services)
    ]
    assert not found, "\n".join(found)


def loaded_by(packages: list[str], prefixes: list[str]) -> list[str]:
    """The modules under ``prefixes`` a fresh interpreter has loaded after importing every
    module of ``packages``."""
    code = (
        "import importlib, json, pkgutil, sys\n"
        f"for name in {packages!r}:\n"
        "    package = importlib.import_module(name)\n"
        "    for m in pkgutil.walk_packages(package.__path__, name + '.'):\n"
        "        if not m.name.endswith('__main__'):\n"
        "            importlib.import_module(m.name)\n"
        f"print(json.dumps(sorted(m for m in sys.modules if m.startswith(tuple({prefixes!r})))))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return list(json.loads(done.stdout.strip().splitlines()[-1]))


def test_the_runtime_process_does_not_load_the_edge_or_locust() -> None:
    found = loaded_by(["harness.runtime"], ["harness.edge", "locust", "harness.deploy"])
    assert not found, f"importing harness.runtime loads {found}"


def test_the_checks_fail_on_a_broken_layering(tmp_path: Path) -> None:
    """The static rules catch a bad import inside a function too."""
    fake = tmp_path / "harness" / "env"
    fake.mkdir(parents=True)
    (fake / "bad.py").write_text("def f():\n    from harness.deploy.engine import deploy_stack\n")
    (fake / "good.py").write_text("import harness.errors\n")
    found = violations("env", ("harness.deploy",), root=tmp_path / "harness")
    assert found == ["harness/env/bad.py: harness.deploy.engine"]


@pytest.mark.parametrize("name", ["ARCHITECTURE.md"])
def test_the_architecture_note_names_the_rules(name: str) -> None:
    text = (ROOT / name).read_text()
    for rule in ("Only `harness.load` imports Locust", "`harness.env` never imports",
                 "The runtime process never loads the edge"):  # fmt: skip
        assert rule in text, rule


def test_no_module_imports_a_private_name_of_another() -> None:
    found = []
    for path in sorted(HARNESS.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("harness"):
                for alias in node.names:
                    where = (str(path.relative_to(ROOT)), str(node.module), alias.name)
                    private = alias.name.startswith("_") and not alias.name.startswith("__")
                    if private:
                        found.append(":".join(where))
    assert not found, "private names imported across modules:\n" + "\n".join(found)
