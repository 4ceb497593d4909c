"""Trending benchmark: ingest rate of reader events and latency of trending pages.

What it does:

1. creates a store with ``--papers`` small synthetic papers (only their row ids matter to trending);
2. makes ``--events`` events over 30 days: papers drawn from a Zipf-like distribution, 70 % views from anonymous
   visitors (some repeated the same day, hence de-duplicated), 20 % upvote and 10 % save toggles by 50,000
   readers (one in ten clears a mark the reader holds);
3. records them as the web routes do, through :class:`paperboy.events.Signals` from ``--threads`` callers at once
   (one durable write per call; concurrent calls share commits), and reports events/s;
4. replays the same stream into a fresh store with ``Events.append`` (10,000 events a transaction), as an import
   or a replay of another instance's log does, and times ``rebuild()`` (every count and trending aggregate
   recomputed from the log);
5. times a trending page's data (ranking of one period, its papers and their counts, a reader's marks) for each
   window, current and past periods, first pages and deeper offsets: p50 / p99;
6. times whole trending pages (HTML and JSON) over HTTP from a uvicorn server on the same database, response
   cache off so that every request renders;
7. prints peak RSS (the 1,000,000 generated events are held in memory too) and the database size.

Run: ``nice python bench/bench_trending.py [--papers 100000] [--events 1000000] [--threads 32] [--home DIR]``;
``--reuse`` times the pages (steps 5 and 6) again on the database a run left in ``--home``.
"""

from __future__ import annotations

import argparse
import random
import resource
import statistics
import tempfile
import threading
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx

from paperboy.events import Signals
from paperboy.papers import Paper, finish
from paperboy.store.events import Event, Kind
from paperboy.store.sqlite import SQLiteStore
from paperboy.store.sqlite_events import SQLiteEvents
from paperboy.trending import FORMULA, WINDOWS, rank

START = datetime(2026, 11, 1, tzinfo=UTC)
DAYS = 30
BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"


def add_papers(store: SQLiteStore, n: int) -> list[int]:
    for first in range(0, n, 10_000):
        batch = [finish(Paper(id=f"bench-{i}", title=f"Synthetic benchmark paper number {i}", source="bench",
                              submitted=date(2026, 1, 1) + timedelta(days=i % 330), categories=["cs.LG"]))
                 for i in range(first, min(n, first + 10_000))]
        store.write_batch(batch, [])
    return [r[0] for r in store.db.execute("SELECT pid FROM papers ORDER BY pid")]


def make_events(pids: list[int], n: int, rng: random.Random) -> list[Event]:
    """``n`` events in time order; a view's actor is the visitor's IP address; marks are cleared only by a
    reader holding them."""
    weights = [1 / (rank + 1) ** 0.9 for rank in range(len(pids))]  # a few papers draw most of the attention
    papers = rng.choices(pids, weights=weights, k=n)
    step = timedelta(days=DAYS) / n
    held: dict[int, list[tuple[int, Kind]]] = {}
    out = []
    for i, pid in enumerate(papers):
        at, roll = START + step * i, rng.random()
        if roll < 0.7:
            ip = f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(64)}"
            out.append(Event(0, at, Kind.VIEW, pid, ip))
            continue
        reader = rng.randrange(50_000)
        marks = held.setdefault(reader, [])
        if marks and rng.random() < 0.1:
            old_pid, kind = marks.pop(rng.randrange(len(marks)))
            out.append(Event(0, at, kind, old_pid, f"r:{reader}", on=False))
            continue
        kind = Kind.UPVOTE if roll < 0.9 else Kind.SAVE
        marks.append((pid, kind))
        out.append(Event(0, at, kind, pid, f"r:{reader}"))
    return out


class ThreadClock:
    """Each replaying thread sets the time of the event it is about to record."""

    def __init__(self) -> None:
        self.local = threading.local()

    def __call__(self) -> datetime:
        return self.local.now


