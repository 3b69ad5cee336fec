"""Request bodies (pydantic, unknown fields refused: the organisation comes from the token)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "MAX_UPLOAD_BYTES",
    "CancelBody",
    "ChangePlanBody",
    "DocumentBody",
    "ExportBody",
    "InviteBody",
    "NotificationPrefs",
    "Preferences",
    "SubscriptionBody",
]

MAX_UPLOAD_BYTES = 100 * 1024 * 1024  # the seed's maximum upload: 100 MB

Plan = Literal["basic", "pro", "enterprise"]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class InviteBody(_Body):
    username: str = Field(min_length=3, max_length=64, pattern=r"^[a-z0-9][a-z0-9._-]*$")
    email: str = Field(min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    role: Literal["admin", "member"] = "member"


class NotificationPrefs(_Body):
    email: bool = True
    sms: bool = False


class Preferences(_Body):
    language: str = Field("en", min_length=2, max_length=10, pattern=r"^[a-zA-Z-]+$")
    timezone: str = Field("UTC", min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_+/-]+$")
    notifications: NotificationPrefs = Field(default_factory=NotificationPrefs)
    phone: str | None = Field(None, pattern=r"^\+[1-9][0-9]{6,14}$")


class SubscriptionBody(_Body):
    plan: Plan


class ChangePlanBody(_Body):
    plan: Plan


class CancelBody(_Body):
    reason: str = Field("", max_length=500)


class DocumentBody(_Body):
    name: str = Field(min_length=1, max_length=255, pattern=r"^[^/\\\x00-\x1f]+$")
    contentType: str = Field(
        "application/octet-stream", max_length=127, pattern=r"^[\w.+-]+/[\w.+-]+$"
    )
    size: int = Field(gt=0, le=MAX_UPLOAD_BYTES)


class ExportBody(_Body):
    dataset: Literal["invoices", "subscriptions", "payments"] = "invoices"
