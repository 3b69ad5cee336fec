"""The default backend: no Docker, no account. Every piece is a local process.

DynamoDB and DynamoDB Streams go to DynamoDB Local (the AWS jar, on Java), whose cost per
operation stays flat as tables grow; every other service goes to the services emulator named by
``HARNESS_EMULATOR`` (default ``ministack``). See ``benchmarks/bench_data_size.py`` for the numbers
behind this choice.
"""

from __future__ import annotations

import os
from typing import Any

from harness.env.backends.base import Backend
from harness.env.components import EMULATORS, StartContext, start_dynamodb_local, start_redis
from harness.env.process import reserve_port
from harness.errors import ConfigError

__all__ = ["EmbeddedBackend"]

DEFAULT_EMULATOR = "ministack"


class EmbeddedBackend(Backend):
    name = "embedded"

    def start(
        self, ctx: StartContext, state_dir_containers: list[dict[str, str]]
    ) -> dict[str, Any]:
        emulator = os.environ.get("HARNESS_EMULATOR", DEFAULT_EMULATOR)
        factory = EMULATORS.get(f"emulator:{emulator}")
        if factory is None:
            names = ", ".join(sorted(name.split(":", 1)[1] for name in EMULATORS))
            raise ConfigError(
                f"unknown services emulator '{emulator}'.",
                source="HARNESS_EMULATOR",
                fix=f"use one of: {names}.",
            )
        redis_port = reserve_port(ctx.settings.redis_port, "redis")
        redis = start_redis(ctx, redis_port, wait=False)
        dynamodb = start_dynamodb_local(ctx, reserve_port(0, "dynamodb"), wait=False)
        services = factory(ctx, reserve_port(0, "services emulator"), False)
        ctx.wait_all()
        assert redis.endpoint and dynamodb.endpoint and services.endpoint
        return {
            "redis_url": redis.endpoint,
            "services": {
                "dynamodb": dynamodb.endpoint,
                "dynamodbstreams": dynamodb.endpoint,
                "default": services.endpoint,
            },
            "emulator": emulator,
            "external": {},
        }
