"""`harness status`'s fix for a stack that lost resources names the folder to deploy: a nested
stack's root parent's, since a child is deployed through its parent."""

from __future__ import annotations

from types import SimpleNamespace

from harness.env.environment import redeploy_folder


def test_a_child_is_redeployed_through_its_root_parent() -> None:
    stacks = {
        "app": SimpleNamespace(parent="", stack_dir="/p/app"),
        "app-Child": SimpleNamespace(parent="app", stack_dir="/p/app/child"),
        "app-Child-Grand": SimpleNamespace(parent="app-Child", stack_dir="/p/app/child/g"),
    }
    assert redeploy_folder(stacks, "app-Child-Grand", "?") == "/p/app"
    assert redeploy_folder(stacks, "app-Child", "?") == "/p/app"
    assert redeploy_folder(stacks, "app", "?") == "/p/app"
    assert redeploy_folder(stacks, "gone", "/fallback") == "/fallback"


def test_a_parent_cycle_ends() -> None:
    stacks = {"a": SimpleNamespace(parent="b", stack_dir="/a"),
              "b": SimpleNamespace(parent="a", stack_dir="/b")}  # fmt: skip
    assert redeploy_folder(stacks, "a", "?") in ("/a", "/b")
