"""Reader signals on a real SQLite store: toggles, de-duplicated views, bots, the log, replay and atomicity."""

from __future__ import annotations

import sqlite3
import threading
from datetime import datetime, timedelta

import pytest

from fixtures.events import BROWSER, T0, Clock, add_papers
from paperboy.events import Signals, is_bot, visitor_salt
from paperboy.store.events import Counts, Event, Kind
from paperboy.store.sqlite_events import SQLiteEvents
from paperboy.trending import FORMULA


@pytest.fixture
def clock():
    return Clock(T0)


@pytest.fixture
def signals(store, events, clock):
    return Signals(events, visitor_salt(store), clock)


def test_upvote_is_an_idempotent_toggle(store, events, signals):
    (pid,) = add_papers(store, 1)
    assert signals.mark(1, pid, Kind.UPVOTE, True).to_json() == {
        "upvotes": 1, "saves": 0, "views": 0, "upvoted": True, "saved": False}
    assert signals.mark(1, pid, Kind.UPVOTE, True).counts == Counts(upvotes=1)  # again: nothing changes
    assert signals.mark(2, pid, Kind.UPVOTE, True).counts == Counts(upvotes=2)
    state = signals.mark(1, pid, Kind.UPVOTE, False)
    assert (state.counts, state.upvoted) == (Counts(upvotes=1), False)
    assert signals.mark(1, pid, Kind.UPVOTE, False).counts == Counts(upvotes=1)
    assert [(e.kind, e.actor, e.on) for e in events.log()] == [
        (Kind.UPVOTE, "r:1", True), (Kind.UPVOTE, "r:2", True), (Kind.UPVOTE, "r:1", False)]


def test_saves_and_votes_are_separate_marks(store, signals):
    a, b = add_papers(store, 2)
    signals.mark(7, a, Kind.SAVE, True)
    signals.mark(7, b, Kind.UPVOTE, True)
    signals.mark(8, b, Kind.SAVE, True)
    states = signals.states(7, [a, b])
    assert (states[a].saved, states[a].upvoted, states[b].saved, states[b].upvoted) == (True, False, False, True)
    assert states[b].counts == Counts(upvotes=1, saves=1)
    anonymous = signals.states(None, [a, b])
    assert not any(s.saved or s.upvoted for s in anonymous.values())
    assert signals.states(9, [a])[a].counts == Counts(saves=1)


def test_a_view_counts_once_per_viewer_per_day(store, events, signals, clock):
    (pid,) = add_papers(store, 1)
    assert signals.view(pid, reader=None, ip="192.0.2.1", user_agent=BROWSER)
    assert not signals.view(pid, reader=None, ip="192.0.2.1", user_agent=BROWSER)
    assert signals.view(pid, reader=None, ip="192.0.2.2", user_agent=BROWSER)  # another visitor
    assert signals.view(pid, reader=5, ip="192.0.2.1", user_agent=BROWSER)
    assert not signals.view(pid, reader=5, ip="198.51.100.9", user_agent=BROWSER)  # the same reader elsewhere
    clock.now += timedelta(days=1)
    assert signals.view(pid, reader=None, ip="192.0.2.1", user_agent=BROWSER)  # a new day
    assert events.counts([pid])[pid] == Counts(views=4)
    # Yesterday's de-duplication rows are gone: only today's can still matter.
    days = {r[0] for r in store.db.execute("SELECT day FROM view_marks")}
    assert days == {(T0 + timedelta(days=1)).date().isoformat()}


def test_visitor_pseudonyms_hide_the_address_and_change_daily(signals):
    today = signals.viewer(None, "192.0.2.1", BROWSER, T0)
    assert today.startswith("v:") and "192.0.2.1" not in today
    assert signals.viewer(None, "192.0.2.1", BROWSER, T0 + timedelta(hours=1)) == today
    assert signals.viewer(None, "192.0.2.1", BROWSER, T0 + timedelta(days=1)) != today
    assert signals.viewer(3, "192.0.2.1", BROWSER, T0) == "r:3"


def test_the_visitor_salt_is_kept(store):
    assert visitor_salt(store) == visitor_salt(store)


@pytest.mark.parametrize("ua", ["", None, "Googlebot/2.1 (+http://www.google.com/bot.html)", "curl/8.5.0",
                                "python-requests/2.32", "Mozilla/5.0 (compatible; bingbot/2.0)",
                                "Mozilla/5.0 HeadlessChrome/131.0", "facebookexternalhit/1.1", "Slackbot 1.0"])
def test_bots_are_ignored(store, events, signals, ua):
    (pid,) = add_papers(store, 1)
    assert is_bot(ua)
    assert not signals.view(pid, reader=None, ip="192.0.2.1", user_agent=ua)
    assert events.counts([pid]) == {} and events.log() == []


def test_browsers_are_not_bots():
    for ua in (BROWSER, "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
               "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
               "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0"):
        assert not is_bot(ua)


