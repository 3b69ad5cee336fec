"""Sending records to destinations and dead-letter targets (SQS, SNS, EventBridge, Lambda).

Blocking boto3 calls: the runtime runs them in a thread pool, pollers call them directly.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from typing import Any

from harness.aws import client_for

__all__ = ["AwsClients", "arn_parts"]

logger = logging.getLogger(__name__)


def arn_parts(arn: str) -> tuple[str, str, str, str]:
    """``(service, region, account, resource)`` of an ARN."""
    parts = arn.split(":", 5)
    if len(parts) < 6 or parts[0] != "arn":
        raise ValueError(f"not an ARN: {arn!r}")
    return parts[2], parts[3], parts[4], parts[5]


class AwsClients:
    """Thread-safe cache of boto3 clients against the environment's endpoints."""

    def __init__(self, endpoints: dict[str, Any]) -> None:
        self.endpoints = endpoints
        self._clients: dict[tuple[str, bool], Any] = {}
        self._queue_urls: dict[str, str] = {}
        self._lock = threading.Lock()
        # Set by the runtime: deliver to one of our own functions (async invoke).
        self.invoke_function: Callable[[str, bytes], None] | None = None

    @property
    def region(self) -> str:
        return str(self.endpoints.get("region", "us-east-1"))

    @property
    def account(self) -> str:
        return str(self.endpoints.get("account_id", "000000000000"))

    def client(self, service: str, *, direct: bool = False) -> Any:
        key = (service, direct)
        with self._lock:
            found = self._clients.get(key)
            if found is None:
                from botocore.config import Config

                found = client_for(
                    self.endpoints,
                    service,
                    direct=direct,
                    config=Config(
                        retries={"max_attempts": 3, "mode": "standard"},
                        max_pool_connections=64,
                        connect_timeout=5,
                        read_timeout=60,
                    ),
                )
                self._clients[key] = found
            return found

    def sqs_fast(self) -> Any:
        """The lean JSON client for receive/delete, straight to the SQS engine (not the edge)."""
        with self._lock:
            found = self._clients.get(("sqs-json", True))
            if found is None:
                from harness.runtime.pollers.sqs_client import SqsJsonClient

                services = self.endpoints.get("services") or {}
                url = (
                    services.get("sqs") or services.get("default") or self.endpoints["aws_endpoint"]
                )
                found = SqsJsonClient(str(url), self.region)
                self._clients[("sqs-json", True)] = found
            return found

    def queue_url(self, queue_arn: str) -> str:
        with self._lock:
            url = self._queue_urls.get(queue_arn)
        if url is None:
            _, _, account, name = arn_parts(queue_arn)
            url = self.client("sqs").get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)[
                "QueueUrl"
            ]
            with self._lock:
                self._queue_urls[queue_arn] = url
        return url

    def queue_arn(self, queue_url: str) -> str:
        name = queue_url.rstrip("/").rsplit("/", 1)[-1]
        account = queue_url.rstrip("/").rsplit("/", 2)[-2]
        if not account.isdigit():
            account = self.account
        return f"arn:aws:sqs:{self.region}:{account}:{name}"

    def send(
        self,
        arn: str,
        record: Any,
        *,
        attributes: dict[str, str] | None = None,
        success: bool = False,
    ) -> None:
        """Deliver ``record`` (JSON-able, or raw bytes/str for a dead-letter queue) to ``arn``."""
        service, _, _, resource = arn_parts(arn)
        body = (
            record.decode()
            if isinstance(record, bytes)
            else record
            if isinstance(record, str)
            else json.dumps(record)
        )
        attrs = {k: {"DataType": "String", "StringValue": v} for k, v in (attributes or {}).items()}
        if service == "sqs":
            self.client("sqs").send_message(
                QueueUrl=self.queue_url(arn), MessageBody=body, MessageAttributes=attrs
            )
        elif service == "sns":
            self.client("sns").publish(TopicArn=arn, Message=body, MessageAttributes=attrs)
        elif service == "lambda":
            if self.invoke_function is None:
                raise RuntimeError("no runtime to invoke a destination function")
            name = resource.split(":", 2)[1] if resource.startswith("function:") else resource
            self.invoke_function(name, body.encode())
        elif service == "events":
            bus = resource.split("/", 1)[1] if "/" in resource else "default"
            detail_type = (
                "Lambda Function Invocation Result - Success"
                if success
                else "Lambda Function Invocation Result - Failure"
            )
            self.client("events").put_events(
                Entries=[
                    {
                        "Source": "lambda",
                        "DetailType": detail_type,
                        "Detail": body,
                        "EventBusName": bus if bus != "default" else "default",
                    }
                ]
            )
        else:
            raise ValueError(f"unsupported destination {arn!r}")
