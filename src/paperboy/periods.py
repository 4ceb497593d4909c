"""Calendar periods: a day, an ISO week or a month, named the way URLs name them.

Trending views, the digest and feeds all ask "which papers appeared in this window?"; this module is the one
place that turns ``date=2007-04-02``, ``week=2007-W14`` or ``month=2007-04`` into a closed day range, finds the
periods around a day, and says what "today" is in a time zone.  It knows nothing about the web: callers turn a
:class:`PeriodError` into their own error (the web answers 400).

Every parsed day is bounded to years :data:`FIRST_YEAR`..:data:`LAST_YEAR`: wide enough for any paper's date,
narrow enough that a window and its neighbours never leave Python's date range or an index's timestamp range
(``week=9999-W52`` once ended in an ``OverflowError``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

FIRST_YEAR = 1000
LAST_YEAR = 2999
KINDS = ("date", "week", "month")

Kind = Literal["date", "week", "month"]

_DAY = re.compile(r"^([0-9]{4})-([0-9]{2})-([0-9]{2})$")  # ASCII digits: int() reads others too
_WEEK = re.compile(r"^([0-9]{4})-W([0-9]{2})$")
_MONTH = re.compile(r"^([0-9]{4})-([0-9]{2})$")
_FORMATS = {"date": "YYYY-MM-DD", "week": "YYYY-Www", "month": "YYYY-MM"}


class PeriodError(ValueError):
    """A period or day that cannot be read, or lies outside the supported years; the message is for people."""


@dataclass(frozen=True, slots=True)
class Period:
    """A day, ISO week or month: ``kind`` and ``value`` as URLs write them, ``since``..``until`` inclusive."""

    kind: Kind
    value: str  # "2007-04-02", "2007-W14", "2007-04"
    since: date
    until: date

    @property
    def label(self) -> str:
        """How a heading names the period ("2 April 2007", "week of 2 April 2007", "April 2007")."""
        if self.kind == "date":
            return self.since.strftime("%-d %B %Y")
        if self.kind == "week":
            return f"week of {self.since.strftime('%-d %B %Y')}"
        return self.since.strftime("%B %Y")

    def as_dict(self) -> dict:
        return {"kind": self.kind, "value": self.value, "label": self.label, "since": self.since.isoformat(),
                "until": self.until.isoformat()}


def _year(text: str, what: str, value: str) -> int:
    year = int(text)
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise PeriodError(f"{what} {value[:40]!r} is out of range: years {FIRST_YEAR} to {LAST_YEAR} only")
    return year


def parse_day(text: str, what: str = "date") -> date:
    """A ``YYYY-MM-DD`` day within the supported years."""
    m = _DAY.match(text.strip())
    if not m:
        raise PeriodError(f"{what} must be a date written YYYY-MM-DD, not {text[:40]!r}")
    year = _year(m[1], what, text)
    try:
        return date(year, int(m[2]), int(m[3]))
    except ValueError:
        raise PeriodError(f"{what} {text[:40]!r} is not a day of the calendar") from None


def _month_end(start: date) -> date:
    return date(start.year + (start.month == 12), start.month % 12 + 1, 1) - timedelta(days=1)


def period(kind: str, value: str) -> Period:
    """The period ``kind`` (date, week or month) written ``value``."""
    value = value.strip()
    if kind not in KINDS:
        raise PeriodError(f"a period is a date, week or month, not {kind[:20]!r}")
    if kind == "date":
        day = parse_day(value)
        return Period("date", value, day, day)
    pattern = _WEEK if kind == "week" else _MONTH
    m = pattern.match(value)
    if not m:
        raise PeriodError(f"invalid {kind} ({_FORMATS[kind]}): {value[:40]!r}")
    year = _year(m[1], kind, value)
    try:
        if kind == "week":
            start = date.fromisocalendar(year, int(m[2]), 1)
            return Period("week", value, start, start + timedelta(days=6))
        start = date(year, int(m[2]), 1)
    except ValueError:
        raise PeriodError(f"invalid {kind} ({_FORMATS[kind]}): {value[:40]!r}") from None
    return Period("month", value, start, _month_end(start))


def parse(date_: str | None = None, week: str | None = None, month: str | None = None) -> Period | None:
    """The period named by at most one of ``date``, ``week`` and ``month`` (None when none is given)."""
    given = [(k, v) for k, v in zip(KINDS, (date_, week, month), strict=True) if v]
    if len(given) > 1:
        raise PeriodError("give at most one of date, week and month")
    return period(*given[0]) if given else None


def around(anchor: date) -> dict[str, Period]:
    """The day, ISO week and month containing ``anchor``, by kind."""
    year, week, weekday = anchor.isocalendar()
    week_start = anchor - timedelta(days=weekday - 1)
    month_start = anchor.replace(day=1)
    return {
        "date": Period("date", anchor.isoformat(), anchor, anchor),
        "week": Period("week", f"{year}-W{week:02d}", week_start, week_start + timedelta(days=6)),
        "month": Period("month", anchor.strftime("%Y-%m"), month_start, _month_end(month_start)),
    }


def zone(name: str) -> tzinfo:
    """An IANA time zone ("Europe/Paris", "UTC") by name."""
    if name.upper() == "UTC":
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise PeriodError(f"unknown time zone {name[:60]!r}") from None


def today(tz: str | tzinfo = UTC, now: datetime | None = None) -> date:
    """The calendar day it is now in ``tz`` (a reader's "today" is not the server's)."""
    when = now or datetime.now(UTC)
    return when.astimezone(zone(tz) if isinstance(tz, str) else tz).date()


def anchor(newest: date | None, tz: str | tzinfo = UTC) -> date:
    """The day "today / this week / this month" are about: the newest paper's day, never after today."""
    now = today(tz)
    return min(newest, now) if newest else now
