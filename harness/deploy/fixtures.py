"""A factory fixture body: deploy a stack for a test and destroy it afterwards.

with deployed_stack(env, Path("stacks/catalog")) as stack:
    requests.get(stack.apis["CatalogApi"].base_url + "/items")
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from harness.model import DeployedStack

if TYPE_CHECKING:
    from harness.env.environment import Environment

__all__ = ["deployed_stack"]

logger = logging.getLogger(__name__)


@contextlib.contextmanager
def deployed_stack(
    env: Environment,
    stack_dir: Path | str,
    params: dict[str, str] | None = None,
    *,
    seed: bool = True,
) -> Iterator[DeployedStack]:
    """Deploy ``stack_dir`` (with its fake servers and seed hook, see :func:`deploy_stack`), yield
    the :class:`DeployedStack`, destroy it (and stop its fake servers) on the way out."""
    from harness.deploy.engine import deploy_stack, destroy_stack

    stack = deploy_stack(env, Path(stack_dir), params, seed=seed)
    try:
        yield stack
    finally:
        try:
            destroy_stack(env, stack.name)
        except Exception:  # a failed cleanup must not hide the test's own failure
            logger.exception("could not destroy stack %s", stack.name)
