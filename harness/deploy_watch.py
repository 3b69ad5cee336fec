"""``harness deploy --watch STACK_DIR``: deploy, then follow the stack's files as they change.

What a change does (:func:`plan_changes`), decided per saved file:

* a file of a function's code folder (``CodeUri``) or of a layer it uses (``ContentUri``): that
  function's execution environments are swapped in place (the runtime drains its warm pool:
  :meth:`harness.runtime.core.Runtime.swap_code`), so the next invocation starts on the code now
  on disk; an invocation running meanwhile ends on the old code. No redeploy: nothing else of
  the stack is touched. Python functions run from their code folder itself, so any edit, new or
  deleted module is picked up this way;
* a file *added or deleted* in a layer, or at the top of a Node.js function's built artifact
  (both are trees of links made at deploy time), and a dependency file (``requirements.txt``,
  ``package.json``, ``package-lock.json``) of a function or layer: a redeploy, which rebuilds that
  function's artifact (the build cache keeps the others);
* the template (``template.yaml``) or ``harness.yaml``: a redeploy, as ``harness deploy`` does it:
  unchanged resources are left alone, so tables and queues keep their data. The seed hook of
  harness.yaml runs with the first deploy only;
* anything else (a README, the state folder, editor temporary files): ignored.

A redeploy that fails (a template error) is printed and the previous deployment keeps serving;
the next save tries again. File events come from ``watchfiles`` (inotify; changes are grouped
until 30 ms pass without one). Prior art: aws-sam-cli's ``sam sync --watch``
(``samcli/lib/sync/watch_manager.py``: code changes sync the function only, template changes
redeploy the stack).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.model import DeployedStack

if TYPE_CHECKING:
    from harness.env.environment import Environment

__all__ = ["WatchPlan", "plan_changes", "watch_paths", "watch_stack"]

logger = logging.getLogger(__name__)

DEPENDENCY_FILES = frozenset({"requirements.txt", "package.json", "package-lock.json"})
STACK_FILES = frozenset({"harness.yaml"})
DEBOUNCE_MS = 400  # at most this long grouping one burst of saves
STEP_MS = 30  # a burst ends after this long without a change


@dataclass
class WatchPlan:
    """What one group of file changes asks for."""

    redeploy: list[str] = field(default_factory=list)  # why (one line per file)
    swap: dict[str, list[str]] = field(default_factory=dict)  # function name -> changed files
    ignored: list[str] = field(default_factory=list)


def _under(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def plan_changes(
    changes: Iterable[tuple[str, str]], stack: DeployedStack, template_path: str
) -> WatchPlan:
    """``changes``: ``(kind, path)`` with kind ``added``/``modified``/``deleted``."""
    plan = WatchPlan()
    template = os.path.realpath(template_path)
    stack_dir = os.path.realpath(stack.stack_dir)
    for kind, raw in sorted(set(changes), key=lambda change: (change[1], change[0])):
        path = os.path.realpath(raw)
        name = os.path.basename(path)
        rel = os.path.relpath(path, stack_dir) if _under(path, stack_dir) else path
        if path == template or (name in STACK_FILES and os.path.dirname(path) == stack_dir):
            plan.redeploy.append(f"{rel} changed")
            continue
        owners: list[str] = []
        rebuild = ""
        for spec in stack.functions.values():
            code = os.path.realpath(spec.code_dir)
            layers = [os.path.realpath(layer) for layer in spec.layers]
            in_code = _under(path, code)
            layer = next((layer for layer in layers if _under(path, layer)), None)
            if not in_code and layer is None:
                continue
            owners.append(spec.name)
            if name in DEPENDENCY_FILES:
                rebuild = f"{rel}: dependencies of {spec.logical_id} changed (rebuild)"
            elif kind != "modified" and layer is not None and not in_code:
                rebuild = f"{rel} {kind} in a layer of {spec.logical_id} (its /opt is rebuilt)"
            elif (
                kind != "modified"
                and spec.task_root
                and os.path.dirname(path) == code
                and os.path.realpath(spec.task_root) != code
            ):
                rebuild = f"{rel} {kind} in {spec.logical_id}'s code (its artifact is rebuilt)"
        if rebuild:
            plan.redeploy.append(rebuild)
        elif owners:
            for owner in owners:
                plan.swap.setdefault(owner, []).append(rel)
        else:
            plan.ignored.append(rel)
    return plan


def watch_paths(stack: DeployedStack, template_path: str) -> list[str]:
    """The folders to watch: the stack folder, and code and layer folders outside it."""
    roots = [os.path.realpath(stack.stack_dir)]
    extra = {os.path.dirname(os.path.realpath(template_path))}
    for spec in stack.functions.values():
        extra.add(os.path.realpath(spec.code_dir))
        extra.update(os.path.realpath(layer) for layer in spec.layers)
    for folder in sorted(extra):
        if os.path.isdir(folder) and not any(_under(folder, root) for root in roots):
            roots.append(folder)
    return roots


def watch_stack(
    env: Environment,
    stack_dir: Path,
    params: dict[str, str],
    *,
    allow_unsupported: bool,
    stack: DeployedStack,
    out: Callable[[str], None] = print,
    stop_event: Any = None,
) -> int:
    """Follow ``stack_dir`` after ``stack`` was deployed from it, until interrupted."""
    import watchfiles

    from harness.deploy.engine import deploy_stack
    from harness.errors import DeployError, HarnessError
    from harness.runtime.client import RuntimeClient

    url = env.endpoints.get("runtime_url")
    runtime = RuntimeClient(str(url)) if url else None
    state_dir = os.path.realpath(env.state_dir)
    template_path = stack.template_path or str(stack_dir / "template.yaml")

    def keep(change: watchfiles.Change, path: str) -> bool:
        real = os.path.realpath(path)
        return not _under(real, state_dir) and watchfiles.DefaultFilter()(change, path)

    while True:
        roots = watch_paths(stack, template_path)
        out(f"watching {', '.join(roots)} (Ctrl-C to stop)")
        redeploy = False
        for changes in watchfiles.watch(
            *roots,
            watch_filter=keep,
            debounce=DEBOUNCE_MS,
            step=STEP_MS,
            stop_event=stop_event,
            raise_interrupt=False,
        ):
            seen = time.perf_counter()
            plan = plan_changes(((c.name, p) for c, p in changes), stack, template_path)
            if plan.redeploy:
                out("redeploying: " + "; ".join(plan.redeploy))
                try:
                    stack = deploy_stack(
                        env, stack_dir, params, seed=False, allow_unsupported=allow_unsupported
                    )
                except (DeployError, HarnessError) as exc:
                    out(f"redeploy FAILED (the previous deployment keeps serving): {exc}")
                    continue
                took = (time.perf_counter() - seen) * 1000
                out(f"redeployed stack {stack.name} in {took:.0f} ms")
                redeploy = True
                break  # the code and layer folders may have changed: watch them anew
            if plan.swap:
                if runtime is None:
                    out("no function runtime in this environment: nothing to swap")
                    continue
                try:
                    runtime.swap_code(sorted(plan.swap))
                except (OSError, RuntimeError) as exc:
                    out(f"swap FAILED: {exc}")
                    continue
                took = (time.perf_counter() - seen) * 1000
                for name, files in sorted(plan.swap.items()):
                    out(f"swapped {name} ({', '.join(sorted(set(files)))}) in {took:.0f} ms")
            for rel in plan.ignored:
                logger.debug("ignored change: %s", rel)
        if not redeploy:
            return 0
