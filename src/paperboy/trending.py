"""Trending: the published formula (docs/trending.md), its incremental form, and "why trending" sentences.

A paper's score in a period (a UTC day, ISO week or month) is

    score = Σ over its events in the period of  weight(kind) · 2^(−(t_ref − t_event) / half_life(window))

where ``t_ref`` is now for the current period and the period's end for a past one, and only standing upvotes and
saves count (clearing one takes it back).  Because ``2^(−(t_ref − t)/h) = 2^((t − t0)/h) · 2^(−(t_ref − t0)/h)`` with
``t0`` the period's start, each event adds ``weight · 2^((t − t0)/h)`` to a stored per-period sum once, on write, and
the displayed score is that sum times one factor shared by every paper of the period: ranking needs no rescan and
no recomputation as time passes.  ``t − t0`` never exceeds a month, so the stored amounts stay small (≤ 2^4.5·w).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from paperboy import periods
from paperboy.store.events import Contribution, Counts, Events, Kind

WINDOWS: tuple[str, ...] = ("day", "week", "month")

#: Upvotes count most: a deliberate public signal.  A save is private intent; a view is cheap and easiest to game.
WEIGHTS: Mapping[Kind, float] = {Kind.UPVOTE: 3.0, Kind.SAVE: 2.0, Kind.VIEW: 0.25}

#: A quarter of each window: inside "today" the last hours matter most, inside "this month" the last week.
HALF_LIVES: Mapping[str, timedelta] = {
    "day": timedelta(hours=6), "week": timedelta(days=2), "month": timedelta(days=7),
}


#: A window's name in URLs (``window=day``) and the kind of calendar period it is in :mod:`paperboy.periods`.
PERIOD_KIND: Mapping[str, str] = {"day": "date", "week": "week", "month": "month"}


@functools.lru_cache(maxsize=4096)  # every event asks for the same few periods
def period_bounds(window: str, day: date) -> tuple[date, date]:
    """First and last day of the UTC day, ISO week (Monday first) or month containing ``day``."""
    kind = PERIOD_KIND.get(window)
    if kind is None:
        raise ValueError(f"unknown trending window {window!r} (one of {', '.join(WINDOWS)})")
    period = periods.around(day)[kind]
    return period.since, period.until


@functools.lru_cache(maxsize=4096)
def _midnight(d: date) -> datetime:
    return datetime.combine(d, time(), UTC)


@dataclass(frozen=True)
class Formula:
    """Weights and half-lives; the one place the score is defined (backends only store what it returns)."""

    weights: Mapping[Kind, float] = field(default_factory=lambda: dict(WEIGHTS))
    half_lives: Mapping[str, timedelta] = field(default_factory=lambda: dict(HALF_LIVES))

    def contributions(self, kind: Kind, at: datetime) -> list[Contribution]:
        """What an event adds to the stored sum of each window's period containing ``at``."""
        day = at.astimezone(UTC).date()
        out = []
        for window in WINDOWS:
            start, _ = period_bounds(window, day)
            growth = (at - _midnight(start)) / self.half_lives[window]
            out.append(Contribution(window, start, self.weights[kind] * 2.0 ** growth))
        return out

    def score(self, stored: float, window: str, start: date, now: datetime) -> float:
        """The displayed score of a stored sum: decayed to now, or to the period's end if it is over."""
        _, last = period_bounds(window, start)
        ref = min(max(now, _midnight(start)), _midnight(last + timedelta(days=1)))
        return stored * 2.0 ** -((ref - _midnight(start)) / self.half_lives[window])


FORMULA = Formula()


@dataclass(frozen=True)
class Item:
    """One trending paper: its row id, displayed score, the period's counts behind it, and why it is here."""

    pid: int
    score: float
    counts: Counts
    why: str


@dataclass(frozen=True)
class Ranking:
    """A page of one period's ranking.  ``items`` is empty when nobody did anything in the period; then the
    caller shows the newest papers instead and says so (``any_events`` tells whether the instance has any)."""

    window: str
    start: date
    end: date
    items: list[Item]
    total: int
    any_events: bool


def rank(events: Events, window: str, day: date, now: datetime, *, limit: int = 20, offset: int = 0,
         exclude: frozenset[int] = frozenset(), formula: Formula = FORMULA) -> Ranking:
    """The trending page of the ``window`` containing ``day`` as of ``now``: an index range, never a scan."""
    start, end = period_bounds(window, day)
    rows = events.top(window, start, limit, offset, exclude)
    items = [Item(r.pid, round(formula.score(r.stored, window, start, now), 3), r.counts,
                  why(r.counts, window, start, now)) for r in rows]
    total = events.period_size(window, start, exclude) if rows or offset else 0
    return Ranking(window, start, end, items, total, any_events=bool(rows) or bool(events.log(0, 1)))


def period_phrase(window: str, start: date, now: datetime) -> str:
    """"today", "this week", "in November 2026"...: when the counted events happened, relative to ``now``."""
    current = period_bounds(window, now.astimezone(UTC).date())[0] == start
    if window == "day":
        return "today" if current else f"on {start.day} {start:%B %Y}"
    if window == "week":
        return "this week" if current else f"in the week of {start.day} {start:%B %Y}"
    return "this month" if current else f"in {start:%B %Y}"


def why(counts: Counts, window: str, start: date, now: datetime) -> str:
    """"14 upvotes, 3 saves and 120 views this week": the true counts behind a score, zeros left out."""
    parts = [f"{n:,} {name}{'' if n == 1 else 's'}" for n, name in
             ((counts.upvotes, "upvote"), (counts.saves, "save"), (counts.views, "view")) if n]
    if not parts:
        return ""
    listed = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    return f"{listed} {period_phrase(window, start, now)}"
