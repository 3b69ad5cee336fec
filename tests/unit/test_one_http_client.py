"""The harness's blocking HTTP calls go through harness.httpclient (one error mapping): a new
``urlopen`` elsewhere fails here (ARCHITECTURE.md, "One HTTP client")."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HARNESS = ROOT / "harness"

ALLOWED = {
    "harness/httpclient.py",  # the one helper
    "harness/env/ministack_main.py",  # runs in ministack's interpreter: no harness to import
}


def urlopen_calls(root: Path) -> list[str]:
    """``file:line`` of every ``urlopen(...)`` call under ``root``."""
    found = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Call):
                func = node.func
                name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                if name == "urlopen":
                    found.append(f"{path.relative_to(root.parent)}:{node.lineno}")
    return found


def test_only_the_http_helper_calls_urlopen() -> None:
    stray = [c for c in urlopen_calls(HARNESS) if c.rsplit(":", 1)[0] not in ALLOWED]
    assert not stray, "use harness.httpclient.call / call_json instead of:\n" + "\n".join(stray)


def test_the_check_finds_a_stray_urlopen(tmp_path: Path) -> None:
    package = tmp_path / "harness" / "scenario"
    package.mkdir(parents=True)
    (package / "bad.py").write_text(
        "import urllib.request\n\ndef f(u):\n    return urllib.request.urlopen(u).read()\n"
    )
    (package / "good.py").write_text("from harness.httpclient import call\n")
    assert urlopen_calls(tmp_path / "harness") == ["harness/scenario/bad.py:4"]
