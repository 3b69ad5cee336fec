"""Loading stacks: prefixes, reload on change, a broken stack file does not take the rest down."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from harness.gateway.registry import Registry
from tests.fixtures.gateway.stack import build_stack

GATEWAY = "http://127.0.0.1:9"


def test_prefixes_and_lookup(tmp_path: Path) -> None:
    build_stack(GATEWAY, "shop").save(tmp_path)
    registry = Registry(tmp_path)
    registry.reload()
    api, rest = registry.find("/shop/HttpApi/items/1")
    assert api is not None and api.spec.logical_id == "HttpApi" and rest == "/items/1"
    api, rest = registry.find("/shop/RestApi/prod/pets/1")
    assert api is not None and api.spec.kind == "rest" and rest == "/pets/1"
    assert registry.find("/shop/RestApi/dev/pets/1") == (None, "")
    assert registry.find("/shop/HttpApi")[1] == "/"
    assert registry.find("/nope") == (None, "")
    assert registry.find("/") == (None, "")


def test_broken_stack_file_is_reported_and_skipped(tmp_path: Path) -> None:
    build_stack(GATEWAY, "good").save(tmp_path)
    (tmp_path / "stacks" / "bad.json").write_text("{not json")
    registry = Registry(tmp_path)
    registry.reload()
    assert "good" in registry.stacks
    assert any("bad.json" in e for e in registry.errors)


def test_reload_only_when_something_changed(tmp_path: Path) -> None:
    registry = Registry(tmp_path, check_interval=0.0)
    registry.reload()
    generation = registry.generation
    assert registry.maybe_reload() is False
    build_stack(GATEWAY, "late").save(tmp_path)
    assert registry.maybe_reload() is True and registry.generation == generation + 1
    assert "late" in registry.stacks
    (tmp_path / "state.json").write_text(json.dumps({"endpoints": {"runtime_url": "http://x"}}))
    assert registry.maybe_reload() is True
    assert registry.endpoints["runtime_url"] == "http://x"
    os.unlink(tmp_path / "stacks" / "late.json")
    assert registry.maybe_reload() is True and registry.stacks == {}


def test_checks_at_most_once_per_interval(tmp_path: Path) -> None:
    registry = Registry(tmp_path, check_interval=60.0)
    registry.maybe_reload()
    build_stack(GATEWAY, "late").save(tmp_path)
    started = time.monotonic()
    assert registry.maybe_reload() is False  # within the interval: not even a stat
    assert time.monotonic() - started < 0.01
