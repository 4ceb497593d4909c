"""Export benchmark: the whole-library export of one reader with many events (issue 12 target: ≤ 2 s at 50,000).

What it does:

1. creates a store with ``--papers`` small synthetic papers and ``--readers`` readers;
2. gives the measured reader ``--events`` events (``Events.append``, one transaction): upvote and save toggles
   over random papers in time order (about one in five clears a mark the reader holds), so the reader ends with
   tens of thousands of standing marks and a default collection of every saved paper; plus 20 named collections
   of 200 papers each with notes, and 500 background events of every other reader;
3. times ``export_reader`` (the JSON document), its serialisation, the BibTeX and the CSV exports (best of
   ``--repeat``, and the median), and the import of the document into an empty account (which replays the marks
   through the events backend);
4. prints sizes (items, marks, bytes) and the database size.

Run: ``nice python bench/bench_export.py [--papers 100000] [--events 50000] [--readers 1000] [--home DIR]``.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import orjson

from bench_trending import START, add_papers
from paperboy.accounts import open_accounts
from paperboy.events import open_signals
from paperboy.library.collections import open_library
from paperboy.library.export import bibtex, csv_text, export_reader, import_reader
from paperboy.store.events import Event, Kind
from paperboy.store.sqlite import SQLiteStore


def reader_events(reader: int, pids: list[int], n: int, rng: random.Random) -> list[Event]:
    """``n`` mark toggles in time order; about one in five clears a mark the reader holds."""
    held: list[tuple[int, Kind]] = []
    holding: set[tuple[int, Kind]] = set()
    out = []
    for k in range(n):
        at = START + timedelta(seconds=k * 30)
        if held and rng.random() < 0.2:
            pick = rng.randrange(len(held))
            held[pick], held[-1] = held[-1], held[pick]
            mark = held.pop()
            holding.discard(mark)
            out.append(Event(0, at, mark[1], mark[0], f"r:{reader}", on=False))
            continue
        mark = (rng.choice(pids), Kind.SAVE if rng.random() < 0.5 else Kind.UPVOTE)
        if mark not in holding:
            holding.add(mark)
            held.append(mark)
        out.append(Event(0, at, mark[1], mark[0], f"r:{reader}"))
    return out


def timed(fn: Callable[[], object], repeat: int) -> tuple[float, float, object]:
    times, result = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return min(times), statistics.median(times), result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--papers", type=int, default=100_000)
    ap.add_argument("--events", type=int, default=50_000)
    ap.add_argument("--readers", type=int, default=1_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--home", type=Path, default=None)
    args = ap.parse_args()
    home = args.home or Path(tempfile.mkdtemp(prefix="paperboy-bench-export-"))
    rng = random.Random(12)
    store = SQLiteStore(home / "paperboy.db")
    t = time.perf_counter()
    pids = add_papers(store, args.papers)
    accounts = open_accounts(store).accounts
    readers = [accounts.add_reader(f"reader{i}@example.org", 0.0).id for i in range(args.readers)]
    signals = open_signals(store)
    lib = open_library(store, signals)
    me = readers[0]
    signals.events.append(reader_events(me, pids, args.events, rng))
    for other in readers[1:]:
        signals.events.append(reader_events(other, pids, 500 // max(1, len(readers) // 100), rng))
    for c in range(20):
        made = lib.create(me, f"Collection {c} <b>&</b>", "=SUM(A1)")
        for pid in rng.sample(pids, 200):
            sp = store.get_many([pid])[0]
            lib.add(me, made.id, sp, f"note on {sp.paper.id}: =cmd|' /C calc'!A0")
    print(f"setup: {time.perf_counter() - t:.1f} s ({args.papers:,} papers, {args.readers:,} readers, "
          f"{args.events:,} events for the measured reader)")

    best, median, doc = timed(lambda: export_reader(lib, me), args.repeat)
    items = sum(len(c["items"]) for c in doc["collections"])
    print(f"export_reader: best {best * 1000:.0f} ms, median {median * 1000:.0f} ms "
          f"({len(doc['votes']):,} votes, {len(doc['saves']):,} saves, {items:,} items)")
    best, median, body = timed(lambda: orjson.dumps(export_reader(lib, me), option=orjson.OPT_INDENT_2), args.repeat)
    print(f"export as sent (document + JSON): best {best * 1000:.0f} ms, median {median * 1000:.0f} ms, "
          f"{len(body) / 1e6:.1f} MB")
    for name, fn in (("BibTeX", bibtex), ("CSV", csv_text)):
        best, median, text = timed(lambda fn=fn: fn(lib, me), args.repeat)
        print(f"{name}: best {best * 1000:.0f} ms, median {median * 1000:.0f} ms, {len(text) / 1e6:.1f} MB")
    fresh = accounts.add_reader("fresh@example.org", 0.0).id
    t = time.perf_counter()
    notes = import_reader(lib, fresh, orjson.loads(body))
    print(f"import into an empty account: {time.perf_counter() - t:.1f} s ({len(notes)} notes); "
          f"round trip equal: {export_reader(lib, fresh) == doc}")
    print(f"database: {(home / 'paperboy.db').stat().st_size / 1e6:.0f} MB at {home}")
    store.close()


if __name__ == "__main__":
    main()
