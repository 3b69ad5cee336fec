"""PayPal-shaped webhooks: the event model and the transmission signature.

PayPal signs ``<transmission id>|<transmission time>|<webhook id>|<CRC32 of the raw body>``;
this stack verifies that string with a shared secret (``PAYPAL-AUTH-ALGO: HMACSHA256``,
``PAYPAL-TRANSMISSION-SIG`` = base64 of the HMAC-SHA256) instead of PayPal's certificate chain,
which cannot be fetched offline. Transmissions older than ``MAX_AGE_S`` are refused (replays).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import zlib
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "ALGORITHM",
    "MAX_AGE_S",
    "SignatureError",
    "WebhookEvent",
    "sign",
    "signed_string",
    "verify",
]

ALGORITHM = "HMACSHA256"
MAX_AGE_S = 300


class SignatureError(Exception):
    """The transmission is not signed by the shared secret (or is stale)."""


class WebhookEvent(BaseModel):
    """The fields of a PayPal webhook event this stack reads (others are kept as sent)."""

    model_config = ConfigDict(extra="allow")

    id: str = Field(min_length=3, max_length=128, pattern=r"^[A-Za-z0-9._:-]+$")
    event_type: str = Field(min_length=3, max_length=128, pattern=r"^[A-Z0-9._]+$")
    resource_type: str = Field("", max_length=64)
    create_time: str = Field("", max_length=64)
    resource: dict[str, Any]

    def subscription_ref(self) -> str | None:
        """The PayPal subscription (``I-...``) the event is about."""
        if self.event_type.startswith("BILLING.SUBSCRIPTION."):
            value = self.resource.get("id")
        else:
            value = self.resource.get("billing_agreement_id")
        return str(value) if value else None

    def sale_ref(self) -> str | None:
        """The sale a ``PAYMENT.SALE.REFUNDED`` refund gives money back for."""
        value = self.resource.get("sale_id") if self.event_type == "PAYMENT.SALE.REFUNDED" else None
        return str(value) if value else None

    def amount_cents(self) -> tuple[int | None, str | None]:
        amount = self.resource.get("amount") or (
            (self.resource.get("billing_info") or {}).get("last_failed_payment") or {}
        ).get("amount")
        if not isinstance(amount, dict):
            return None, None
        total = amount.get("total") or amount.get("value")
        try:
            cents = round(float(str(total)) * 100)
        except ValueError:
            return None, None
        return cents, str(amount.get("currency") or amount.get("currency_code") or "USD")


def signed_string(
    transmission_id: str, transmission_time: str, webhook_id: str, body: bytes
) -> str:
    return f"{transmission_id}|{transmission_time}|{webhook_id}|{zlib.crc32(body)}"


def sign(
    secret: str, transmission_id: str, transmission_time: str, webhook_id: str, body: bytes
) -> str:
    message = signed_string(transmission_id, transmission_time, webhook_id, body)
    digest = hmac.new(secret.encode(), message.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def _parse_time(text: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise SignatureError("PAYPAL-TRANSMISSION-TIME is not an ISO 8601 time") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def verify(
    headers: dict[str, str], body: bytes, secret: str, webhook_id: str, now: datetime | None = None
) -> None:
    """Raise ``SignatureError`` unless the headers (lower-case names) sign ``body``."""
    transmission_id = headers.get("paypal-transmission-id", "")
    transmission_time = headers.get("paypal-transmission-time", "")
    signature = headers.get("paypal-transmission-sig", "")
    if not (transmission_id and transmission_time and signature):
        raise SignatureError("PAYPAL-TRANSMISSION-ID, -TIME and -SIG are required")
    if headers.get("paypal-auth-algo", ALGORITHM).upper() != ALGORITHM:
        raise SignatureError(f"PAYPAL-AUTH-ALGO must be {ALGORITHM}")
    age = ((now or datetime.now(UTC)) - _parse_time(transmission_time)).total_seconds()
    if abs(age) > MAX_AGE_S:
        raise SignatureError(f"the transmission is {age:.0f} s old (at most {MAX_AGE_S})")
    expected = sign(secret, transmission_id, transmission_time, webhook_id, body)
    if not hmac.compare_digest(expected.encode(), signature.encode()):
        raise SignatureError("the signature does not match")
