"""Digest benchmark: compose and render every reader's digest over a large store.

What it does:

1. creates a store with ``--papers`` synthetic papers over 40 categories, first submitted over the last 30 days
   (so "new in <category>" lists are long: each is capped at 10 with "and N more");
2. records ``--events`` upvotes and saves over the last two days (Zipf-like over papers), so "trending today"
   and yesterday's ranking are full;
3. subscribes ``--readers`` confirmed readers, each with one to three categories (one in four with none: every
   category), bulk-inserted (setup, not timed; the double opt-in path is tested elsewhere);
4. times composing and rendering every active reader's daily digest (``compose`` + ``render``: what the sender
   does before the outbox) in ``--workers`` processes, each taking every n-th reader with its own connection,
   and reports digests/s, p50/p99 per digest, empty digests, papers per digest, mail size, and peak RSS.

Topic and follow lists (issue 12) are not in the store this builds; the category lists stand in for them.

Run: ``nice python bench/bench_digest.py [--papers 100000] [--readers 10000] [--events 20000] [--workers 2]
[--home DIR]``; ``--reuse`` times composing again on the store a run left in ``--home``.
"""

from __future__ import annotations

import argparse
import multiprocessing
import random
import resource
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from paperboy.config import Settings
from paperboy.digest import RenderSettings, compose, open_context, render
from paperboy.papers import Author, Paper, finish
from paperboy.periods import period
from paperboy.store.events import Event, Kind
from paperboy.store.sqlite import SQLiteStore

NOW = datetime(2026, 12, 3, 7, 0, tzinfo=UTC)
CATEGORIES = [f"{a}.{b}" for a in ("cs", "math", "stat", "physics") for b in "ABCDEFGHIJ"]
WORDS = ["sparse", "attention", "graph", "network", "learning", "bound", "theorem", "estimator", "quantum",
         "field", "model", "data", "inference", "robust", "optimal", "kernel", "manifold"]


def add_papers(store: SQLiteStore, n: int, rng: random.Random) -> list[int]:
    for first in range(0, n, 10_000):
        batch = [finish(Paper(
            id=f"2612.{i:05d}", source="bench", title=" ".join(rng.choices(WORDS, k=8)) + f" {i}",
            abstract=" ".join(rng.choices(WORDS, k=120)) + r" with $\alpha_i \le \beta^2$.",
            authors=[Author(f"Author {rng.randrange(50_000)}") for _ in range(rng.randint(1, 6))],
            categories=rng.sample(CATEGORIES, k=rng.randint(1, 2)),
            submitted=NOW.date() - timedelta(days=i % 30))) for i in range(first, min(n, first + 10_000))]
        store.write_batch(batch, [])
    return [r[0] for r in store.db.execute("SELECT pid FROM papers ORDER BY pid")]


def add_events(ctx, pids: list[int], n: int, rng: random.Random) -> None:
    weights = [1 / (r + 1) ** 0.9 for r in range(len(pids))]
    papers = rng.choices(pids, weights=weights, k=n)
    start = NOW - timedelta(days=2)
    step = (NOW - start) / n
    events = [Event(0, start + step * i, Kind.UPVOTE if rng.random() < 0.7 else Kind.SAVE, pid,
                    f"r:{1_000_000 + i}") for i, pid in enumerate(papers)]
    ctx.events.append(events)


def add_readers(store: SQLiteStore, n: int, rng: random.Random) -> None:
    db = store.db
    db.execute("BEGIN IMMEDIATE")
    for i in range(n):
        reader = db.execute("INSERT INTO users(email, created_at) VALUES (?, 0) RETURNING id",
                            (f"reader{i}@example.org",)).fetchone()[0]
        cats = [] if rng.random() < 0.25 else rng.sample(CATEGORIES, k=rng.randint(1, 3))
        db.execute("INSERT INTO subscriptions(reader_id, categories, confirmed_at, created_at) VALUES (?,?,0,0)",
                   (reader, " ".join(cats)))
    db.execute("COMMIT")


def compose_share(home: Path, k: int, workers: int) -> tuple[list[float], list[int], list[int], int, int]:
    """Compose and render the digests of every ``workers``-th reader from the ``k``-th, in this process."""
    store = SQLiteStore(home / "paperboy.db")
    ctx = open_context(store, Settings(home=home, base_url="https://papers.example.org"))
    render_settings = RenderSettings.from_context(ctx)
    day = period("date", NOW.date().isoformat())
    times, sizes, counts, empty = [], [], [], 0
    for sub in ctx.subscriptions.active(NOW):
        if sub.reader_id % workers != k:
            continue
        t0 = time.perf_counter()
        digest = compose(ctx, sub, day, NOW)
        if digest is None:
            empty += 1
        else:
            mail = render(digest, render_settings)
            sizes.append(len(mail.html) + len(mail.text))
            counts.append(len(digest.paper_ids))
        times.append(time.perf_counter() - t0)
    store.close()
    return times, sizes, counts, empty, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def setup(home: Path, args: argparse.Namespace) -> None:
    rng = random.Random(13)
    store = SQLiteStore(home / "paperboy.db")
    t = time.perf_counter()
    pids = add_papers(store, args.papers, rng)
    add_events(open_context(store, Settings(home=home)), pids, args.events, rng)
    add_readers(store, args.readers, rng)
    print(f"setup: {args.papers:,} papers, {args.events:,} events, {args.readers:,} readers "
          f"in {time.perf_counter() - t:.1f} s")
    store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--papers", type=int, default=100_000)
    parser.add_argument("--readers", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--home", type=Path)
    parser.add_argument("--reuse", action="store_true", help="time composing on the store a run left in --home")
    args = parser.parse_args()
    if args.reuse and not args.home:
        parser.error("--reuse needs --home")
    home = args.home or Path(tempfile.mkdtemp(prefix="bench-digest-"))
    if not args.reuse:
        setup(home, args)
    start = time.perf_counter()
    with multiprocessing.get_context("spawn").Pool(args.workers) as pool:
        parts = pool.starmap(compose_share, [(home, k, args.workers) for k in range(args.workers)])
    total = time.perf_counter() - start
    times = sorted(t for part in parts for t in part[0])
    sizes = [x for part in parts for x in part[1]]
    counts = [x for part in parts for x in part[2]]
    empty = sum(part[3] for part in parts)
    p50, p99 = statistics.median(times) * 1000, times[int(len(times) * 0.99)] * 1000
    print(f"compose + render ({args.workers} processes): {len(times):,} digests in {total:.1f} s "
          f"({len(times) / total:,.0f}/s); per digest p50 {p50:.2f} ms, p99 {p99:.2f} ms; "
          f"empty {empty}; papers per digest {statistics.mean(counts):.1f}; "
          f"mail size mean {statistics.mean(sizes) / 1024:.1f} KiB")
    rss = max(part[4] for part in parts)
    print(f"peak RSS per worker {rss / 1024:.0f} MiB; "
          f"database {(home / 'paperboy.db').stat().st_size / 2**20:.0f} MiB at {home}")


if __name__ == "__main__":
    main()
