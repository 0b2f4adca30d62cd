"""Which millésime a new booklet takes, and when a programme takes referrals at all.

A programme runs over a period (its first day, and its last day once decided). Its
booklets are year-stamped: on a given Europe/Paris day the booklet takes that year's
millésime while it may still be handed out (issuing stops `stop_days` before its last
valid day, journey_rules.check_booklet); within `offer_next_days` of that stop, the page
also offers next year's, whose cheques start on 1 January. A millésime outside the
programme's period is never offered. Pure: callers pass today's day.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from domain.validity import last_valid_day

# Two months before issuing of a millésime stops (early November for a January grace
# month), a booklet of next year's is offered beside it: a person starting then has
# little time left to spend this year's cheques.
OFFER_NEXT_DAYS = 60


@dataclass(frozen=True)
class ProgrammePeriod:
    starts_on: date
    ends_on: date | None  # None: not decided yet

    def includes(self, day: date) -> bool:
        return self.starts_on <= day and (self.ends_on is None or day <= self.ends_on)

    def has_year(self, year: int) -> bool:
        return self.starts_on.year <= year and (self.ends_on is None or year <= self.ends_on.year)


def issuing_stops_on(millesime: int, grace_months: int, stop_days: int) -> date:
    """The first Europe/Paris day on which a booklet of `millesime` is no longer handed out."""
    return last_valid_day(millesime, grace_months) + timedelta(days=1 - stop_days)


@dataclass(frozen=True)
class MillesimeChoice:
    """The millésimes a new booklet may take today, the default first (empty: none)."""

    offered: tuple[int, ...]

    @property
    def default(self) -> int | None:
        return self.offered[0] if self.offered else None


def millesimes_offered(
    today: date,
    period: ProgrammePeriod,
    grace_months: int,
    stop_days: int,
    offer_next_days: int = OFFER_NEXT_DAYS,
) -> MillesimeChoice:
    """This year's millésime while it is handed out, then next year's (offered beside it
    near the end); none outside the programme's period."""
    if not period.includes(today):
        return MillesimeChoice(())
    offered: list[int] = []
    this_year = today.year
    stops = issuing_stops_on(this_year, grace_months, stop_days)
    if today < stops:
        offered.append(this_year)
    if today >= stops - timedelta(days=offer_next_days):
        offered.append(this_year + 1)
    return MillesimeChoice(tuple(m for m in offered if period.has_year(m)))
