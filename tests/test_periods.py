"""Calendar periods (``paperboy.periods``): parsing, bounds, neighbours and time zones, with no web involved."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from paperboy import periods
from paperboy.periods import PeriodError


def test_each_kind_names_a_closed_day_range() -> None:
    assert periods.period("date", "2007-04-02").since == date(2007, 4, 2)
    week = periods.period("week", "2007-W14")
    assert (week.since, week.until, week.label) == (date(2007, 4, 2), date(2007, 4, 8), "week of 2 April 2007")
    month = periods.period("month", "2024-02")
    assert (month.since, month.until, month.label) == (date(2024, 2, 1), date(2024, 2, 29), "February 2024")
    assert periods.period("month", "2023-12").until == date(2023, 12, 31)
    assert periods.parse() is None and periods.parse(week="2007-W14") == week


@pytest.mark.parametrize("kind, value", [
    ("week", "9999-W52"), ("date", "9999-12-31"), ("month", "9999-12"), ("date", "0001-01-01"),
    ("week", "2007-W99"), ("week", "2007-W00"), ("date", "2007-02-30"), ("month", "2007-13"), ("month", "2007-4"),
    ("date", "２００７-04-02"), ("week", "2007W14"), ("date", ""), ("year", "2007"),
])
def test_bad_or_out_of_range_periods_are_clear_errors(kind: str, value: str) -> None:
    with pytest.raises(PeriodError) as err:
        periods.period(kind, value)
    assert str(err.value)


def test_at_most_one_period() -> None:
    with pytest.raises(PeriodError, match="at most one"):
        periods.parse(date_="2007-04-02", month="2007-04")


def test_periods_around_a_day_and_at_the_edges() -> None:
    around = periods.around(date(2021, 1, 1))  # ISO week 53 of 2020
    assert around["week"].value == "2020-W53" and around["week"].since == date(2020, 12, 28)
    assert around["month"].until == date(2021, 1, 31)
    last = periods.around(date(periods.LAST_YEAR, 12, 1))
    assert periods.period("week", last["week"].value) == last["week"]


def test_today_depends_on_the_time_zone() -> None:
    now = datetime(2024, 3, 1, 23, 30, tzinfo=UTC)
    assert periods.today("UTC", now) == date(2024, 3, 1)
    assert periods.today("Asia/Tokyo", now) == date(2024, 3, 2)
    assert periods.today("America/Los_Angeles", now) == date(2024, 3, 1)
    with pytest.raises(PeriodError, match="time zone"):
        periods.today("Mars/Olympus_Mons", now)
    assert periods.anchor(date(2999, 1, 1)) == periods.today()  # never after today
    assert periods.anchor(date(2001, 1, 1)) == date(2001, 1, 1)


PERIOD_TEXT = st.one_of(
    st.text(max_size=20),
    st.from_regex(r"\A-?\d{1,6}-W?\d{1,3}(-\d{1,3})?\Z"),
    st.dates().map(date.isoformat),
)


@given(kind=st.sampled_from(periods.KINDS), value=PERIOD_TEXT)
def test_any_text_is_a_period_or_a_period_error(kind: str, value: str) -> None:
    try:
        p = periods.period(kind, value)
    except PeriodError:
        return
    assert p.since.year >= periods.FIRST_YEAR and p.until.year <= periods.LAST_YEAR and p.since <= p.until
    assert periods.period(p.kind, p.value) == p
