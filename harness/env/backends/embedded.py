"""The default backend: no Docker, no account. Every piece is a local process.

Each service goes to the engine whose cost per operation stays flat as data grows
(``harness bench data-size``):

- DynamoDB and DynamoDB Streams: DynamoDB Local (the AWS jar, on Java).
- SQS, SNS and EventBridge: LocalStack's own implementations, run on the host without Docker
  and served by its Twisted server (``env/localstack_main.py``; half Hypercorn's CPU per call).
  Its SQS keeps visible messages in a heap; ministack's scans the whole queue on every receive.
  SNS and EventBridge go with SQS so that their deliveries land in the same queues.
  ``HARNESS_SQS_ENGINE=ministack`` keeps them on ministack instead (about as cheap per call on
  shallow queues, 12x dearer to receive from at depth 10,000).
- Everything else (S3, SSM, Secrets Manager, STS, IAM, CloudWatch Logs, Cognito...): the services
  emulator named by ``HARNESS_EMULATOR`` (default ``ministack``).
"""

from __future__ import annotations

import os
from typing import Any

from harness.env.backends.base import Backend
from harness.env.components import (
    EMULATORS,
    StartContext,
    start_dynamodb_local,
    start_localstack_host,
    start_redis,
)
from harness.env.process import reserve_port
from harness.errors import ConfigError

__all__ = ["EmbeddedBackend"]

DEFAULT_EMULATOR = "ministack"
SQS_ENGINES = ("localstack", "ministack")
MESSAGING = ("sqs", "sns", "events")


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
        sqs_engine = os.environ.get("HARNESS_SQS_ENGINE", "localstack")
        if sqs_engine not in SQS_ENGINES:
            raise ConfigError(
                f"unknown SQS engine '{sqs_engine}'.",
                source="HARNESS_SQS_ENGINE",
                fix=f"use one of: {', '.join(SQS_ENGINES)}.",
            )
        redis_port = reserve_port(ctx.settings.redis_port, "redis")
        redis = start_redis(ctx, redis_port, wait=False)
        dynamodb = start_dynamodb_local(ctx, reserve_port(0, "dynamodb"), wait=False)
        services = factory(ctx, reserve_port(0, "services emulator"), False)
        routes = {"dynamodb": dynamodb.endpoint, "dynamodbstreams": dynamodb.endpoint}
        if sqs_engine == "localstack":
            messaging = start_localstack_host(
                ctx, reserve_port(0, "localstack"), MESSAGING, wait=False
            )
            routes.update({service: messaging.endpoint for service in MESSAGING})
        ctx.wait_all()
        assert redis.endpoint and services.endpoint
        return {
            "redis_url": redis.endpoint,
            "services": {**routes, "default": services.endpoint},
            "emulator": f"{emulator} + localstack (sqs, sns, events)"
            if sqs_engine == "localstack"
            else emulator,
            "external": {},
        }
