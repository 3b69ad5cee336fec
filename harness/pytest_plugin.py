"""The harness's pytest plugin (registered through the ``pytest11`` entry point).

Fixtures:

``harness_env``
    Session-scoped running :class:`harness.Environment`. By default a private one in a temporary
    state folder, started once and stopped at the end of the session; with
    ``--harness-attach`` (or ``HARNESS_ATTACH=1``) the environment already running in
    ``HARNESS_STATE_DIR``/``./.harness`` is used and left running.
``aws_client``
    Factory: ``aws_client("sqs")`` gives a boto3 client through the environment's AWS edge.
``redis_client``
    A ``redis.Redis`` connected to the environment's Redis.
``deploy_stack``
    Factory: ``deploy_stack("stacks/catalog")`` deploys a stack folder into ``harness_env`` and
    returns its :class:`harness.model.DeployedStack`; every stack deployed this way is destroyed
    at the end of the test.

Heavy imports happen inside the fixtures, so loading the plugin costs nothing.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from harness.env.environment import Environment


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("harness")
    group.addoption(
        "--harness-attach",
        action="store_true",
        default=os.environ.get("HARNESS_ATTACH", "") not in ("", "0"),
        help="use the environment already running (harness up) instead of starting a private one",
    )
    group.addoption(
        "--harness-backend",
        default=os.environ.get("HARNESS_BACKEND") or "embedded",
        help="backend of the private environment (embedded or localstack)",
    )


@pytest.fixture(scope="session")
def harness_env(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Environment]:
    from harness.config import Settings
    from harness.env.environment import Environment

    if request.config.getoption("--harness-attach"):
        env = Environment(Settings.load())
        env.refresh()
        yield env
        return
    state_dir = tmp_path_factory.mktemp("harness-state")
    settings = Settings.load(
        state_dir=state_dir, backend=request.config.getoption("--harness-backend")
    )
    with Environment(settings) as env:
        yield env


@pytest.fixture
def aws_client(harness_env: Environment) -> Callable[..., Any]:
    def make(service: str, **kwargs: Any) -> Any:
        return harness_env.client(service, **kwargs)

    return make


@pytest.fixture
def redis_client(harness_env: Environment) -> Iterator[Any]:
    client = harness_env.redis(socket_timeout=5)
    yield client
    client.close()


@pytest.fixture
def deploy_stack(harness_env: Environment) -> Iterator[Callable[..., Any]]:
    import contextlib

    from harness.deploy.fixtures import deployed_stack

    with contextlib.ExitStack() as stack:

        def deploy(stack_dir: str | os.PathLike[str], params: dict[str, str] | None = None) -> Any:
            return stack.enter_context(deployed_stack(harness_env, str(stack_dir), params))

        yield deploy
