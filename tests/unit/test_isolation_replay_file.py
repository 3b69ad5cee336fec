"""`harness replay FILE` refuses a malformed replay file before starting anything: exit 2 and a
message naming the file and the offending field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from harness.cli import main

GOOD: dict[str, Any] = {
    "format": 1,
    "seed": 0,
    "tenants": ["t1", "t10"],
    "violation": {"kind": "foreign-list", "message": "t1 lists t10's note"},
    "denied": [401, 403, 404],
    "calls": [
        {
            "step": "create note",
            "method": "POST",
            "path": "/notes",
            "tenant": "t10",
            "user": "t10-user",
            "body": {"text": "x"},
            "status": 201,
            "response": {"note_id": "n1"},
        },
        {
            "step": "list note",
            "method": "GET",
            "path": "/notes",
            "tenant": "t1",
            "user": "t1-user",
            "status": 200,
            "response": {"items": [{"note_id": "n1"}]},
        },
    ],
    "check": {"kind": "foreign-list", "call_index": 1, "mode": "listed", "foreign_ids": ["n1"]},
    "spec": {
        "resources": {
            "note": {
                "create": {"method": "POST", "path": "/notes", "id": "$.note_id"},
                "list": {"path": "/notes", "items": "$.items", "id_field": "note_id"},
            }
        }
    },
    "stack": "notes",
    "stack_dir": "/nonexistent/stack",
    "params": {"Broken": "prefix-query"},
}


def replay_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str
) -> tuple[int, str, Path]:
    path = tmp_path / "isolation-replay.json"
    path.write_text(content)
    code = main(["replay", str(path)])
    return code, capsys.readouterr().err, path


def broken(**changes: Any) -> str:
    document = json.loads(json.dumps(GOOD))
    for dotted, value in changes.items():
        target = document
        *parents, last = dotted.split("__")
        for part in parents:
            target = target[int(part)] if isinstance(target, list) else target[part]
        if value is KeyError:
            del target[last]
        else:
            target[last] = value
    return json.dumps(document)


@pytest.mark.parametrize(
    ("content", "field"),
    [
        (broken(calls=KeyError), "calls"),
        (broken(check=KeyError), "check"),
        (broken(calls="POST /notes"), "calls"),
        (broken(calls=[]), "calls"),
        (broken(calls__1__method=KeyError), "calls[1].method"),
        (broken(calls__0__tenant=7), "calls[0].tenant"),
        (broken(check__call_index="1"), "check.call_index"),
        (broken(check__call_index=5), "check.call_index"),
        (broken(params=["Broken=prefix-query"]), "params"),
        (broken(spec__resources={}), "spec.resources"),
    ],
)
def test_a_malformed_replay_file_names_the_file_and_the_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, field: str
) -> None:
    code, err, path = replay_error(tmp_path, capsys, content)
    assert code == 2, err
    assert str(path) in err and f"field '{field}'" in err, err
    assert "Traceback" not in err


@pytest.mark.parametrize(("content", "words"), [("{not json", "not JSON"), ("[1, 2]", "got list")])
def test_a_file_that_is_not_a_replay_document_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, words: str
) -> None:
    code, err, path = replay_error(tmp_path, capsys, content)
    assert code == 2 and str(path) in err and words in err, err


def test_a_missing_file_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope.json"
    assert main(["replay", str(missing)]) == 2
    assert str(missing) in capsys.readouterr().err


def test_a_well_formed_file_gets_past_validation_to_its_stack_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err, _ = replay_error(tmp_path, capsys, json.dumps(GOOD))
    assert code == 2 and "/nonexistent/stack" in err and "does not exist" in err, err
