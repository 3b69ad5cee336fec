"""What every resource module gets (:class:`Context`) and the helpers they share.

A resource module handles one CloudFormation type (sometimes two close ones) and exposes::

    TYPES: tuple[str, ...]        the types it handles
    BACKEND: str                  who honours it ("ministack SQS", "recorded for the runtime")
    PROPERTIES: frozenset[str]    properties it applies on the backend
    RECORDED: frozenset[str]      properties accepted and only recorded (no backend effect)
    ATTRIBUTES: tuple[str, ...]   Fn::GetAtt names it supports
    def create(ctx, logical_id, props) -> ResourceRecord
    def update(ctx, old, props) -> ResourceRecord
    def delete(ctx, record) -> None

``props`` are resolved (no intrinsics left). ``ResourceRecord.physical_id`` is what ``Ref`` returns.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import DeployError
from harness.model import ResourceRecord

__all__ = ["LOCAL_CODE_BUCKET", "Context", "boolean", "random_id", "record", "unchanged_except"]

LOCAL_CODE_BUCKET = (
    "harness-local-code"  # CodeUri/ContentUri folders are passed through SAM as s3://<this>/<path>
)

logger = logging.getLogger(__name__)


@dataclass
class Context:
    """The deployment a resource module works in."""

    stack_name: str
    region: str
    account_id: str
    stack_dir: Path
    file: str
    client_factory: Callable[[str], Any]
    gateway_url: str = "http://127.0.0.1:0"
    records: dict[str, ResourceRecord] = field(default_factory=dict)
    profile: dict[str, Any] = field(default_factory=dict)
    work_dir: Path | None = None  # where inline code (ZipFile) is written
    current_type: str = ""  # the type of the resource being handled (modules serving several)
    # nested stacks (cloudformation_stack.py): deploy a child (name, template file, parameters)
    # and return its DeployedStack; destroy one by name. Set by the engine on a live deploy.
    deploy_nested: Callable[[str, Path, dict[str, str]], Any] | None = None
    destroy_nested: Callable[[str], None] | None = None
    # the stack's records before this deploy (a new Lambda version takes the next number)
    old_records: dict[str, ResourceRecord] = field(default_factory=dict)
    _clients: dict[str, Any] = field(default_factory=dict)

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = self.client_factory(service)
        return self._clients[service]

    def physical_name(
        self, logical_id: str, *, max_len: int = 128, lower: bool = False, suffix: str = ""
    ) -> str:
        """``<stack>-<LogicalId>-<8 hex>``, shortened to fit ``max_len``, like CloudFormation."""
        tail = f"-{secrets.token_hex(4)}{suffix}"
        head = f"{self.stack_name}-{logical_id}"[: max_len - len(tail)]
        name = head + tail
        return name.lower() if lower else name

    def arn(self, service: str, resource: str, *, region: bool = True, account: bool = True) -> str:
        return (
            f"arn:aws:{service}:{self.region if region else ''}:"
            f"{self.account_id if account else ''}:{resource}"
        )

    def call(self, logical_id: str, backend: str, func: Callable[..., Any], **kwargs: Any) -> Any:
        """Call the emulator; an AWS error becomes a :class:`DeployError` naming the resource."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return func(**kwargs)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            raise DeployError(
                f"{func.__name__} failed: {error.get('Code', '?')}: {error.get('Message', exc)}",
                file=self.file,
                logical_id=logical_id,
                backend=backend,
                fix="check the resource's properties against what the emulator accepts.",
            ) from exc
        except BotoCoreError as exc:
            raise DeployError(
                f"{func.__name__} failed: {exc}",
                file=self.file,
                logical_id=logical_id,
                backend=backend,
                fix="check the environment is running (`harness status`) and the properties.",
            ) from exc

    def quietly(self, func: Callable[..., Any], **kwargs: Any) -> Any:
        """A best-effort call (deletes, optional features): log and go on if it fails."""
        try:
            return func(**kwargs)
        except Exception as exc:  # best effort by design
            logger.info("%s failed (ignored): %s", getattr(func, "__name__", func), exc)
            return None


def record(
    logical_id: str,
    type_: str,
    physical_id: str,
    props: dict[str, Any],
    *,
    arn: str | None = None,
    **attributes: Any,
) -> ResourceRecord:
    return ResourceRecord(
        logical_id=logical_id,
        type=type_,
        physical_id=physical_id,
        arn=arn,
        attributes={k: v for k, v in attributes.items() if v is not None},
        properties=props,
    )


def unchanged_except(old: dict[str, Any], new: dict[str, Any], keys: set[str]) -> bool:
    """True when ``old`` and ``new`` differ only in ``keys``."""
    names = (set(old) | set(new)) - keys
    return all(old.get(k) == new.get(k) for k in names)


def random_id(length: int = 10) -> str:
    """An id shaped like API Gateway's (lower-case letters and digits)."""
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    return "".join(secrets.choice(alphabet) for _ in range(length))


def boolean(value: Any) -> bool:
    if isinstance(value, str):
        return value.lower() == "true"
    return bool(value)
