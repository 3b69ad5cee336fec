"""harness.deploy_watch.plan_changes: which saved file swaps code, redeploys, or is ignored."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.deploy_watch import WatchPlan, plan_changes, watch_paths
from harness.model import DeployedStack, FunctionSpec


def _stack(root: Path) -> DeployedStack:
    for folder in ("src/api", "src/worker", "src/web", "layer", "artifact", "outside"):
        (root / folder).mkdir(parents=True, exist_ok=True)

    def fn(logical_id: str, code: Path, **kwargs: Any) -> FunctionSpec:
        kwargs.setdefault("runtime", "python3.11")
        return FunctionSpec(
            logical_id=logical_id,
            name=f"stack-{logical_id}",
            arn="",
            handler="app.handler",
            code_dir=str(code),
            **kwargs,
        )

    return DeployedStack(
        name="stack",
        stack_dir=str(root),
        template_path=str(root / "template.yaml"),
        deployed_at=0.0,
        functions={
            "Api": fn("Api", root / "src/api", layers=[str(root / "layer")]),
            "Worker": fn("Worker", root / "src/worker", layers=[str(root / "layer")]),
            "Web": fn(
                "Web", root / "src/web", runtime="nodejs20.x", task_root=str(root / "artifact")
            ),
        },
    )


def _plan(root: Path, *changes: tuple[str, str]) -> WatchPlan:
    stack = _stack(root)
    return plan_changes(
        [(kind, str(root / rel)) for kind, rel in changes], stack, stack.template_path
    )


def test_code_edits_swap_only_their_function(tmp_path: Path) -> None:
    plan = _plan(tmp_path, ("modified", "src/api/app.py"), ("added", "src/api/pkg/new.py"))
    assert plan.redeploy == []
    assert plan.swap == {"stack-Api": ["src/api/app.py", "src/api/pkg/new.py"]}


def test_layer_edit_swaps_every_function_using_it(tmp_path: Path) -> None:
    plan = _plan(tmp_path, ("modified", "layer/python/shared.py"))
    assert sorted(plan.swap) == ["stack-Api", "stack-Worker"]
    assert plan.redeploy == []


def test_layer_file_added_or_deleted_redeploys(tmp_path: Path) -> None:
    plan = _plan(tmp_path, ("added", "layer/python/new.py"))
    assert plan.swap == {}
    assert "layer/python/new.py added in a layer" in plan.redeploy[0]


def test_dependency_files_redeploy(tmp_path: Path) -> None:
    for rel in ("src/worker/requirements.txt", "layer/requirements.txt", "src/web/package.json"):
        plan = _plan(tmp_path, ("modified", rel))
        assert plan.swap == {}, rel
        assert "dependencies of" in plan.redeploy[0], rel


def test_node_artifact_top_level_added_redeploys_but_edit_swaps(tmp_path: Path) -> None:
    assert _plan(tmp_path, ("added", "src/web/new.js")).redeploy
    plan = _plan(tmp_path, ("modified", "src/web/index.js"))
    assert plan.swap == {"stack-Web": ["src/web/index.js"]}


def test_template_and_profile_redeploy_other_files_are_ignored(tmp_path: Path) -> None:
    plan = _plan(tmp_path, ("modified", "template.yaml"), ("modified", "harness.yaml"))
    assert plan.redeploy == ["harness.yaml changed", "template.yaml changed"]
    plan = _plan(tmp_path, ("modified", "README.md"), ("added", ".harness/logs/x.log"))
    assert plan.redeploy == [] and plan.swap == {}
    assert plan.ignored == [".harness/logs/x.log", "README.md"]


def test_watch_paths_add_code_outside_the_stack_folder(tmp_path: Path) -> None:
    stack = _stack(tmp_path / "app")
    outside = tmp_path / "shared-layer"
    outside.mkdir()
    stack.functions["Api"].layers.append(str(outside))
    assert watch_paths(stack, stack.template_path) == [str(tmp_path / "app"), str(outside)]