def web_replay(signals: Signals, clock: ThreadClock, stream: list[Event], threads: int) -> tuple[float, float]:
    """Record the stream as web requests would: through ``Signals``, ``threads`` callers at once (each actor's
    events stay in order on one thread), one durable write per call.  Returns wall and CPU seconds."""
    lanes: list[list[Event]] = [[] for _ in range(threads)]
    for e in stream:
        lanes[hash(e.actor) % threads].append(e)
    done = [0] * threads

    def lane(n: int) -> None:
        for e in lanes[n]:
            clock.local.now = e.at
            if e.kind is Kind.VIEW:
                signals.view(e.pid, reader=None, ip=e.actor, user_agent=BROWSER)
            else:
                signals.mark(int(e.actor[2:]), e.pid, e.kind, e.on)
            done[n] += 1

    workers = [threading.Thread(target=lane, args=(n,)) for n in range(threads)]
    began, cpu = time.perf_counter(), time.process_time()
    for w in workers:
        w.start()
    for w in workers:
        while w.is_alive():
            w.join(30)
            print(f"  {sum(done):,} events, {sum(done) / (time.perf_counter() - began):,.0f}/s", flush=True)
    return time.perf_counter() - began, time.process_time() - cpu


def batch_replay(path: Path, papers: int, stream: list[Event], signals: Signals) -> tuple[tuple[float, float], int]:
    """Replay the stream into a fresh store with ``append``, 10,000 events a transaction."""
    store = SQLiteStore(path)
    add_papers(store, papers)
    events = SQLiteEvents(store, FORMULA)
    visitors = {e.actor: signals.viewer(None, e.actor, BROWSER, e.at) for e in stream if e.kind is Kind.VIEW}
    began, cpu = time.perf_counter(), time.process_time()
    applied = 0
    for i in range(0, len(stream), 10_000):
        applied += events.append(
            Event(0, e.at, e.kind, e.pid, visitors[e.actor] if e.kind is Kind.VIEW else e.actor, e.on)
            for e in stream[i : i + 10_000])
    took = time.perf_counter() - began, time.process_time() - cpu
    store.close()
    return took, applied


def percentiles(timings: list[float]) -> str:
    timings = sorted(timings)
    p99 = timings[min(len(timings) - 1, int(len(timings) * 0.99))]
    return f"p50 {statistics.median(timings):6.2f} ms   p99 {p99:6.2f} ms"


def page_latencies(store: SQLiteStore, signals: Signals, rng: random.Random, calls: int) -> None:
    """The data of one trending page, in process: ranking, its papers, their counts, a reader's marks."""
    end = START + timedelta(days=DAYS) - timedelta(seconds=1)
    for window in WINDOWS:
        for label, offsets in (("first page", (0,)), ("pages 2-10", tuple(range(20, 200, 20)))):
            timings = []
            for _ in range(calls):
                day = end.date() if rng.random() < 0.5 else (START + timedelta(days=rng.randrange(DAYS))).date()
                began = time.perf_counter()
                ranking = rank(signals.events, window, day, end, limit=20, offset=rng.choice(offsets))
                pids = [i.pid for i in ranking.items]
                store.get_many(pids)
                signals.states(rng.randrange(50_000), pids)
                timings.append((time.perf_counter() - began) * 1000)
            print(f"  {window:5} {label:10}: {percentiles(timings)}   ({calls} calls; the last period asked has"
                  f" {ranking.total:,} papers)")


