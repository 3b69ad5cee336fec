"""Shared by every Sync Hub function: table names, ids, validation, the API's error type."""

from __future__ import annotations

import json
import os
import re
import secrets
import time
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

TABLES = ("settings", "bookmarks", "groups", "group_members", "sessions")
PUBLIC_TENANT = "_public"  # tenant ids start with a letter or digit: no tenant is called this
DEVICE_TENANT = "_device"  # pending device-flow grants, before they belong to anyone

_TENANT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


class ApiError(Exception):
    """An answer other than success: ``status``, a machine-readable ``code`` and a message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def table_name(kind: str) -> str:
    return os.environ[f"{kind.upper()}_TABLE"]


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def now() -> float:
    return time.time()


def new_id() -> str:
    return secrets.token_hex(8)


def valid_tenant(value: object) -> bool:
    return isinstance(value, str) and bool(_TENANT.fullmatch(value))


def valid_id(value: object) -> bool:
    return isinstance(value, str) and bool(_ID.fullmatch(value))


def valid_key(value: object) -> bool:
    return isinstance(value, str) and bool(_KEY.fullmatch(value))


def plain(value: Any) -> Any:
    """DynamoDB's Decimals and sets as JSON values."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [plain(v) for v in value]
    return value


def dumps(value: Any) -> str:
    return json.dumps(plain(value), separators=(",", ":"), ensure_ascii=False)
