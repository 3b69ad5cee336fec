"""Plans, prices and the arithmetic of a plan change (pure: unit-tested without AWS).

Prices are per month in cents. An upgrade takes effect at once and is charged pro rata for the
rest of the period; a downgrade takes effect at the end of the period (no refund), as most
PayPal-billed SaaS products do.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

__all__ = ["PERIOD", "PLANS", "PlanChange", "next_period_end", "plan_change", "price_of"]

PLANS: dict[str, int] = {"basic": 900, "pro": 2900, "enterprise": 9900}
PERIOD = timedelta(days=30)


def price_of(plan: str) -> int:
    if plan not in PLANS:
        raise ValueError(f"unknown plan {plan!r}; one of {', '.join(PLANS)}")
    return PLANS[plan]


@dataclass(frozen=True)
class PlanChange:
    direction: str  # "upgrade", "downgrade" or "unchanged"
    amount_cents: int  # charged now (upgrades), 0 otherwise
    effective: str  # "now" or "period_end"


def plan_change(current: str, new: str, period_end: datetime | None, now: datetime) -> PlanChange:
    """What moving from ``current`` to ``new`` costs now and when it takes effect."""
    old_price, new_price = price_of(current), price_of(new)
    if new_price == old_price:
        return PlanChange("unchanged", 0, "now")
    if new_price < old_price:
        return PlanChange("downgrade", 0, "period_end")
    remaining = (period_end - now) if period_end is not None else PERIOD
    fraction = max(0.0, min(1.0, remaining / PERIOD))
    return PlanChange("upgrade", round((new_price - old_price) * fraction), "now")


def next_period_end(current: datetime | None, now: datetime | None = None) -> datetime:
    """The end of the next billing period: one period after the current end (or after now, if
    the subscription has no period or it lapsed)."""
    now = now or datetime.now(UTC)
    base = current if current is not None and current > now else now
    return base + PERIOD