def http_latencies(store: SQLiteStore, home: Path, rng: random.Random, calls: int) -> None:
    """Whole trending pages over HTTP (uvicorn on loopback, response cache off: every request renders)."""
    from paperboy.config import load_settings
    from paperboy.web.app import create_app
    from paperboy.web.testing import LiveServer

    end = START + timedelta(days=DAYS) - timedelta(seconds=1)
    settings = load_settings(home)
    settings.database_url = f"sqlite:///{store.path}"
    app = create_app(settings, store=store, load_engine="never", response_cache=False)
    app.state.signals.clock = lambda: end
    with LiveServer(app) as server, httpx.Client(base_url=server.url, timeout=60) as client:
        for window in WINDOWS:
            for path in ("/trending", "/api/v1/trending"):
                client.get(path, params={"window": window})  # templates compiled, connections warm
                timings = []
                for _ in range(calls):
                    day = end.date() if rng.random() < 0.5 else START.date() + timedelta(days=rng.randrange(DAYS))
                    began = time.perf_counter()
                    r = client.get(path, params={"window": window, "date": day.isoformat()})
                    timings.append((time.perf_counter() - began) * 1000)
                    assert r.status_code == 200, r.text[:200]
                print(f"  {path + '?window=' + window:30}: {percentiles(timings)}   ({calls} requests)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--papers", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--threads", type=int, default=32,
                        help="concurrent callers on the web path (a server runs up to 40 sync routes at once)")
    parser.add_argument("--calls", type=int, default=300, help="page-data calls per window and depth")
    parser.add_argument("--home", type=Path, help="folder for the databases (default: a temporary one)")
    parser.add_argument("--reuse", action="store_true",
                        help="only time the pages, on the database an earlier run left in --home")
    args = parser.parse_args()
    rng = random.Random(11)
    with tempfile.TemporaryDirectory() as tmp:
        path = (args.home or Path(tmp)) / "bench-trending.db"
        if args.reuse:
            store = SQLiteStore(path)
            signals = Signals(SQLiteEvents(store, FORMULA), "bench-salt")
            print(f"reusing {path}: {store.db.execute('SELECT count(*) FROM events').fetchone()[0]:,} events")
        else:
            store, signals = record(path, args, rng)
        print("trending page data (ranking + papers + counts + a reader's marks):")
        page_latencies(store, signals, rng, args.calls)
        print("trending pages over HTTP (first pages, response cache off):")
        http_latencies(store, path.parent, rng, args.calls)
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        size = sum(p.stat().st_size for p in path.parent.glob(path.name + "*")) / 2**20
        print(f"peak RSS {rss:.0f} MiB, database {size:.0f} MiB (papers + events)")
        store.close()


def record(path: Path, args: argparse.Namespace, rng: random.Random) -> tuple[SQLiteStore, Signals]:
    """Steps 1 to 4: a fresh store, the events recorded as the web does, the batch replay and the rebuild."""
    for name in ("bench-trending.db", "bench-replay.db"):
        for old in path.parent.glob(name + "*"):
            old.unlink()
    store = SQLiteStore(path)
    began = time.perf_counter()
    pids = add_papers(store, args.papers)
    print(f"{len(pids):,} papers written in {time.perf_counter() - began:.1f} s")
    stream = make_events(pids, args.events, rng)
    clock = ThreadClock()
    events = SQLiteEvents(store, FORMULA)
    signals = Signals(events, "bench-salt", clock)
    print(f"web path: {args.events:,} events over {DAYS} days from {args.threads} threads ...", flush=True)
    seconds, cpu = web_replay(signals, clock, stream, args.threads)
    logged = store.db.execute("SELECT count(*) FROM events").fetchone()[0]
    print(f"web path: {args.events:,} events in {seconds:.1f} s = {args.events / seconds:,.0f} events/s, "
          f"{args.events / cpu:,.0f} per CPU-second ({logged:,} logged; the rest were repeat views)")
    (took, cpu), applied = batch_replay(path.with_name("bench-replay.db"), args.papers, stream, signals)
    print(f"batch replay (append, 10,000 a transaction): {args.events:,} events in {took:.1f} s"
          f" = {args.events / took:,.0f} events/s, {args.events / cpu:,.0f} per CPU-second ({applied:,} counted)")
    began = time.perf_counter()
    events.rebuild()
    took = time.perf_counter() - began
    print(f"rebuild from the log: {logged:,} events in {took:.1f} s = {logged / took:,.0f} events/s")
    return store, signals


if __name__ == "__main__":
    main()
