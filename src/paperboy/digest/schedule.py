"""Which readers' digests are due at a moment, and for which period.

Why periods rather than timers: a reader's digest is identified by (reader, period) — the local calendar day
for a daily digest, the local ISO week for a weekly one — and sending is exactly-once per that pair (see
:mod:`paperboy.digest.send`).  So the scheduler only has to answer "is the period that contains *now* (in the
reader's zone) past the reader's hour?", and may ask as often and as late as it likes:

* a daily digest is due from ``send_hour`` local time until the end of that local day; a scheduler that was
  down at the hour still sends that day's digest later, never an earlier day's (a stale digest is worthless);
* daylight saving neither skips nor doubles: when the clock springs over the hour (02:30 does not exist) the
  first moment after it is past the hour, and when it falls back (01:30 happens twice) the day is still one
  period;
* a weekly digest is due on the local Monday from ``send_hour`` (Monday's announcement closes arXiv's week);
* ``skip_no_announcement_days``: arXiv announces new papers on weekday evenings (US Eastern) only, so a daily
  digest on a local Saturday or Sunday would hold nothing new; readers who ask skip those days.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from paperboy.periods import Period, around, zone
from paperboy.store.subscriptions import FREQUENCIES, Subscription


@dataclass(frozen=True, slots=True)
class Due:
    """A reader's period that is due, and the local day it was judged on."""

    period: Period
    local_day: date


def announcement_day(day: date) -> bool:
    """Whether a reader's local ``day`` follows an arXiv announcement: Monday to Friday."""
    return day.weekday() < 5


def period_for(sub: Subscription, day: date) -> Period:
    """The period a digest on local ``day`` covers: the day itself, or its ISO week."""
    return around(day)["date" if sub.frequency == "daily" else "week"]


def due(sub: Subscription, now: datetime, *, any_hour: bool = False, day: date | None = None) -> Due | None:
    """The period of ``sub`` due at ``now`` (an aware datetime), or None.

    ``any_hour`` ignores the send hour (and, for weekly digests, the weekday): ``paperboy digest send --now``.
    ``day`` replaces the reader's local day (``--date``) and implies ``any_hour``.  Skipped days stay skipped.
    """
    if sub.frequency not in FREQUENCIES:
        raise ValueError(f"frequency must be daily or weekly, not {sub.frequency!r}")
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    local = now.astimezone(zone(sub.tz))
    if day is not None:
        any_hour = True
    day = day or local.date()
    if sub.frequency == "daily" and sub.skip_no_announcement_days and not announcement_day(day):
        return None
    if not any_hour:
        if sub.frequency == "weekly" and day.weekday() != 0:
            return None
        if local.hour < sub.send_hour:
            return None
    return Due(period_for(sub, day), day)
