"""Which digests are due when: local hours, IANA zones, daylight saving, weekly, days without announcements."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from paperboy.digest.schedule import due
from paperboy.periods import PeriodError
from paperboy.store.subscriptions import Subscription


def Sub(**fields: object) -> Subscription:  # noqa: N802 - reads like the dataclass it builds
    return Subscription(**{"reader_id": 1, "email": "a@example.org", "skip_no_announcement_days": False, **fields})


def at(tz: str, *args: int) -> datetime:
    return datetime(*args, tzinfo=ZoneInfo(tz)).astimezone(UTC)


def test_a_daily_digest_is_due_from_the_local_hour_to_the_end_of_the_local_day():
    sub = Sub(tz="Asia/Kolkata", send_hour=7)
    assert due(sub, at("Asia/Kolkata", 2026, 3, 4, 6, 59)) is None
    got = due(sub, at("Asia/Kolkata", 2026, 3, 4, 7, 0))
    assert got is not None and got.period.value == "2026-03-04"
    assert due(sub, at("Asia/Kolkata", 2026, 3, 4, 23, 59)).period.value == "2026-03-04"
    # 00:30 UTC on the 5th is already the 5th at 06:00 in Kolkata: before the hour, nothing is due.
    assert due(sub, datetime(2026, 3, 5, 0, 30, tzinfo=UTC)) is None


def test_spring_forward_over_the_send_hour_sends_at_the_first_moment_after_it():
    sub = Sub(tz="America/New_York", send_hour=2)  # 8 March 2026: 02:00 jumps to 03:00
    assert due(sub, datetime(2026, 3, 8, 6, 59, tzinfo=UTC)) is None  # 01:59 EST
    got = due(sub, datetime(2026, 3, 8, 7, 0, tzinfo=UTC))  # 03:00 EDT
    assert got is not None and got.period.value == "2026-03-08"


def test_weekly_digests_are_due_on_monday_and_cover_the_iso_week():
    sub = Sub(frequency="weekly", tz="Europe/Paris", send_hour=8)
    assert due(sub, at("Europe/Paris", 2026, 11, 30, 7, 0)) is None  # Monday, too early
    assert due(sub, at("Europe/Paris", 2026, 11, 30, 8, 0)).period.value == "2026-W49"
    assert due(sub, at("Europe/Paris", 2026, 12, 1, 9, 0)) is None  # Tuesday
    assert due(sub, at("Europe/Paris", 2026, 12, 1, 9, 0), any_hour=True).period.value == "2026-W49"


def test_readers_who_ask_skip_days_without_an_arxiv_announcement():
    sub = Sub(skip_no_announcement_days=True)
    assert due(sub, datetime(2026, 12, 5, 12, tzinfo=UTC)) is None  # Saturday
    assert due(sub, datetime(2026, 12, 5, 12, tzinfo=UTC), any_hour=True) is None
    assert due(Sub(), datetime(2026, 12, 5, 12, tzinfo=UTC)).period.value == "2026-12-05"
    assert due(sub, datetime(2026, 12, 7, 12, tzinfo=UTC)).period.value == "2026-12-07"  # Monday


def test_a_given_day_ignores_the_hour():
    got = due(Sub(send_hour=23), datetime(2026, 12, 7, 1, tzinfo=UTC), day=date(2026, 12, 2))
    assert got is not None and got.period.value == "2026-12-02"


def test_bad_subscriptions_are_refused_clearly():
    with pytest.raises(ValueError, match="daily or weekly"):
        due(Sub(frequency="hourly"), datetime.now(UTC))
    with pytest.raises(PeriodError, match="unknown time zone"):
        due(Sub(tz="Mars/Olympus"), datetime.now(UTC))
    with pytest.raises(ValueError, match="aware"):
        due(Sub(), datetime(2026, 1, 1))


@pytest.mark.parametrize("tz,hour", [("America/New_York", 1), ("America/New_York", 2), ("Asia/Kolkata", 7),
                                     ("Europe/London", 1)])
def test_walking_a_month_across_a_dst_change_gives_one_digest_a_day_at_the_hour(tz, hour):
    """A frozen clock walks 15-minute steps across the autumn change (1 Nov in New York, 25 Oct in London)."""
    sub = Sub(tz=tz, send_hour=hour)
    seen: dict[str, datetime] = {}
    now = datetime(2026, 10, 15, tzinfo=ZoneInfo(tz)).astimezone(UTC)  # local midnights: a walk that starts
    end = datetime(2026, 11, 15, tzinfo=ZoneInfo(tz)).astimezone(UTC)  # in the evening sends that day late
    while now < end:
        got = due(sub, now)
        if got is not None and got.period.value not in seen:
            seen[got.period.value] = now
        now += timedelta(minutes=15)
    days = sorted(seen)
    assert len(days) == 31 and days[0] == "2026-10-15" and days[-1] == "2026-11-14"
    for value, when in seen.items():
        local = when.astimezone(ZoneInfo(tz))
        assert local.date().isoformat() == value and (local.hour, local.minute) == (hour, 0), (value, local)


def test_a_frozen_clock_month_across_dst_claims_one_digest_a_day_each_at_the_local_hour(store, tmp_path):
    """New York (the change on 1 November) and Kolkata (none), through the real sender and store, every 15 minutes."""
    from digest_world import add_trending_papers, subscribe
    from paperboy.config import Settings
    from paperboy.digest.compose import open_context
    from paperboy.digest.send import queue_due
    from paperboy.store.digests import open_digest_seams

    start, end = datetime(2026, 10, 15, 4, tzinfo=UTC), datetime(2026, 11, 15, 4, tzinfo=UTC)
    add_trending_papers(store, 40, start)
    readers = {"America/New_York": 7, "Asia/Kolkata": 20}  # the walk starts and ends before both hours
    subs = {tz: subscribe(store, f"{tz.split('/')[1].lower()}@example.org", start.timestamp(), tz=tz, send_hour=hour,
                          skip_no_announcement_days=False) for tz, hour in readers.items()}
    ctx = open_context(store, Settings(home=tmp_path, base_url="https://papers.example.org"))
    digests = open_digest_seams(store).digests
    now = start
    while now < end:
        queue_due(ctx, digests, now, clock=now.timestamp)
        now += timedelta(minutes=15)
    for tz, sub in subs.items():
        rows = digests.rows(sub.reader_id)
        days = [r.period for r in rows]
        assert len(days) == len(set(days)) == 31, tz
        for row in rows:
            local = datetime.fromtimestamp(row.created_at, UTC).astimezone(ZoneInfo(tz))
            assert (local.date().isoformat(), local.hour, local.minute) == (row.period, readers[tz], 0), (tz, row)
