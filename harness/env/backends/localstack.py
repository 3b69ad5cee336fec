"""The LocalStack backend: an existing LocalStack, or LocalStack 4.14.0 started with Docker.

LocalStack 4.14.0 is the last image that starts without an auth token; set
``LOCALSTACK_AUTH_TOKEN`` to use a newer one (``HARNESS_LOCALSTACK_IMAGE``). Without a URL and
without a Docker engine this backend refuses at once, before starting anything.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from harness.env.backends.base import Backend
from harness.env.components import StartContext, start_redis
from harness.env.process import reserve_port
from harness.errors import BackendError
from harness.httpclient import HttpClientError, call

__all__ = ["LocalStackBackend", "docker_available"]

logger = logging.getLogger(__name__)
TOKEN_FREE_IMAGE = "localstack/localstack:4.14.0"


def docker_available() -> tuple[bool, str]:
    """Whether a Docker engine answers (not just a client on PATH), and why not."""
    try:
        import docker
    except ImportError:
        return (
            False,
            "the Python package `docker` is not installed (pip install 'harness[localstack]')",
        )
    try:
        client = docker.from_env(timeout=3)
        client.ping()
        return True, "ok"
    except Exception as exc:  # docker raises many kinds; any means "no engine"
        return False, f"no Docker engine answers ({exc.__class__.__name__}: {str(exc)[:160]})"


def _localstack_health(url: str) -> dict[str, Any]:
    try:
        return dict(call("GET", url.rstrip("/") + "/_localstack/health", timeout=5).json({}))
    except (HttpClientError, ValueError, TypeError) as exc:
        reason = exc.reason if isinstance(exc, HttpClientError) else exc
        raise BackendError(
            f"LocalStack at {url} does not answer /_localstack/health ({reason}).",
            fix="start LocalStack (e.g. `docker compose -f docker-compose.localstack.yml up -d`) "
            "or correct --localstack-url / HARNESS_LOCALSTACK_URL.",
        ) from exc


class LocalStackBackend(Backend):
    name = "localstack"

    def start(
        self, ctx: StartContext, state_dir_containers: list[dict[str, str]]
    ) -> dict[str, Any]:
        url = ctx.settings.localstack_url
        if url:
            health = _localstack_health(url)
            logger.info("using LocalStack at %s (%s)", url, health.get("version", "?"))
            redis = start_redis(ctx, reserve_port(ctx.settings.redis_port, "redis"))
            assert redis.endpoint
            return {
                "redis_url": redis.endpoint,
                "services": {"default": url.rstrip("/")},
                "emulator": f"localstack {health.get('version', '')}".strip(),
                "external": {"localstack": url},
            }
        ok, why = docker_available()
        if not ok:
            raise BackendError(
                f"The localstack backend needs either a running LocalStack or a Docker engine, and "
                f"neither is available: no --localstack-url / HARNESS_LOCALSTACK_URL was given and {why}.",
                fix="pass --localstack-url http://127.0.0.1:4566 for an existing LocalStack, start "
                "Docker, or use the default backend (`harness up --backend embedded`).",
            )
        return self._start_containers(ctx, state_dir_containers)

    def _start_containers(
        self, ctx: StartContext, containers: list[dict[str, str]]
    ) -> dict[str, Any]:
        # testcontainers' reaper would remove the containers when `harness up` exits.
        os.environ["TESTCONTAINERS_RYUK_DISABLED"] = "true"
        from testcontainers.localstack import LocalStackContainer
        from testcontainers.redis import RedisContainer

        image = ctx.settings.localstack_image
        token = os.environ.get("LOCALSTACK_AUTH_TOKEN")
        if image != TOKEN_FREE_IMAGE and not token:
            raise BackendError(
                f"LocalStack image {image} needs LOCALSTACK_AUTH_TOKEN; {TOKEN_FREE_IMAGE} is the last "
                "image that starts without one.",
                fix=f"set LOCALSTACK_AUTH_TOKEN, or use HARNESS_LOCALSTACK_IMAGE={TOKEN_FREE_IMAGE}.",
            )
        localstack = LocalStackContainer(image=image, region_name=ctx.settings.region)
        localstack.with_env("SQS_DISABLE_CLOUDWATCH_METRICS", "1")
        if token:
            localstack.with_env("LOCALSTACK_AUTH_TOKEN", token)
        localstack.start(timeout=int(ctx.settings.start_timeout))
        containers.append({"name": "localstack", "id": localstack.get_wrapped_container().id})
        redis = RedisContainer("redis:7-alpine")
        redis.start()
        containers.append({"name": "redis", "id": redis.get_wrapped_container().id})
        redis_url = f"redis://{redis.get_container_host_ip()}:{redis.get_exposed_port(6379)}/0"
        return {
            "redis_url": redis_url,
            "services": {"default": localstack.get_url()},
            "emulator": image,
            "external": {},
        }

    def stop_containers(self, containers: list[dict[str, str]]) -> None:
        if not containers:
            return
        import docker

        client = docker.from_env(timeout=10)
        for item in reversed(containers):
            try:
                client.containers.get(item["id"]).remove(force=True, v=True)
            except Exception as exc:  # already gone is fine
                logger.info("container %s (%s): %s", item["name"], item["id"][:12], exc)
