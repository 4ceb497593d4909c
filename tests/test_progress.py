"""Progress lines for long jobs when stderr is not a terminal (logs, pipes, systemd)."""

from __future__ import annotations

import io

from paperboy.progress import ProgressReporter, duration


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_plain_lines_have_counts_rate_and_eta() -> None:
    out, clock = io.StringIO(), Clock()
    report = ProgressReporter(out, every=5.0, tty=False, clock=clock)
    report("embed", 0, 1000)  # announces the stage
    clock.now += 2
    report("embed", 100, 1000)  # too soon for another line
    clock.now += 3
    report("embed", 150, 1000)  # 250 done in 5 s: 50/s, 750 left: 15 s
    clock.now += 1
    report("embed", 50, 1000)
    clock.now += 4
    report("embed", 700, 1000)  # 1000 in 10 s: the stage ends with its last item
    clock.now += 30  # e.g. loading a model for the next stage
    report.close()
    assert out.getvalue().splitlines() == [
        "embed: 0 of 1,000 papers",
        "embed: 250 of 1,000 papers, 50/s, ETA 15s",
        "embed: 1,000 papers in 10s, 100/s",
    ]


def test_a_new_stage_closes_the_previous_one_and_units_follow_the_stage() -> None:
    out, clock = io.StringIO(), Clock()
    report = ProgressReporter(out, tty=False, clock=clock, units={"queries": "queries"})
    report("ingest", 0, None)
    clock.now += 4
    report("ingest", 2000, None)
    report("queries dense", 0, 300)
    clock.now += 3
    report("queries dense", 300, 300)
    report.close()
    report.close()  # idempotent
    assert out.getvalue().splitlines() == [
        "ingest: 0 records",
        "ingest: 2,000 records in 4s, 500/s",
        "queries dense: 0 of 300 queries",
        "queries dense: 300 queries in 3s, 100/s",
    ]


def test_a_step_without_a_count_shows_its_time() -> None:
    out, clock = io.StringIO(), Clock()
    report = ProgressReporter(out, tty=False, clock=clock)
    report("model", 0, 1)
    clock.now += 23
    report("model", 1, 1)
    assert out.getvalue().splitlines() == ["model ...", "model: done in 23s"]


def test_terminal_gets_a_bar() -> None:
    out = io.StringIO()
    report = ProgressReporter(out, tty=True)
    report("index", 0, 10)
    report("index", 10, 10)
    report.close()
    assert "10/10" in out.getvalue() and "index" in out.getvalue()


def test_durations() -> None:
    assert [duration(s) for s in (0, 42.4, 185, 3720, 90000)] == ["0s", "42s", "3m05s", "1h02m", "25h00m"]