def test_a_failed_write_leaves_nothing_half_written(store, events):
    (pid,) = add_papers(store, 1)
    version = events.version()
    with pytest.raises(sqlite3.IntegrityError):  # no such paper: the derived rows' foreign key refuses it
        events.set_mark(1, pid + 1000, Kind.UPVOTE, True, T0)
    with pytest.raises(sqlite3.IntegrityError):  # one bad event in a batch: the whole batch is refused
        events.append([Event(0, T0, Kind.UPVOTE, pid, "r:1"), Event(0, T0, Kind.SAVE, pid + 1000, "r:1")])
    assert events.log() == [] and events.counts([pid]) == {} and events.version() == version
    assert store.db.execute("SELECT count(*) FROM trend").fetchone()[0] == 0


def test_bad_events_are_refused(store, events):
    (pid,) = add_papers(store, 1)
    with pytest.raises(ValueError, match="not a mark"):
        events.set_mark(1, pid, Kind.VIEW, True, T0)
    with pytest.raises(ValueError, match="timezone-aware"):
        events.set_mark(1, pid, Kind.UPVOTE, True, datetime(2026, 12, 2))
    with pytest.raises(ValueError, match="reader actor"):
        events.append([Event(0, T0, Kind.UPVOTE, pid, "v:abc")])


def test_every_write_moves_the_version(store, events, signals):
    (pid,) = add_papers(store, 1)
    seen = [events.version()]
    signals.mark(1, pid, Kind.UPVOTE, True)
    seen.append(events.version())
    signals.mark(1, pid, Kind.UPVOTE, True)  # no change: no new version
    seen.append(events.version())
    signals.view(pid, reader=1, ip="192.0.2.1", user_agent=BROWSER)
    seen.append(events.version())
    assert seen[0] < seen[1] == seen[2] < seen[3]
    assert store.max_seq() == 1  # the papers' change counter (index sync, paper caches) is untouched


def test_rebuild_from_the_log_reproduces_every_derived_row(store, events, signals, clock):
    pids = add_papers(store, 4)
    for step in range(60):
        clock.now = T0 + timedelta(hours=7 * step)
        pid, reader = pids[step % 4], step % 5
        signals.mark(reader, pid, Kind.UPVOTE if step % 3 else Kind.SAVE, step % 4 != 1)
        signals.view(pid, reader=None, ip=f"192.0.2.{step % 6}", user_agent=BROWSER)
    tables = ("reader_marks", "paper_counts", "trend", "trend_sizes")

    def snapshot() -> dict:
        return {t: sorted(tuple(round(v, 6) if isinstance(v, float) else v for v in row)
                          for row in store.db.execute(f"SELECT * FROM {t}")) for t in tables}

    before = snapshot()
    assert before["trend"]
    for t in tables:
        store.db.execute(f"DELETE FROM {t}")
    events.rebuild()
    assert snapshot() == before
    assert [e.eid for e in events.replay(batch=7)] == [e.eid for e in events.log()]


def test_append_replays_another_instances_log(tmp_path, store, events, signals, clock):
    from paperboy.store.sqlite import SQLiteStore

    pids = add_papers(store, 3)
    for i, pid in enumerate(pids):
        clock.now = T0 + timedelta(minutes=i)
        signals.mark(i, pid, Kind.UPVOTE, True)
        signals.mark(i, pid, Kind.UPVOTE, i != 1)
    other_store = SQLiteStore(tmp_path / "other.db")
    add_papers(other_store, 3)
    other = SQLiteEvents(other_store, FORMULA)
    assert other.append(events.replay()) == len(events.log())
    assert other.counts(pids) == events.counts(pids)
    assert other.top("day", T0.date(), 10) == events.top("day", T0.date(), 10)
    other_store.close()


def test_concurrent_writers_share_commits_and_a_bad_write_fails_alone(store, events):
    """Group commit: 8 threads write at once; every good write lands, each bad one fails for its caller only."""
    pids = add_papers(store, 5)
    missing = max(pids) + 1000
    failures: list[tuple[int, int]] = []

    def reader(r: int) -> None:
        for i in range(40):
            pid = missing if i == 13 else pids[i % 5]
            try:
                events.set_mark(r, pid, Kind.UPVOTE if i % 2 else Kind.SAVE, True, T0 + timedelta(seconds=i))
                events.record_view(pids[i % 5], f"v:{r}", T0 + timedelta(seconds=i))
            except sqlite3.IntegrityError:
                failures.append((r, i))

    threads = [threading.Thread(target=reader, args=(r,)) for r in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(failures) == [(r, 13) for r in range(8)]
    counts = events.counts(pids)
    assert sum(c.upvotes + c.saves for c in counts.values()) == 8 * 10  # each reader's 10 distinct marks
    assert sum(c.views for c in counts.values()) == 8 * 5  # one view per visitor and paper
    assert len(events.log()) == 8 * 15
    assert store.db.execute("SELECT count(*) FROM reader_marks").fetchone()[0] == 8 * 10
