"""harness/deploy/build.py and harness/runtime/interpreters.py without a running environment:
which interpreter a runtime gets, what is refused, how layers are merged into /opt."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.deploy.build import build_stack, mount_layers
from harness.deploy.unsupported import Unsupported
from harness.errors import DeployError
from harness.model import ResourceRecord
from harness.runtime import interpreters
from harness.runtime.interpreters import (
    RUNTIME_PACKAGES,
    compile_runtime_packages,
    find_python,
    resolve,
    runtime_packages,
)


@pytest.fixture(autouse=True)
def fresh_lookups() -> Iterator[None]:
    interpreters.find_python.cache_clear()
    interpreters.find_node.cache_clear()
    yield
    interpreters.find_python.cache_clear()
    interpreters.find_node.cache_clear()


def function(logical_id: str, runtime: str, code: Path) -> ResourceRecord:
    return ResourceRecord(
        logical_id=logical_id,
        type="AWS::Lambda::Function",
        physical_id=f"s-{logical_id}",
        properties={"Runtime": runtime, "Handler": "app.handler"},
        attributes={"CodeDir": str(code)},
    )


def test_node_function_is_refused_where_node_is_absent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HARNESS_NODE", str(tmp_path / "no-node-here"))
    records = {"Web": function("Web", "nodejs20.x", tmp_path)}
    with pytest.raises(DeployError) as info:
        build_stack(records, {}, file="template.yaml", work_dir=tmp_path / "work")
    assert info.value.logical_id == "Web" and info.value.property == "Runtime"
    assert "Runtime nodejs20.x needs Node.js" in str(info.value)
    assert not (tmp_path / "work").exists()


def test_unknown_runtime_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DeployError, match="java21 is not supported"):
        build_stack({"J": function("J", "java21", tmp_path)}, {}, file="t.yaml", work_dir=tmp_path)


def test_missing_python_version_falls_back_with_a_note(tmp_path: Path) -> None:
    builds = build_stack(
        {"Fn": function("Fn", "python3.99", tmp_path)},
        {},
        file="t.yaml",
        work_dir=tmp_path,
        cache_dir=tmp_path / "cache",
    )
    here = f"python{sys.version_info[0]}.{sys.version_info[1]}"
    assert builds["Fn"].runtime == here
    assert "no python3.99 interpreter" in builds["Fn"].note and here in builds["Fn"].note
    # the runtime's boto3 is on the path, nothing else
    assert [Path(p).name.startswith("boto3-") for p in builds["Fn"].path] == [True]


def test_declared_python_runs_on_its_own_version_when_installed() -> None:
    launch = resolve("python3.12")
    if find_python((3, 12)) is None:
        pytest.skip("no python3.12 on this machine")
    assert launch.runtime == "python3.12" and not launch.note


def test_a_shim_or_a_wrong_version_is_not_an_interpreter(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shims = tmp_path / "shims"
    liar = tmp_path / "bin"
    shims.mkdir()
    liar.mkdir()
    shim = shims / "python3.77"
    shim.write_text("#!/bin/sh\necho 'pyenv: python3.77: command not found' >&2\nexit 127\n")
    wrong = liar / "python3.77"
    wrong.write_text("#!/bin/sh\necho 3.11\n")  # claims another version
    for path in (shim, wrong):
        path.chmod(0o755)
    monkeypatch.setenv("PATH", f"{shims}{os.pathsep}{liar}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path / "no-pyenv"))
    assert find_python((3, 77)) is None
    assert resolve("python3.77").note  # falls back, and says so


def test_runtime_packages_hold_boto3_and_its_dependencies_only(tmp_path: Path) -> None:
    folder = runtime_packages(tmp_path)
    names = {p.name.removesuffix(".py") for p in folder.iterdir()}
    assert names == set(RUNTIME_PACKAGES)
    assert (folder / "boto3" / "__init__.py").is_file()
    assert runtime_packages(tmp_path) == folder  # made once


def test_layers_merge_into_one_opt_tree_later_layer_wins(tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    (first / "python" / "shared").mkdir(parents=True)
    (second / "python" / "shared").mkdir(parents=True)
    (first / "python" / "shared" / "a.py").write_text("A = 1\n")
    (first / "python" / "common.py").write_text("WHO = 'first'\n")
    (second / "python" / "shared" / "b.py").write_text("B = 2\n")
    (second / "python" / "common.py").write_text("WHO = 'second'\n")
    built = tmp_path / "built"  # a BuildMethod layer's ContentUri, mounted under python/
    built.mkdir()
    (built / "util.py").write_text("U = 3\n")
    opt = mount_layers([(first, ""), (second, ""), (built, "python")], tmp_path / "opt")
    assert (opt / "python" / "shared" / "a.py").read_text() == "A = 1\n"
    assert (opt / "python" / "shared" / "b.py").read_text() == "B = 2\n"
    assert (opt / "python" / "common.py").read_text() == "WHO = 'second'\n"
    assert (opt / "python" / "util.py").is_file()
    assert not (first / "python" / "shared" / "b.py").exists()  # the sources are untouched
    same = mount_layers([(first, ""), (second, ""), (built, "python")], tmp_path / "opt")
    assert same == opt
    (second / "python" / "new.py").write_text("")  # a file added to a layer: a new tree
    assert mount_layers([(first, ""), (second, ""), (built, "python")], tmp_path / "opt") != opt


def test_runtime_packages_are_byte_compiled_for_each_interpreter(tmp_path: Path) -> None:
    folder = runtime_packages(tmp_path)
    version = (sys.version_info[0], sys.version_info[1])
    compile_runtime_packages(folder, sys.executable, version)
    tag = sys.implementation.cache_tag
    real = (folder / "boto3").resolve()
    assert (real / "__pycache__" / f"__init__.{tag}.pyc").is_file()
    assert (folder / f".compiled-py{version[0]}{version[1]}").is_file()


def test_a_layer_not_of_this_stack_is_refused_not_skipped(tmp_path: Path) -> None:
    fn = function("F", f"python{sys.version_info[0]}.{sys.version_info[1]}", tmp_path)
    fn.properties["Layers"] = ["arn:aws:lambda:us-east-1:017000801446:layer:AWSLambdaPowertools:7"]
    found: list[Unsupported] = []
    build_stack({"F": fn}, {}, file="t.yaml", work_dir=tmp_path / "w", unsupported=found)
    assert [(u.logical_id, u.property) for u in found] == [("F", "Layers")]
    assert "AWSLambdaPowertools" in found[0].reason and "cannot be fetched" in found[0].reason


@pytest.mark.parametrize(
    ("metadata", "refused"),
    [
        ({}, []),
        ({"BuildMethod": "python3.11"}, []),
        ({"BuildMethod": "makefile"}, ["Metadata.BuildMethod"]),
        (
            {"BuildMethod": "esbuild", "BuildProperties": {"Minify": True}},
            ["Metadata.BuildMethod", "Metadata.BuildProperties"],
        ),
    ],
)
def test_sam_build_hints_are_honoured_or_refused(
    tmp_path: Path, metadata: dict[str, object], refused: list[str]
) -> None:
    fn = function("F", f"python{sys.version_info[0]}.{sys.version_info[1]}", tmp_path)
    found: list[Unsupported] = []
    build_stack(
        {"F": fn}, {"F": metadata}, file="t.yaml", work_dir=tmp_path / "w", unsupported=found
    )
    assert [u.property for u in found] == refused
