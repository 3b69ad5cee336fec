"""Loading stacks: prefixes, reload on change, a broken stack file does not take the rest down."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

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


def test_a_redeploy_is_served_from_the_next_request(tmp_path: Path) -> None:
    """Destroy + deploy within the once-a-second interval: the next request sees the new stack
    (it used to be routed to the destroyed stack's functions for up to a second: HTTP 500)."""
    registry = Registry(tmp_path, check_interval=60.0)
    build_stack(GATEWAY, "shop").save(tmp_path)
    assert registry.maybe_reload() is True and "shop" in registry.stacks
    os.unlink(tmp_path / "stacks" / "shop.json")
    assert registry.maybe_reload() is True and registry.stacks == {}
    build_stack(GATEWAY, "shop").save(tmp_path)
    assert registry.maybe_reload() is True and "shop" in registry.stacks


def test_a_settled_folder_costs_one_stat_until_the_interval(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry = Registry(tmp_path, check_interval=60.0)
    build_stack(GATEWAY, "shop").save(tmp_path)
    past = time.time() - 10
    os.utime(tmp_path / "stacks", (past, past))
    registry.maybe_reload()  # loads, and the folder's time is old enough to trust

    def full_comparison() -> tuple[object, ...]:
        raise AssertionError("compared every file although the folder did not change")

    monkeypatch.setattr(registry, "_current_signature", full_comparison)
    (tmp_path / "state.json").write_text(json.dumps({"endpoints": {"runtime_url": "http://x"}}))
    assert registry.maybe_reload() is False  # state.json is looked at once per interval
    monkeypatch.undo()
    registry._next_check = 0.0
    assert registry.maybe_reload() is True and registry.endpoints["runtime_url"] == "http://x"


def test_a_folder_changed_within_a_clock_tick_is_compared_in_full(tmp_path: Path) -> None:
    """A folder time too recent to tell a later change in the same tick apart is not trusted:
    each request compares the files until it settles."""
    registry = Registry(tmp_path, check_interval=60.0)
    build_stack(GATEWAY, "shop").save(tmp_path)
    registry.maybe_reload()
    now = time.time()
    os.utime(tmp_path / "stacks", (now, now))
    registry.maybe_reload()
    assert registry._folder_mtime is None  # not settled
    stack_file = tmp_path / "stacks" / "shop.json"
    stack_file.write_text(stack_file.read_text().replace('"HttpApi"', '"HttpApi2"', 1))
    os.utime(tmp_path / "stacks", (now, now))  # the same folder time: only a full look sees it
    assert registry.maybe_reload() is True
