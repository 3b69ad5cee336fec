"""The harness's locustfile, for joining a harness load run with Locust's own command line:

    locust --worker -f "$(python -c 'import harness.load.locustfile as m; print(m.__file__)')" \
        --master-host 10.0.0.5 --master-port 5557

is the same as ``harness load-worker --master 10.0.0.5:5557``: the worker connects to the
harness's master (``harness load --expect-workers N``), which sends it its share of the run
through custom messages (:class:`harness.load.attach.Attachment`). Only Locust loads this file.
"""

from __future__ import annotations

from typing import Any

from locust import User, constant, events, task
from locust.runners import WorkerRunner


def _on_init(environment: Any, **_: Any) -> None:
    if isinstance(environment.runner, WorkerRunner):
        from harness.load.attach import attach

        attach(environment)


events.init.add_listener(_on_init)  # type: ignore[no-untyped-call]  # Locust is untyped here


class HarnessIdle(User):
    """Locust insists on one user class; the harness's master never asks a worker to spawn it
    (the harness's generators make the requests)."""

    wait_time = constant(1)

    @task
    def idle(self) -> None:
        pass
