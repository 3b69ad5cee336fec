"""The contract every backend fulfils."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from harness.env.components import StartContext

__all__ = ["Backend"]


class Backend(ABC):
    """Starts the AWS side of an environment (and Redis) and says where each service lives."""

    name: str

    @abstractmethod
    def start(
        self, ctx: StartContext, state_dir_containers: list[dict[str, str]]
    ) -> dict[str, Any]:
        """Start the pieces, appending every process to ``ctx.records`` (and every container to
        ``state_dir_containers``) as soon as it exists, so a failure half-way can be cleaned up.

        Returns the endpoints: ``redis_url``, ``services`` (service name -> direct emulator URL,
        with a ``default`` entry) and ``external`` (URLs of things we use but did not start).
        """

    def stop_containers(self, containers: list[dict[str, str]]) -> None:  # noqa: B027
        """Remove the containers this backend started (only the Docker flavour has any)."""
