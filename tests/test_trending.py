"""The trending formula: the incremental form equals the published one, periods, decay, "why" sentences."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fixtures.events import BROWSER, T0, Clock, add_papers
from paperboy.events import Signals
from paperboy.store.events import Counts, Kind
from paperboy.store.sqlite_events import SQLiteEvents
from paperboy.trending import FORMULA, HALF_LIVES, WEIGHTS, period_bounds, rank, why


def published_score(standing: list[tuple[Kind, datetime]], window: str, day: date, now: datetime) -> float:
    """The formula as docs/trending.md states it, computed naively from the events that count."""
    start, end = period_bounds(window, day)
    ref = min(now, datetime.combine(end + timedelta(days=1), datetime.min.time(), UTC))
    return sum(WEIGHTS[kind] * 2 ** -((ref - at) / HALF_LIVES[window])
               for kind, at in standing if start <= at.date() <= end)


def test_periods():
    wed = date(2026, 12, 2)
    assert period_bounds("day", wed) == (wed, wed)
    assert period_bounds("week", wed) == (date(2026, 11, 30), date(2026, 12, 6))
    assert period_bounds("month", wed) == (date(2026, 12, 1), date(2026, 12, 31))
    assert period_bounds("month", date(2024, 2, 10)) == (date(2024, 2, 1), date(2024, 2, 29))
    with pytest.raises(ValueError, match="unknown trending window"):
        period_bounds("year", wed)


def test_a_fresh_vote_outranks_an_older_one_and_both_decay(store, events):
    old, new = add_papers(store, 2)
    events.set_mark(1, old, Kind.UPVOTE, True, T0)
    events.set_mark(1, new, Kind.UPVOTE, True, T0 + timedelta(hours=6))
    now = T0 + timedelta(hours=6)
    ranking = rank(events, "day", T0.date(), now)
    assert [i.pid for i in ranking.items] == [new, old]
    assert [i.score for i in ranking.items] == [3.0, 1.5]  # weight 3, one half-life (6 h) apart
    later = rank(events, "day", T0.date(), now + timedelta(hours=6))
    assert [i.score for i in later.items] == [1.5, 0.75]
    # A past day is scored as of its end, whenever it is asked for.
    assert rank(events, "day", T0.date(), now + timedelta(days=30)).items == rank(
        events, "day", T0.date(), datetime(2026, 12, 3, tzinfo=UTC)).items


def test_votes_count_most(store, events):
    voted, saved, viewed = add_papers(store, 3)
    events.set_mark(1, voted, Kind.UPVOTE, True, T0)
    events.set_mark(1, saved, Kind.SAVE, True, T0)
    for v in range(8):
        events.record_view(viewed, f"v:{v}", T0)
    assert [i.pid for i in rank(events, "week", T0.date(), T0).items] == [voted, saved, viewed]


def test_clearing_a_vote_takes_back_exactly_its_share(store, events):
    a, b = add_papers(store, 2)
    events.set_mark(1, a, Kind.UPVOTE, True, T0)
    events.set_mark(2, a, Kind.UPVOTE, True, T0 + timedelta(hours=1))
    events.set_mark(1, b, Kind.SAVE, True, T0 + timedelta(hours=2))
    events.set_mark(2, a, Kind.UPVOTE, False, T0 + timedelta(hours=3))
    now = T0 + timedelta(hours=3)
    items = {i.pid: i for i in rank(events, "day", T0.date(), now).items}
    assert items[a].counts == Counts(upvotes=1)
    assert items[a].score == pytest.approx(published_score([(Kind.UPVOTE, T0)], "day", T0.date(), now), abs=1e-3)
    events.set_mark(1, a, Kind.UPVOTE, False, now)
    assert [i.pid for i in rank(events, "day", T0.date(), now).items] == [b]  # no zero-count rows stay behind


def test_a_vote_counts_in_the_period_it_was_cast_in(store, events):
    (pid,) = add_papers(store, 1)
    events.set_mark(1, pid, Kind.UPVOTE, True, datetime(2026, 11, 30, 23, 0, tzinfo=UTC))
    now = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)
    assert rank(events, "day", now.date(), now).items == []
    assert rank(events, "month", now.date(), now).items == []  # a new month
    assert [i.pid for i in rank(events, "week", now.date(), now).items] == [pid]  # the same ISO week
    assert [i.pid for i in rank(events, "day", date(2026, 11, 30), now).items] == [pid]


def test_an_instance_without_events_says_so(store, events):
    add_papers(store, 2)
    empty = rank(events, "week", T0.date(), T0)
    assert (empty.items, empty.total, empty.any_events) == ([], 0, False)
    events.record_view(1, "v:x", T0 - timedelta(days=40))
    quiet = rank(events, "week", T0.date(), T0)
    assert (quiet.items, quiet.any_events) == ([], True)  # events exist, just none this week


def test_paging_and_excluded_papers(store, events):
    pids = add_papers(store, 5)
    for n, pid in enumerate(pids):
        for reader in range(n + 1):
            events.set_mark(reader, pid, Kind.UPVOTE, True, T0)
    page = rank(events, "month", T0.date(), T0, limit=2, offset=1, exclude=frozenset({pids[3]}))
    assert [i.pid for i in page.items] == [pids[2], pids[1]] and page.total == 4
    assert [i.counts.upvotes for i in page.items] == [3, 2]


def test_why_sentences_are_the_true_counts():
    now = datetime(2026, 12, 2, 12, tzinfo=UTC)
    assert why(Counts(14, 3, 0), "day", now.date(), now) == "14 upvotes and 3 saves today"
    assert why(Counts(1, 0, 1_200), "week", date(2026, 11, 30), now) == "1 upvote and 1,200 views this week"
    assert why(Counts(2, 1, 5), "month", date(2026, 12, 1), now) == "2 upvotes, 1 save and 5 views this month"
    assert why(Counts(0, 1, 0), "day", date(2026, 11, 29), now) == "1 save on 29 November 2026"
    assert why(Counts(0, 0, 2), "week", date(2026, 11, 23), now) == "2 views in the week of 23 November 2026"
    assert why(Counts(1, 0, 0), "month", date(2026, 10, 1), now) == "1 upvote in October 2026"


def test_ranking_reads_the_period_and_the_why_matches_the_rows(store, events):
    pids = add_papers(store, 3)
    signals = Signals(events, "salt", Clock(T0))
    for reader in range(14):
        signals.mark(reader, pids[0], Kind.UPVOTE, True)
    for reader in range(3):
        signals.mark(reader, pids[0], Kind.SAVE, True)
    signals.view(pids[1], reader=None, ip="192.0.2.1", user_agent=BROWSER)
    items = rank(events, "day", T0.date(), T0).items
    assert [i.why for i in items] == ["14 upvotes and 3 saves today", "1 view today"]


actions = st.lists(st.tuples(st.integers(0, 3), st.integers(0, 2), st.sampled_from(list(Kind)), st.booleans(),
                             st.integers(0, 45 * 24 * 60)), max_size=40)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(actions=actions, window=st.sampled_from(["day", "week", "month"]), probe=st.integers(0, 45))
def test_incremental_scores_equal_the_published_formula(tmp_path_factory, actions, window, probe):
    """Random toggles and views over 45 days: every period's ranking is the naive formula's, in the same order."""
    from paperboy.store.sqlite import SQLiteStore

    store = SQLiteStore(tmp_path_factory.mktemp("t") / "p.db")
    try:
        events = SQLiteEvents(store, FORMULA)
        pids = add_papers(store, 3)
        start = datetime(2026, 11, 1, tzinfo=UTC)
        standing: dict[tuple[int, int, Kind], datetime] = {}
        counted: list[tuple[int, Kind, datetime]] = []
        for reader, paper, kind, on, minute in sorted(actions, key=lambda a: a[4]):
            at, pid = start + timedelta(minutes=minute), pids[paper]
            if kind is Kind.VIEW:
                if events.record_view(pid, f"v:{reader}", at):
                    counted.append((pid, kind, at))
            elif events.set_mark(reader, pid, kind, on, at).changed:
                if on:
                    standing[(reader, pid, kind)] = at
                else:
                    del standing[(reader, pid, kind)]
        counted += [(pid, kind, at) for (_, pid, kind), at in standing.items()]
        day, now = (start + timedelta(days=probe)).date(), start + timedelta(days=46)
        expected = {pid: published_score([(k, t) for p, k, t in counted if p == pid], window, day, now)
                    for pid in pids}
        ranking = rank(events, window, day, now)
        got = ranking.items
        assert {i.pid: i.score for i in got} == pytest.approx(
            {p: s for p, s in expected.items() if s > 0}, abs=2e-3)
        assert ranking.total == len(got)  # the trigger-kept period size
        assert [i.score for i in got] == sorted((i.score for i in got), reverse=True)
    finally:
        store.close()
