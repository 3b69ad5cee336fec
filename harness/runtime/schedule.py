"""EventBridge schedule expressions: ``rate(5 minutes)`` and six-field ``cron(...)``, in UTC.

``parse_schedule(expr).next_after(ts)`` gives the next fire time after ``ts`` (epoch seconds).
Cron follows EventBridge: fields are minutes, hours, day-of-month, month, day-of-week, year;
one of day-of-month/day-of-week must be ``?``; ``L`` (last day of month), ``nW`` (nearest
weekday), ``d#n`` (n-th weekday of the month), ``dL`` (last weekday d of the month), names
``JAN``-``DEC`` and ``SUN``-``SAT`` (1 = Sunday), ranges, lists and ``/`` steps are supported.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

__all__ = ["CronSchedule", "RateSchedule", "ScheduleError", "parse_schedule"]


class ScheduleError(ValueError):
    """A schedule expression EventBridge would reject."""


_RATE = re.compile(r"^rate\(\s*(\d+)\s+(minute|minutes|hour|hours|day|days)\s*\)$")
_UNIT_S = {"minute": 60, "hour": 3600, "day": 86400}
_MONTHS = {m.upper(): i for i, m in enumerate(calendar.month_abbr) if m}
_DAYS = {"SUN": 1, "MON": 2, "TUE": 3, "WED": 4, "THU": 5, "FRI": 6, "SAT": 7}


@dataclass(frozen=True)
class RateSchedule:
    seconds: int

    def next_after(self, ts: float, start: float | None = None) -> float:
        """Next tick after ``ts`` of a clock that started at ``start`` (default: ``ts``)."""
        origin = ts if start is None else start
        if ts < origin:
            return origin + self.seconds
        periods = int((ts - origin) // self.seconds) + 1
        return origin + periods * self.seconds


def _parse_rate(expr: str) -> RateSchedule:
    match = _RATE.match(expr)
    if not match:
        raise ScheduleError(f"invalid rate expression {expr!r}")
    value, unit = int(match.group(1)), match.group(2)
    if value <= 0:
        raise ScheduleError(f"rate must be positive in {expr!r}")
    if (value == 1) != (not unit.endswith("s")):
        raise ScheduleError(f"use the singular unit for 1 and the plural otherwise in {expr!r}")
    return RateSchedule(value * _UNIT_S[unit.rstrip("s")])


def _values(field: str, low: int, high: int, names: dict[str, int] | None = None) -> set[int]:
    """Expand ``*``, ``a-b``, ``a/n``, ``a-b/n`` and ``x,y,z`` within ``low..high``."""
    result: set[int] = set()

    def number(text: str) -> int:
        text = text.upper()
        if names and text in names:
            return names[text]
        if not text.isdigit():
            raise ScheduleError(f"invalid value {text!r}")
        value = int(text)
        if not low <= value <= high:
            raise ScheduleError(f"value {value} out of range {low}-{high}")
        return value

    for part in field.split(","):
        step = 1
        if "/" in part:
            part, step_text = part.split("/", 1)
            if not step_text.isdigit() or int(step_text) == 0:
                raise ScheduleError(f"invalid step in {field!r}")
            step = int(step_text)
        if part in ("*", ""):
            start, end = low, high
        elif "-" in part:
            a, b = part.split("-", 1)
            start, end = number(a), number(b)
        else:
            start = number(part)
            end = high if step > 1 else start
        if start > end:
            raise ScheduleError(f"invalid range in {field!r}")
        result.update(range(start, end + 1, step))
    return result


@dataclass(frozen=True)
class CronSchedule:
    minutes: frozenset[int]
    hours: frozenset[int]
    dom: str
    months: frozenset[int]
    dow: str
    years: frozenset[int] | None

    def _day_matches(self, day: datetime) -> bool:
        last = calendar.monthrange(day.year, day.month)[1]
        weekday = (day.weekday() + 1) % 7 + 1  # Python Mon=0 → EventBridge Sun=1..Sat=7
        if self.dom != "?":
            return _dom_matches(self.dom, day, last)
        if self.dow != "?":
            return _dow_matches(self.dow, day, weekday, last)
        return True

    def next_after(self, ts: float, start: float | None = None) -> float:
        moment = datetime.fromtimestamp(ts, UTC).replace(second=0, microsecond=0)
        moment += timedelta(minutes=1)
        day = moment.replace(hour=0, minute=0)
        for _ in range(366 * 6):
            in_year = self.years is None or day.year in self.years
            if in_year and day.month in self.months and self._day_matches(day):
                for hour in sorted(self.hours):
                    for minute in sorted(self.minutes):
                        candidate = day.replace(hour=hour, minute=minute)
                        if candidate >= moment:
                            return candidate.timestamp()
            day += timedelta(days=1)
        raise ScheduleError("the cron expression never fires in the next years")


def _dom_matches(field: str, day: datetime, last: int) -> bool:
    if field == "*":
        return True
    if field == "L":
        return day.day == last
    if field.endswith("W"):
        target = int(field[:-1])
        target = min(target, last)
        candidate = day.replace(day=target)
        if candidate.weekday() == 5:  # Saturday → Friday (or Monday on the 1st)
            candidate = (
                candidate - timedelta(days=1) if target > 1 else candidate + timedelta(days=2)
            )
        elif candidate.weekday() == 6:  # Sunday → Monday (or Friday on the last day)
            candidate = (
                candidate + timedelta(days=1) if target < last else candidate - timedelta(days=2)
            )
        return day.day == candidate.day
    return day.day in _values(field, 1, 31)


def _dow_matches(field: str, day: datetime, weekday: int, last: int) -> bool:
    if field == "*":
        return True
    if "#" in field:
        wd, nth = field.split("#", 1)
        target = _values(wd, 1, 7, _DAYS)
        return weekday in target and (day.day - 1) // 7 + 1 == int(nth)
    if field.endswith("L") and len(field) > 1:
        target = _values(field[:-1], 1, 7, _DAYS)
        return weekday in target and day.day + 7 > last
    return weekday in _values(field, 1, 7, _DAYS)


def _parse_cron(expr: str) -> CronSchedule:
    inner = expr[len("cron(") : -1].strip()
    parts = inner.split()
    if len(parts) != 6:
        raise ScheduleError(f"cron needs 6 fields (min hour dom month dow year), got {expr!r}")
    minute, hour, dom, month, dow, year = parts
    if (dom == "?") == (dow == "?"):
        raise ScheduleError(f"exactly one of day-of-month and day-of-week must be '?' in {expr!r}")
    try:
        schedule = CronSchedule(
            minutes=frozenset(_values(minute, 0, 59)),
            hours=frozenset(_values(hour, 0, 23)),
            dom=dom.upper(),
            months=frozenset(_values(month, 1, 12, _MONTHS)),
            dow=dow.upper(),
            years=None if year == "*" else frozenset(_values(year, 1970, 2199)),
        )
        # Validate the day fields once.
        probe = datetime(2026, 1, 1, tzinfo=UTC)
        schedule._day_matches(probe)
    except ScheduleError as exc:
        raise ScheduleError(f"{exc} in {expr!r}") from None
    return schedule


def parse_schedule(expr: str) -> RateSchedule | CronSchedule:
    text = expr.strip()
    if text.startswith("rate(") and text.endswith(")"):
        return _parse_rate(text)
    if text.startswith("cron(") and text.endswith(")"):
        return _parse_cron(text)
    raise ScheduleError(f"unknown schedule expression {expr!r} (use rate(...) or cron(...))")
