"""A redeploy with edited function code changes the FunctionSpec (so the runtime, which replaces
a function's warm environments when its spec changes, stops running the old code)."""

from __future__ import annotations

import os
from pathlib import Path

from harness.deploy.specs import build_functions
from harness.deploy.specs.functions import code_fingerprint
from harness.model import ResourceRecord


def _records(code: Path) -> dict[str, ResourceRecord]:
    fn = ResourceRecord(
        "Api", "AWS::Lambda::Function", "s-Api", arn="arn:aws:lambda:us-east-1:0:function:s-Api",
        attributes={"CodeDir": str(code)}, properties={"Handler": "app.handler"},
    )  # fmt: skip
    return {"Api": fn}


def test_editing_adding_or_removing_code_changes_the_spec(tmp_path: Path) -> None:
    code = tmp_path / "src"
    (code / "pkg").mkdir(parents=True)
    module = code / "pkg" / "app.py"
    module.write_text("def handler(e, c):\n    return 1\n")
    first = build_functions(_records(code))["Api"]
    assert first.code_fingerprint and first == build_functions(_records(code))["Api"]

    module.write_text("def handler(e, c):\n    return 2\n")
    stamp = module.stat().st_mtime_ns + 1_000_000
    os.utime(module, ns=(stamp, stamp))  # a coarse clock must not hide the edit
    edited = build_functions(_records(code))["Api"]
    assert edited != first and edited.code_fingerprint != first.code_fingerprint

    (code / "pkg" / "extra.py").write_text("")
    added = build_functions(_records(code))["Api"]
    assert added.code_fingerprint != edited.code_fingerprint
    (code / "pkg" / "extra.py").unlink()
    assert build_functions(_records(code))["Api"].code_fingerprint == edited.code_fingerprint


def test_bytecode_caches_do_not_count(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text("x = 1\n")
    before = code_fingerprint([str(tmp_path)])
    (tmp_path / "__pycache__").mkdir()
    (tmp_path / "__pycache__" / "app.cpython-311.pyc").write_bytes(b"\0")
    assert code_fingerprint([str(tmp_path)]) == before
    assert code_fingerprint([]) != before
