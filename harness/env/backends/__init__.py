"""Backends: who provides the AWS APIs. A named registry with lazy factories.

``"embedded"`` (default) runs DynamoDB Local and a services emulator as local processes;
``"localstack"`` uses an existing LocalStack URL or starts LocalStack 4.14.0 with Docker.
"""

from __future__ import annotations

from collections.abc import Callable

from harness.env.backends.base import Backend

__all__ = ["Backend", "get_backend"]


def _embedded() -> Backend:
    from harness.env.backends.embedded import EmbeddedBackend

    return EmbeddedBackend()


def _localstack() -> Backend:
    from harness.env.backends.localstack import LocalStackBackend

    return LocalStackBackend()


_REGISTRY: dict[str, Callable[[], Backend]] = {"embedded": _embedded, "localstack": _localstack}


def get_backend(name: str) -> Backend:
    from harness.errors import ConfigError

    try:
        return _REGISTRY[name]()
    except KeyError:
        raise ConfigError(
            f"unknown backend '{name}'.",
            source="--backend / HARNESS_BACKEND",
            fix=f"use one of: {', '.join(sorted(_REGISTRY))}.",
        ) from None
