"""Following benchmark: the Following page of readers with 50 follows each over a large store.

What it does:

1. creates a store with ``--papers`` synthetic papers (4 authors each drawn Zipf-like from 20,000 people, one author
   slot in five written with the initial only, "J. Smith"; 1-2 of 40 categories; 40 % with a venue and year; listing
   dates over six years), written through the store's normal write path (which also writes the follow keys);
2. times :meth:`SQLiteFollows.fill_keys` over the whole store (what opening a store from before follows costs once);
3. gives ``--readers`` readers 50 follows each (35 authors, full or initial form, popular ones likelier; 10
   categories; 5 venues), written as ``library.follows.follow`` writes them;
4. times one Following page's data in process (``library.follows.following``: every follow's index range, identity
   folding of each author block, merge, papers): first page and page 6, p50 / p99;
5. times whole pages over HTTP from a uvicorn server on the same database (``/following`` HTML and
   ``/api/v1/following`` JSON, each reader with an API token; personal pages are never cached).

Run: ``nice python bench/bench_following.py [--papers 100000] [--readers 1000] [--calls 500] [--home DIR]``.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import httpx

from paperboy.accounts import AccountService, open_accounts
from paperboy.library import follows as lib
from paperboy.papers import Author, Paper, finish
from paperboy.store.sqlite import SQLiteStore
from paperboy.store.sqlite_follows import SQLiteFollows

GIVEN = ["James", "Mary", "Wei", "Yoshua", "Yann", "Ada", "Alan", "Grace", "Jian", "Li", "Maria", "Jose", "Anna",
         "Peter", "Hiroshi", "Takeo", "Fei", "Andrew", "Michael", "Sara", "David", "Daniel", "Emma", "Olga", "Ivan",
         "Priya", "Arjun", "Lucas", "Chen", "Xin", "Yu", "Hao", "Kai", "Ming", "Sofia", "Elena", "Omar", "Aisha",
         "Tom", "Kevin", "Laura", "Julia", "Marco", "Paolo", "Rui", "Jun", "Min", "Ji", "Seo", "Hye"]
SYLLABLES = ["ka", "to", "ri", "ben", "gio", "lo", "ve", "la", "tur", "ing", "hop", "per", "wa", "ng", "zh", "ao",
             "mu", "ller", "sch", "mid", "kan", "ade", "li", "u", "chen", "son", "ber", "g", "ma", "rt"]
CATEGORIES = [f"{a}.{b}" for a in ("cs", "stat", "math", "physics") for b in ("LG", "CL", "CV", "AI", "RO", "IR",
                                                                             "NE", "DS", "SY", "ML")]
VENUES = ["ICLR", "NeurIPS", "ICML", "CVPR", "ICCV", "ECCV", "ACL", "EMNLP", "NAACL", "AAAI", "IJCAI", "KDD", "WWW",
          "SIGIR", "ICRA", "IROS", "RSS", "CoRL", "AISTATS", "UAI", "COLT", "Phys. Rev. D", "Phys. Rev. Lett.",
          "Nature", "Science", "JMLR", "TPAMI", "IJCV", "TACL", "CHI"]


def people(rng: random.Random, n: int) -> list[tuple[str, str]]:
    surnames = {"".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 3))).capitalize() for _ in range(n)}
    ordered = sorted(surnames)
    return [(rng.choice(GIVEN), rng.choice(ordered)) for _ in range(n)]


def zipf_index(rng: random.Random, n: int) -> int:
    return min(n - 1, int(rng.paretovariate(1.1)) - 1) if rng.random() < 0.5 else rng.randrange(n)


def add_papers(store: SQLiteStore, n: int, who: list[tuple[str, str]], rng: random.Random) -> None:
    start = date(2020, 1, 1)
    for first in range(0, n, 10_000):
        batch = []
        for i in range(first, min(n, first + 10_000)):
            names = []
            for _ in range(4):
                given, surname = who[zipf_index(rng, len(who))]
                names.append(f"{given[0]}. {surname}" if rng.random() < 0.2 else f"{given} {surname}")
            venue = f"{rng.choice(VENUES)} {rng.randint(2020, 2025)}" if rng.random() < 0.4 else None
            batch.append(finish(Paper(id=f"bench-{i}", title=f"Synthetic benchmark paper number {i}", source="bench",
                                      authors=[Author(a) for a in names], journal_ref=venue,
                                      categories=rng.sample(CATEGORIES, rng.randint(1, 2)),
                                      submitted=start + timedelta(days=rng.randrange(6 * 365)))))
        store.write_batch(batch, [])


def add_follows(store: SQLiteStore, readers: list[int], who: list[tuple[str, str]], rng: random.Random) -> None:
    rows = []
    for r in readers:
        chosen: set[tuple[str, str]] = set()
        while len(chosen) < 50:
            k = len(chosen)
            if k < 35:
                given, surname = who[zipf_index(rng, len(who))]
                t = lib.target("author", f"{given[0]}. {surname}" if rng.random() < 0.3 else f"{given} {surname}")
            elif k < 45:
                t = lib.target("category", rng.choice(CATEGORIES))
            else:
                t = lib.target("venue", rng.choice(VENUES))
            if (t.kind, t.key) not in chosen:
                chosen.add((t.kind, t.key))
                rows.append((r, t.kind, t.key, t.value, time.time()))
    with store.db:
        store.db.executemany("INSERT OR IGNORE INTO follows(reader, kind, key, value, created_at) VALUES (?,?,?,?,?)",
                             rows)


def percentiles(timings: list[float]) -> str:
    timings = sorted(timings)
    p99 = timings[min(len(timings) - 1, int(len(timings) * 0.99))]
    return f"p50 {statistics.median(timings):6.2f} ms   p99 {p99:6.2f} ms"


def in_process(store: SQLiteStore, readers: list[int], rng: random.Random, calls: int) -> None:
    for label, offset in (("first page", 0), ("page 6", 100)):
        timings, shown = [], 0
        for _ in range(calls):
            began = time.perf_counter()
            page = lib.following(store, rng.choice(readers), limit=20, offset=offset)
            timings.append((time.perf_counter() - began) * 1000)
            shown += len(page.items)
        print(f"  following() {label:10}: {percentiles(timings)}   ({calls} calls, {shown / calls:.1f} papers a page)")


def over_http(store: SQLiteStore, home: Path, readers: list[int], rng: random.Random, calls: int) -> None:
    from paperboy.config import load_settings
    from paperboy.web.app import create_app
    from paperboy.web.testing import LiveServer

    settings = load_settings(home)
    settings.database_url = f"sqlite:///{store.path}"
    service = AccountService(open_accounts(store), settings)
    tokens = {}
    for i in rng.sample(range(len(readers)), min(len(readers), 100)):
        tokens[i] = service.create_token(service.reader(f"reader{i}@example.org"), "bench")[1]
    app = create_app(settings, store=store, load_engine="never", response_cache=False)
    with LiveServer(app) as server, httpx.Client(base_url=server.url, timeout=60) as client:
        for path in ("/following", "/api/v1/following"):
            timings = []
            for i in range(calls + 5):
                secret = rng.choice(list(tokens.values()))
                began = time.perf_counter()
                r = client.get(path, headers={"Authorization": f"Bearer {secret}"})
                if i >= 5:  # the first few compile templates and warm connections
                    timings.append((time.perf_counter() - began) * 1000)
                assert r.status_code == 200, r.text[:200]
            print(f"  {path:20}: {percentiles(timings)}   ({calls} requests)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--papers", type=int, default=100_000)
    parser.add_argument("--readers", type=int, default=1000)
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--home", type=Path)
    args = parser.parse_args()
    rng = random.Random(12)
    home = args.home or Path(tempfile.mkdtemp(prefix="bench-following-"))
    store = SQLiteStore(home / "paperboy.db")
    who = people(rng, 20_000)
    began = time.perf_counter()
    add_papers(store, args.papers, who, rng)
    print(f"{args.papers:,} papers written in {time.perf_counter() - began:.1f} s (follow keys included)")
    keys = store.db.execute("SELECT count(*), count(DISTINCT block) FROM paper_people").fetchone()
    print(f"  paper_people: {keys[0]:,} rows in {keys[1]:,} author blocks")
    db = store.db
    with db:
        db.execute("DELETE FROM paper_people")
        db.execute("DELETE FROM paper_venues")
        db.execute("UPDATE meta SET value='0' WHERE key='follow_keys_filled'")
    began = time.perf_counter()
    filled = SQLiteFollows(store).fill_keys()
    print(f"fill_keys() over {filled:,} papers: {time.perf_counter() - began:.1f} s")
    accounts = open_accounts(store).accounts
    readers = [accounts.add_reader(f"reader{i}@example.org", 0.0).id for i in range(args.readers)]
    add_follows(store, readers, who, rng)
    print(f"{len(readers):,} readers with 50 follows each")
    in_process(store, readers, rng, args.calls)
    over_http(store, home, readers, rng, args.calls)
    store.close()


if __name__ == "__main__":
    main()
