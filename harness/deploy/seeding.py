"""The seed hook a stack declares in ``harness.yaml`` (``fixtures.module`` / ``fixtures.function``).

After every successful deploy, ``harness deploy`` loads the file (fresh, by path) and calls::

    seed(env: harness.Environment, stack: harness.model.DeployedStack,
         fakes: Mapping[str, str]) -> object

``fakes`` maps each fake server's name to its base URL (``stack.fake_servers``). The hook runs on
every deploy, including a redeploy of an unchanged stack, so it must be idempotent: create what
is missing, leave what exists. Its return value is logged, not used.
"""

from __future__ import annotations

import importlib.util
import inspect
import logging
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.errors import DeployError
from harness.model import DeployedStack
from harness.profile import FixturesSpec

if TYPE_CHECKING:
    from harness.env.environment import Environment

__all__ = ["check_seed_hook", "load_seed_hook", "run_seed_hook"]

logger = logging.getLogger(__name__)

SIGNATURE = "seed(env, stack, fakes)"


def _path(stack_dir: Path, spec: FixturesSpec) -> Path:
    assert spec.module is not None
    return stack_dir / spec.module


def check_seed_hook(stack_dir: Path, spec: FixturesSpec, profile_file: str) -> None:
    """Before anything is deployed: the module file exists."""
    if spec.module is None:
        return
    path = _path(stack_dir, spec)
    if not path.is_file():
        raise DeployError(
            f"fixtures.module '{spec.module}' does not exist ({path}).",
            file=profile_file,
            fix="create the file, or correct fixtures.module (relative to the stack folder).",
        )


def load_seed_hook(stack_dir: Path, stack: str, spec: FixturesSpec) -> Callable[..., Any]:
    """Import the module by path (a fresh copy every time) and return the hook."""
    path = _path(stack_dir, spec)
    name = "harness_fixtures_" + re.sub(r"\W", "_", f"{stack}_{path.stem}")
    module_spec = importlib.util.spec_from_file_location(name, path)
    if module_spec is None or module_spec.loader is None:
        raise DeployError(f"cannot import {path}.", file=str(path))
    module = importlib.util.module_from_spec(module_spec)
    try:
        module_spec.loader.exec_module(module)
    except Exception as exc:
        raise DeployError(
            f"importing the seed module failed: {exc.__class__.__name__}: {exc}",
            file=str(path),
            fix="fix the module so that it imports on its own.",
        ) from exc
    hook: Callable[..., Any] | None = getattr(module, spec.function, None)
    if not callable(hook):
        raise DeployError(
            f"the seed module has no function '{spec.function}'.",
            file=str(path),
            fix=f"define {SIGNATURE} there, or set fixtures.function to the hook's name.",
        )
    try:
        inspect.signature(hook).bind(None, None, {})
    except TypeError:
        raise DeployError(
            f"'{spec.function}{inspect.signature(hook)}' cannot be called as {SIGNATURE}.",
            file=str(path),
            fix=f"give it the signature {SIGNATURE} (fakes: server name -> base URL).",
        ) from None
    return hook


def run_seed_hook(env: Environment, stack: DeployedStack, spec: FixturesSpec) -> None:
    """Call the stack's seed hook with ``(env, stack, stack.fake_servers)``."""
    if spec.module is None:
        return
    stack_dir = Path(stack.stack_dir)
    hook = load_seed_hook(stack_dir, stack.name, spec)
    started = time.perf_counter()
    try:
        result = hook(env, stack, dict(stack.fake_servers))
    except DeployError:
        raise
    except Exception as exc:
        raise DeployError(
            f"the seed hook {spec.function}() failed: {exc.__class__.__name__}: {exc}",
            file=str(_path(stack_dir, spec)),
            fix="fix the hook (it must be idempotent: it runs after every deploy), then deploy "
            "again.",
        ) from exc
    logger.info(
        "seeded %s with %s:%s in %.2f s: %r",
        stack.name,
        spec.module,
        spec.function,
        time.perf_counter() - started,
        result,
    )
