"""Which millésime a new booklet takes on a given day, within the programme's period."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.millesimes import (
    OFFER_NEXT_DAYS,
    ProgrammePeriod,
    issuing_stops_on,
    millesimes_offered,
)

OPEN = ProgrammePeriod(date(2020, 1, 1), None)
GRACE, STOP = 1, 30


def offered(day: date, period: ProgrammePeriod = OPEN) -> tuple[int, ...]:
    return millesimes_offered(day, period, GRACE, STOP).offered


def test_issuing_of_a_millesime_stops_thirty_days_before_its_last_valid_day() -> None:
    # Valid to 31/01/2027: the last day it is handed out is 01/01/2027.
    assert issuing_stops_on(2026, GRACE, STOP) == date(2027, 1, 2)
    assert issuing_stops_on(2026, 0, STOP) == date(2026, 12, 2)


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (date(2026, 3, 15), (2026,)),
        (date(2026, 11, 2), (2026,)),  # the day before next year's is offered
        (date(2026, 11, 3), (2026, 2027)),  # 60 days before 02/01/2027
        (date(2026, 12, 31), (2026, 2027)),
        (date(2027, 1, 1), (2027,)),  # New Year's Day: the new millésime, valid today
        (date(2027, 1, 2), (2027,)),
    ],
)
def test_this_year_then_next_year_beside_it_near_the_end(
    day: date, expected: tuple[int, ...]
) -> None:
    assert offered(day) == expected


def test_the_default_is_this_years_millesime_while_it_is_handed_out() -> None:
    assert millesimes_offered(date(2026, 12, 31), OPEN, GRACE, STOP).default == 2026
    assert millesimes_offered(date(2027, 1, 1), OPEN, GRACE, STOP).default == 2027


def test_nothing_outside_the_programme_period() -> None:
    period = ProgrammePeriod(date(2021, 3, 1), date(2022, 12, 31))
    assert offered(date(2021, 2, 28), period) == ()
    assert offered(date(2021, 3, 1), period) == (2021,)
    # Near the end of 2022, 2023 is outside the period: not offered.
    assert offered(date(2022, 12, 15), period) == (2022,)
    assert offered(date(2023, 1, 1), period) == ()
    assert millesimes_offered(date(2023, 1, 1), period, GRACE, STOP).default is None


@given(st.dates(date(2021, 1, 1), date(2060, 12, 31)))
def test_every_day_of_an_open_programme_offers_a_booklet_that_is_not_yet_stopped(
    day: date,
) -> None:
    choice = millesimes_offered(day, OPEN, GRACE, STOP)
    assert choice.default is not None
    for millesime in choice.offered:
        assert millesime in (day.year, day.year + 1)
        assert day < issuing_stops_on(millesime, GRACE, STOP)
    next_offered = day >= issuing_stops_on(day.year, GRACE, STOP) - timedelta(OFFER_NEXT_DAYS)
    assert (day.year + 1 in choice.offered) == next_offered
