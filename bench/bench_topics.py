"""Topics benchmark: topic page latency at the issue's scale, and what "newest first" shows against the exact answer.

What it does:

1. creates a store of ``--papers`` synthetic papers (titles and abstracts drawn Zipf-like from a 6,000-word
   vocabulary, submission days over six years, 40 categories), or with ``--paperlists`` the real conference papers
   of ``../shared/datasets/paperlists`` (95,562; each given a day of its year), and its lexical index (no
   vectors: embedding 100,000 abstracts takes about half an hour on 2 cores, so topics saved as "hybrid"
   answer lexical-only here, as the engine does without vectors);
2. adds ``--readers`` readers with ``--topics`` topics each (two or three mid-frequency words of some paper's title,
   a third of them with an archive filter), each with 50 seen papers;
3. times the topic page's data in process (``TopicService.page(look=True)``: the engine's newest-first search,
   which papers are new, recording them as seen): p50 / p99;
4. times whole topic pages over HTTP (HTML and the JSON twin, bearer tokens, uvicorn on loopback);
5. measures the choice behind the ordering: for sampled topics, whether the newest paper containing *all* of the
   topic's words (the exact answer, from a date-ordered index scan: what an arrival about the topic looks like)
   is on the topic page, and whether the engine's 200 newest-first candidates hold it (the page without the scan).

Run: ``nice python bench/bench_topics.py [--papers 100000] [--readers 1000] [--topics 20] [--calls 300]
[--paperlists]``.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import json
import random
import resource
import statistics
import tempfile
import time
import zlib
from datetime import date, timedelta
from functools import partial
from pathlib import Path

import httpx

from paperboy.accounts import AccountService, open_accounts
from paperboy.config import load_settings
from paperboy.index import Indexes
from paperboy.library.topics import (
    PAGE_SIZE,
    TopicError,
    TopicService,
    check_fields,
    newest_with_every_word,
    open_topics,
    search_request,
)
from paperboy.papers import Author, Paper, finish
from paperboy.query import Filters
from paperboy.search import SearchEngine
from paperboy.search.parse import parse_query
from paperboy.store.sqlite import SQLiteStore

SYLLABLES = [c + v for c in "bdfgklmnprstvz" for v in "aeiou"]
CATEGORIES = [f"{a}.{b}" for a in ("cs", "math", "physics", "q-bio") for b in "ABCDEFGHIJ"]


def vocabulary(rng: random.Random, n: int = 6000) -> list[str]:
    words: set[str] = set()
    while len(words) < n:
        words.add("".join(rng.choice(SYLLABLES) for _ in range(rng.choice((2, 3, 3, 4)))))
    return sorted(words)


def zipf_words(rng: random.Random, vocab: list[str], k: int) -> list[str]:
    return [vocab[min(len(vocab) - 1, int(rng.paretovariate(1.1)) - 1)] if rng.random() < 0.5
            else rng.choice(vocab) for _ in range(k)]


def add_papers(store: SQLiteStore, n: int, vocab: list[str], rng: random.Random) -> None:
    for first in range(0, n, 10_000):
        batch = []
        for i in range(first, min(n, first + 10_000)):
            batch.append(finish(Paper(
                id=f"bench-{i}", source="bench", title=" ".join(zipf_words(rng, vocab, 8)).capitalize(),
                abstract=" ".join(zipf_words(rng, vocab, 80)), authors=[Author(f"Author {i % 7919}")],
                categories=[rng.choice(CATEGORIES)], submitted=date(2020, 1, 1) + timedelta(days=rng.randrange(2190)))))
        store.write_batch(batch, [])


PAPERLISTS = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "paperlists" / "papers.jsonl.gz"


def add_paperlists(store: SQLiteStore, limit: int) -> None:
    """Real titles and abstracts (paperlists: conference papers with a year only); each paper gets a day of its
    year drawn from its id, so that "newest" has an order to find (the text is what the measurement is about)."""
    batch: list[Paper] = []
    with gzip.open(PAPERLISTS, "rt", encoding="utf-8") as lines:
        for n, line in enumerate(lines):
            if n >= limit:
                break
            rec = json.loads(line)
            day = date(int(rec["year"]), 1, 1) + timedelta(days=zlib.crc32(rec["id"].encode()) % 365)
            batch.append(finish(Paper(id=rec["id"], source="paperlists", title=rec["title"],
                                      abstract=rec.get("abstract") or "", submitted=day, categories=["cs.LG"],
                                      authors=[Author(a) for a in rec.get("authors") or []][:50])))
            if len(batch) == 10_000:
                store.write_batch(batch, [])
                batch = []
    store.write_batch(batch, [])


def add_readers(store: SQLiteStore, settings: object, readers: int, per_reader: int, vocab: list[str],
                rng: random.Random) -> tuple[list[tuple[int, int]], dict[int, str]]:
    """Readers, their topics (with 50 seen papers each) and API tokens for the first 50 readers."""
    accounts = AccountService(open_accounts(store), settings)  # type: ignore[arg-type]
    topics = open_topics(store)
    mid = set(vocab[100:4000])  # neither the commonest words nor ones that match almost nothing (real text: long words)
    npapers = store.count()
    made: list[tuple[int, int]] = []
    tokens: dict[int, str] = {}
    for r in range(readers):
        reader = accounts.add_reader(f"reader{r}@example.org")
        if r < 50:
            tokens[reader.id] = accounts.create_token(reader, "bench")[1]
        for _ in range(per_reader):
            fields = None
            while fields is None:  # a topic is about something some paper is about: words of a paper's title
                title = store.get_many([rng.randrange(1, npapers + 1)])[0].paper.title.lower().split()
                words = list(dict.fromkeys(w for w in title if (w in mid if mid else w.isalpha() and len(w) > 4)))
                with contextlib.suppress(TopicError):
                    fields = check_fields(query=" ".join(rng.sample(words, min(len(words), rng.choice((2, 3))))),
                                          category=rng.choice(CATEGORIES).split(".")[0] if rng.random() < 0.33
                                          else None)
            topic = topics.create(reader.id, fields, time.time(), 1000)
            topics.mark_seen(topic.id, rng.sample(range(1, npapers + 1), 50), time.time())
            made.append((reader.id, topic.id))
    return made, tokens


def percentiles(timings: list[float]) -> str:
    timings = sorted(timings)
    p99 = timings[min(len(timings) - 1, int(len(timings) * 0.99))]
    return f"p50 {statistics.median(timings):6.2f} ms   p99 {p99:6.2f} ms"


def page_latencies(service: TopicService, made: list[tuple[int, int]], rng: random.Random, calls: int) -> None:
    timings = []
    for _ in range(calls):
        reader, topic_id = rng.choice(made)
        began = time.perf_counter()
        service.page(service.get(reader, topic_id), look=True)
        timings.append((time.perf_counter() - began) * 1000)
    print(f"  topic page data (search + new marks + seen write): {percentiles(timings)}   ({calls} calls)")


def http_latencies(store: SQLiteStore, engine: SearchEngine, settings: object, made: list[tuple[int, int]],
                   tokens: dict[int, str], rng: random.Random, calls: int) -> None:
    from paperboy.web.app import create_app
    from paperboy.web.testing import LiveServer

    app = create_app(settings, store=store, engine=engine, response_cache=False)  # type: ignore[arg-type]
    mine = [(r, t) for r, t in made if r in tokens]
    with LiveServer(app) as server, httpx.Client(base_url=server.url, timeout=60) as client:
        for template in ("/topics/{}", "/api/v1/topics/{}"):
            reader, topic_id = mine[0]
            client.get(template.format(topic_id), headers={"Authorization": f"Bearer {tokens[reader]}"})
            timings = []
            for _ in range(calls):
                reader, topic_id = rng.choice(mine)
                began = time.perf_counter()
                r = client.get(template.format(topic_id), headers={"Authorization": f"Bearer {tokens[reader]}"})
                timings.append((time.perf_counter() - began) * 1000)
                assert r.status_code == 200, r.text[:200]
            print(f"  GET {template.format('ID'):22}: {percentiles(timings)}   ({calls} requests)")


def exactness(service: TopicService, engine: SearchEngine, made: list[tuple[int, int]], rng: random.Random,
              samples: int) -> None:
    """The newest paper holding every word of a topic (what an arrival about the topic is; the exact answer of a
    date-ordered scan): how often the topic page (20 papers) shows it, and how often the engine's 200 relevance
    candidates hold it (what the page would rest on without the scan)."""
    indexes = engine.indexes
    on_page, in_pool, none = [], [], 0
    for reader, topic_id in rng.sample(made, min(samples, len(made))):
        topic = service.get(reader, topic_id)
        pool = {h.pid for offset in (0, 100)
                for h in engine.search(search_request(topic.fields, limit=100, offset=offset)).hits}
        page = {p.pid for p in service.page(topic).papers}
        strict = parse_query(" ".join("+" + w for w in topic.fields.query.split()))
        exact, _ = indexes.lexical.browse(Filters(category=topic.fields.category), 1, 0, strict)
        if not exact:
            none += 1
            continue
        on_page.append(sum(p in page for p in exact) / len(exact))
        in_pool.append(sum(p in pool for p in exact) / len(exact))
    print(f"  the newest paper with every word of a topic: on its page in {statistics.mean(on_page):.3f}, "
          f"among the engine's 200 candidates in {statistics.mean(in_pool):.3f} (of {len(on_page)} topics; "
          f"{none} sampled topics have no paper with every word in their category)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--papers", type=int, default=100_000)
    parser.add_argument("--readers", type=int, default=1000)
    parser.add_argument("--topics", type=int, default=20, help="topics per reader")
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--paperlists", action="store_true",
                        help="real titles and abstracts from ../shared/datasets/paperlists instead of synthetic text")
    parser.add_argument("--home", type=Path, help="folder for the home (default: a temporary one)")
    args = parser.parse_args()
    rng = random.Random(12)
    with tempfile.TemporaryDirectory() as tmp:
        home = args.home or Path(tmp)
        settings = load_settings(home)
        store = SQLiteStore(home / "bench-topics.db")
        vocab = vocabulary(rng)
        t0 = time.perf_counter()
        if args.paperlists:
            add_paperlists(store, args.papers)
        else:
            add_papers(store, args.papers, vocab, rng)
        indexes = Indexes(settings, embed=False)
        indexes.sync(store, embed=False)
        kind = "paperlists" if args.paperlists else "synthetic"
        print(f"{store.count():,} {kind} papers stored and indexed in {time.perf_counter() - t0:.0f} s")
        t0 = time.perf_counter()
        made, tokens = add_readers(store, settings, args.readers, args.topics, [] if args.paperlists else vocab, rng)
        print(f"{args.readers:,} readers, {len(made):,} topics, {len(made) * 50:,} seen papers in "
              f"{time.perf_counter() - t0:.0f} s")
        engine = SearchEngine(settings, store, indexes=indexes)
        service = TopicService(store, engine.search, partial(newest_with_every_word, store, engine))
        print(f"page size {PAGE_SIZE}; every topic answered lexical-only (no vectors)")
        page_latencies(service, made, rng, args.calls)
        http_latencies(store, engine, settings, made, tokens, rng, args.calls)
        exactness(service, engine, made, rng, 200)
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"peak RSS {rss:.0f} MB; database {(home / 'bench-topics.db').stat().st_size / 1e6:.0f} MB")
        store.close()


if __name__ == "__main__":
    main()
