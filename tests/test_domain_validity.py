"""Millésime validity in Europe/Paris: bounds, grace period, warnings, DST."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.validity import (
    DEFAULT_GRACE_MONTHS,
    expiry_warnings,
    format_date_fr,
    is_valid_on,
    last_day_before,
    last_valid_day,
    paris_day,
    paris_today,
    valid_from,
    valid_until,
)

PARIS = ZoneInfo("Europe/Paris")
millesimes = st.integers(2000, 2100)
graces = st.integers(0, 36)


def paris(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=PARIS)


def test_millesime_2021_national_rule() -> None:
    assert DEFAULT_GRACE_MONTHS == 1
    assert valid_from(2021) == paris(2021, 1, 1)
    assert valid_from(2021) == datetime(2020, 12, 31, 23, tzinfo=UTC)
    assert valid_until(2021) == paris(2022, 2, 1)
    assert valid_until(2021) == datetime(2022, 1, 31, 23, tzinfo=UTC)
    assert last_valid_day(2021) == date(2022, 1, 31)


def test_bounds_are_utc_aware() -> None:
    assert valid_from(2021).tzinfo == UTC
    assert valid_until(2021).tzinfo == UTC


@pytest.mark.parametrize(
    ("grace", "end", "last_day"),
    [
        (0, paris(2022, 1, 1), date(2021, 12, 31)),
        (1, paris(2022, 2, 1), date(2022, 1, 31)),
        (2, paris(2022, 3, 1), date(2022, 2, 28)),
        (11, paris(2022, 12, 1), date(2022, 11, 30)),
        (12, paris(2023, 1, 1), date(2022, 12, 31)),
        (13, paris(2023, 2, 1), date(2023, 1, 31)),
    ],
)
def test_grace_is_configurable(grace: int, end: datetime, last_day: date) -> None:
    assert valid_until(2021, grace) == end
    assert last_valid_day(2021, grace) == last_day


def test_negative_grace_is_refused() -> None:
    with pytest.raises(ValueError):
        valid_until(2021, -1)


@pytest.mark.parametrize(
    ("day", "grace", "valid"),
    [
        (date(2020, 12, 31), 1, False),
        (date(2021, 1, 1), 1, True),
        (date(2021, 12, 31), 1, True),
        (date(2022, 1, 31), 1, True),
        (date(2022, 2, 1), 1, False),
        (date(2021, 12, 31), 0, True),
        (date(2022, 1, 1), 0, False),
        (date(2023, 1, 31), 13, True),
        (date(2023, 2, 1), 13, False),
    ],
)
def test_is_valid_on_boundaries(day: date, grace: int, valid: bool) -> None:
    assert is_valid_on(day, 2021, grace) is valid


@given(millesimes, graces)
def test_bounds_are_paris_midnights_whatever_the_season(millesime: int, grace: int) -> None:
    start = valid_from(millesime).astimezone(PARIS)
    end = valid_until(millesime, grace).astimezone(PARIS)
    assert (start.month, start.day, start.hour, start.minute) == (1, 1, 0, 0)
    assert (end.day, end.hour, end.minute) == (1, 0, 0)
    # The instant bounds and the calendar-day rule agree.
    assert paris_day(end - timedelta(microseconds=1)) == last_valid_day(millesime, grace)
    assert paris_day(end) == last_valid_day(millesime, grace) + timedelta(days=1)


@given(millesimes, graces, st.integers(-400, 1200))
def test_calendar_day_rule_matches_instant_bounds(millesime: int, grace: int, offset: int) -> None:
    day = date(millesime, 1, 1) + timedelta(days=offset)
    noon = datetime(day.year, day.month, day.day, 12, tzinfo=PARIS)
    inside = valid_from(millesime) <= noon < valid_until(millesime, grace)
    assert is_valid_on(day, millesime, grace) is inside


def test_expiry_warnings_default() -> None:
    warnings = expiry_warnings(2021)
    assert [d for d, _ in warnings] == [30, 15, 7]
    assert [paris_day(at) for _, at in warnings] == [
        date(2022, 1, 2),
        date(2022, 1, 17),
        date(2022, 1, 25),
    ]
    assert all(at.astimezone(PARIS).hour == 0 for _, at in warnings)
    assert [at for _, at in warnings] == sorted(at for _, at in warnings)


@given(millesimes, graces)
def test_expiry_warnings_fall_on_paris_midnight_across_dst(millesime: int, grace: int) -> None:
    """J-30/J-15/J-7 are calendar days before the end, even when a DST change lies between."""
    end = valid_until(millesime, grace)
    end_day = paris_day(end)
    for days_before, at in expiry_warnings(millesime, grace):
        local = at.astimezone(PARIS)
        assert local.date() == end_day - timedelta(days=days_before)
        assert (local.hour, local.minute) == (0, 0)
        assert at < end


def test_dst_days_are_ordinary_days() -> None:
    # 27 March 2022 (23 h) and 30 October 2022 (25 h) in Paris.
    assert is_valid_on(date(2022, 3, 27), 2022)
    assert is_valid_on(date(2022, 10, 30), 2022)
    assert paris_day(datetime(2022, 3, 26, 23, 30, tzinfo=UTC)) == date(2022, 3, 27)
    assert paris_day(datetime(2022, 10, 30, 22, 59, tzinfo=UTC)) == date(2022, 10, 30)
    assert paris_day(datetime(2022, 10, 30, 23, 0, tzinfo=UTC)) == date(2022, 10, 31)


def test_format_date_fr() -> None:
    assert format_date_fr(date(2022, 1, 31)) == "31/01/2022"
    # 31 January 23:30 UTC is already 1 February in Paris.
    assert format_date_fr(datetime(2022, 1, 31, 23, 30, tzinfo=UTC)) == "01/02/2022"
    assert format_date_fr(valid_until(2021)) == "01/02/2022"


@given(millesimes, graces)
def test_last_valid_day_is_the_day_before_the_exclusive_bound(millesime: int, grace: int) -> None:
    assert last_day_before(valid_until(millesime, grace)) == last_valid_day(millesime, grace)


@pytest.mark.parametrize(
    ("now", "today"),
    [
        (datetime(2026, 12, 31, 22, 59, tzinfo=UTC), date(2026, 12, 31)),
        (datetime(2026, 12, 31, 23, 0, tzinfo=UTC), date(2027, 1, 1)),  # Paris: UTC+1
        (datetime(2026, 7, 14, 22, 0, tzinfo=UTC), date(2026, 7, 15)),  # Paris: UTC+2
    ],
)
def test_paris_today_at_a_given_instant(now: datetime, today: date) -> None:
    assert paris_today(now) == today


def test_paris_today_by_the_clock_is_paris_day_of_now() -> None:
    before = paris_day(datetime.now(UTC))
    assert paris_today() in (before, before + timedelta(days=1))
