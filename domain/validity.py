"""When a cheque of a given millésime may be spent, in Europe/Paris time.

A millésime N cheque is valid from 1 January N 00:00 to the end of 31 December N,
plus a grace period in months (nationally one month: to the end of 31 January N+1).
Bounds are returned as aware UTC datetimes: [valid_from, valid_until) half-open.
Days are Europe/Paris calendar days: `paris_today()` is the one "today" of the API and
its pages (never of workflow code, which reads `workflow.now()`).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from domain import clock

PARIS = ZoneInfo("Europe/Paris")
DEFAULT_GRACE_MONTHS = 1
EXPIRY_WARNING_DAYS: tuple[int, ...] = (30, 15, 7)


def _paris_midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=PARIS).astimezone(UTC)


def valid_from(millesime: int) -> datetime:
    return _paris_midnight(date(millesime, 1, 1))


def valid_until(millesime: int, grace_months: int = DEFAULT_GRACE_MONTHS) -> datetime:
    """First instant at which the cheque is no longer valid (exclusive bound)."""
    if grace_months < 0:
        raise ValueError("grace_months must be >= 0")
    year = millesime + 1 + grace_months // 12
    month = 1 + grace_months % 12
    return _paris_midnight(date(year, month, 1))


def last_valid_day(millesime: int, grace_months: int = DEFAULT_GRACE_MONTHS) -> date:
    """Last calendar day (Europe/Paris) on which the cheque may be spent."""
    return last_day_before(valid_until(millesime, grace_months))


def last_day_before(bound: datetime) -> date:
    """The last Europe/Paris day before an exclusive bound (a journey's `valid_until`)."""
    return (bound.astimezone(PARIS) - timedelta(days=1)).date()


def is_valid_on(day: date, millesime: int, grace_months: int = DEFAULT_GRACE_MONTHS) -> bool:
    """Whether a session held on `day` (a Europe/Paris calendar day) may be paid with it."""
    return date(millesime, 1, 1) <= day <= last_valid_day(millesime, grace_months)


def expiry_warnings(
    millesime: int, grace_months: int = DEFAULT_GRACE_MONTHS
) -> list[tuple[int, datetime]]:
    """(days_before, instant) for each warning before expiry, earliest first."""
    # Count calendar days in Paris: subtracting 24 h periods would land at 23:00 or 01:00
    # when a DST change lies between the warning and the end.
    end_day = last_valid_day(millesime, grace_months) + timedelta(days=1)
    return [
        (d, _paris_midnight(end_day - timedelta(days=d)))
        for d in sorted(EXPIRY_WARNING_DAYS, reverse=True)
    ]


def paris_day(instant: datetime) -> date:
    """The Europe/Paris calendar day of an aware instant."""
    return instant.astimezone(PARIS).date()


def paris_month(instant: datetime) -> int:
    """YYYYMM of the Europe/Paris month of an aware instant (the overview's month filter)."""
    day = paris_day(instant)
    return day.year * 100 + day.month


def paris_today(now: datetime | None = None) -> date:
    """Today in Europe/Paris: at `now` (an aware instant) if given, else by `domain.clock`."""
    return paris_day(now if now is not None else clock.now())


def format_date_fr(day: date | datetime) -> str:
    """dd/mm/yyyy, in Europe/Paris for instants."""
    if isinstance(day, datetime):
        day = paris_day(day)
    return day.strftime("%d/%m/%Y")
