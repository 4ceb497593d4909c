"""Search at scale: build a 100 k / 1 M paper corpus, index it, and measure build speed, size, memory and latency.

    nice python bench/bench_search.py --sizes 100000,1000000 [--queries 1000] [--workdir DIR] [--keep] [--fts5]
    python bench/bench_search.py --serve DIR/home-1000000 DIR/queries.json [--modes hybrid]  # re-measure a kept build

Per size it prints:
- build throughput per stage: ingest (parse + store), lexical index (tantivy), vectors (ANN index);
- embedding speed of the real model on real abstracts (a sample; see below);
- on-disk size of the store, the lexical index and the vector index;
- resident memory of a fresh serving process after it answered every query;
- latency p50 / p99 over >= 1,000 realistic queries (titles, title keyword phrases, frequent terms, phrases and
  +/- operators taken from the data) for lexical, dense and hybrid, with and without filters, query embedding
  included (the engine's query-vector cache is cleared before every query);
- ANN recall@10 against exact search;
- with ``--fts5``: SQLite FTS5 ``ORDER BY bm25()`` against tantivy on frequent-term queries (the engine choice).

The corpus: ``../shared/datasets/paperlists`` (95,562 real papers) replicated with perturbed words (a tenth of the
abstract words replaced by words from other papers), shuffled dates and arXiv-style categories, distinct ids.
It is generated into a temporary folder and never committed.

Vectors: embedding a million near-duplicates would take hours and measure nothing new, so only a sample of real
abstracts is embedded with the real model (that gives the abstracts/s figure), and every paper's vector is a
perturbed copy of one sample vector (Gaussian noise, cosine about 0.85 to its source), chosen by a hash of its
text.  The ANN structure and latency are thus measured at full size; the dense *relevance* at this scale is not.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import random
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np
import orjson

DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"
PAPERLISTS = DATASETS / "paperlists" / "papers.jsonl.gz"
VENUE_CATS = {
    "iros": "cs.RO", "icra": "cs.RO", "rss": "cs.RO", "corl": "cs.RO", "nips": "cs.LG", "icml": "cs.LG",
    "iclr": "cs.LG", "aistats": "stat.ML", "uai": "stat.ML", "colt": "cs.LG", "alt": "cs.LG", "acml": "cs.LG",
    "automl": "cs.LG", "cvpr": "cs.CV", "iccv": "cs.CV", "eccv": "cs.CV", "wacv": "cs.CV", "3dv": "cs.CV",
    "siggraph": "cs.GR", "siggraphasia": "cs.GR", "acmmm": "cs.MM", "acl": "cs.CL", "naacl": "cs.CL",
    "coling": "cs.CL", "colm": "cs.CL", "ijcai": "cs.AI", "aaai": "cs.AI", "kdd": "cs.DB", "www": "cs.IR",
    "ai4x": "cs.AI",
}
EXTRA_CATS = ["cs.LG", "cs.AI", "stat.ML", "cs.CV", "cs.CL", "cs.RO", "math.OC", "eess.IV", "cs.NE", "q-bio.NC"]
FREQUENT = ["learning", "neural network", "deep learning", "model", "robot", "graph", "transformer", "reinforcement",
            "image", "language model", "optimization", "detection", "data", "training", "network"]
NOISE_COS = 0.85


# ---------------------------------------------------------------------------------------------------------------
# corpus
# ---------------------------------------------------------------------------------------------------------------


def load_base() -> list[dict]:
    with gzip.open(PAPERLISTS, "rb") as fh:
        return [r for r in map(orjson.loads, fh) if r.get("title")]


def generate(base: list[dict], n: int, dest: Path, seed: int = 7) -> None:
    """Write ``n`` generic JSON Lines papers: the real ones first, then perturbed replicas with distinct ids."""
    rng = random.Random(seed)
    vocab = [w for r in base[:5000] for w in (r.get("abstract") or "").split()[:60]]
    with open(dest, "wb") as out:
        for i in range(n):
            r = base[i % len(base)]
            rep = i // len(base)
            abstract = r.get("abstract") or ""
            title = r["title"]
            year = int(r.get("year") or 2020)
            if rep:
                words = abstract.split()
                for _ in range(len(words) // 10 + (1 if words else 0)):
                    words[rng.randrange(len(words))] = rng.choice(vocab)
                abstract = " ".join(words)
                tw = title.split()
                if len(tw) > 3:
                    tw[rng.randrange(len(tw))] = rng.choice(vocab)
                title = " ".join(tw)
                year = rng.randint(1995, 2025)
            primary = VENUE_CATS.get(r.get("venue", ""), "cs.LG") if rep == 0 or rng.random() < 0.7 else \
                rng.choice(EXTRA_CATS)
            cats = [primary] + rng.sample(EXTRA_CATS, rng.randint(0, 2))
            rec = {
                "id": f"{r['id']}~{rep}" if rep else r["id"],
                "title": title,
                "abstract": abstract,
                "authors": r.get("authors") or [],
                "categories": list(dict.fromkeys(cats)),
                "date": date(year, rng.randint(1, 12), rng.randint(1, 28)).isoformat(),
            }
            out.write(orjson.dumps(rec) + b"\n")


def make_queries(base: list[dict], count: int, seed: int = 11) -> list[dict]:
    """Realistic queries from the data: titles, keyword phrases from titles, frequent terms, operators."""
    rng = random.Random(seed)
    titled = [r for r in base if r.get("title")]
    out = []
    stop = {"a", "an", "the", "of", "for", "and", "in", "on", "with", "to", "via", "from", "by", "using"}
    while len(out) < count:
        r = rng.choice(titled)
        words = [w for w in re.findall(r"[A-Za-z][A-Za-z-]+", r["title"]) if w.lower() not in stop]
        kind = rng.random()
        if kind < 0.35:
            q = r["title"]
        elif kind < 0.75 and len(words) >= 2:
            k = rng.randint(2, min(4, len(words)))
            start = rng.randrange(len(words) - k + 1)
            q = " ".join(words[start : start + k])
        elif kind < 0.9:
            q = rng.choice(FREQUENT)
        elif len(words) >= 3:
            q = f'"{words[0]} {words[1]}" +{words[2]}' if rng.random() < 0.5 else f"{words[0]} {words[1]} -{words[2]}"
        else:
            continue
        out.append({"q": q, "filtered": rng.random() < 0.5})
    return out


# ---------------------------------------------------------------------------------------------------------------
# vectors
# ---------------------------------------------------------------------------------------------------------------


class DerivedVectors:
    """An ``embed_fn`` returning perturbed copies of real sample vectors, chosen by a hash of the text."""

    def __init__(self, sample: np.ndarray, model_id: str) -> None:
        self.sample = sample
        self.dim = sample.shape[1]
        self.model_id = model_id
        # noise with norm s added to a unit vector gives cosine 1/sqrt(1+s^2): pick s for NOISE_COS
        self.sigma = (1 / NOISE_COS**2 - 1) ** 0.5 / self.dim**0.5

    def __call__(self, texts: list[str]) -> np.ndarray:
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for j, t in enumerate(texts):
            h = int.from_bytes(hashlib.blake2b(t.encode(), digest_size=8).digest(), "little")
            rng = np.random.default_rng(h)
            v = self.sample[h % len(self.sample)] + rng.standard_normal(self.dim, dtype=np.float32) * self.sigma
            out[j] = v / np.linalg.norm(v)
        return out


# ---------------------------------------------------------------------------------------------------------------
# stages
# ---------------------------------------------------------------------------------------------------------------


def dir_size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def mb(n: float) -> str:
    return f"{n / 1e6:,.0f} MB"


def build(n: int, base: list[dict], work: Path, sample: np.ndarray, model_id: str) -> dict:
    from paperboy.config import load_settings
    from paperboy.index import Indexes
    from paperboy.ingest import ingest, open_sources
    from paperboy.store import open_store

    home = work / f"home-{n}"
    if home.exists():
        shutil.rmtree(home)
    home.mkdir(parents=True)
    corpus = work / f"corpus-{n}.jsonl"
    t = time.perf_counter()
    generate(base, n, corpus)
    print(f"  generated {n:,} papers in {time.perf_counter() - t:.0f} s", flush=True)
    settings = load_settings(home)
    store = open_store(settings.database_url)
    t = time.perf_counter()
    summary = ingest(store, open_sources([str(corpus)], fmt="jsonl", settings=settings, store=store),
                     batch_size=5000)
    ingest_s = time.perf_counter() - t
    print(f"  ingest (parse + store): {summary.added:,} papers, {summary.added / ingest_s:,.0f} papers/s", flush=True)
    indexes = Indexes(settings, embed=True)
    t = time.perf_counter()
    lex = indexes.lexical.sync(store, batch=5000)
    lex_s = time.perf_counter() - t
    print(f"  lexical index: {lex:,} papers, {lex / lex_s:,.0f} papers/s", flush=True)
    t = time.perf_counter()
    report = indexes.sync(store, embed_fn=DerivedVectors(sample, model_id), batch=5000)
    vec_s = time.perf_counter() - t
    print(f"  vectors (derived, ANN insert): {report.embedded:,} papers, {report.embedded / vec_s:,.0f} papers/s",
          flush=True)
    store.close()
    corpus.unlink()
    sizes = {"store": dir_size(home / "paperboy.db"), "lexical": dir_size(settings.index_dir / "lexical"),
             "vectors": dir_size(settings.index_dir / "vectors")}
    print("  on disk: " + ", ".join(f"{k} {mb(v)}" for k, v in sizes.items()), flush=True)
    return {"home": str(home), "papers": summary.added, "ingest_per_s": summary.added / ingest_s,
            "lexical_per_s": lex / lex_s, "vectors_per_s": report.embedded / vec_s, "sizes": sizes}


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def serve(home: str, queries_file: str, modes: tuple[str, ...] = ("lexical", "dense", "hybrid")) -> None:
    """Run in a fresh process: open the engine, answer every query in every mode, report latency and RSS."""
    from paperboy.config import load_settings
    from paperboy.query import Filters, SearchRequest
    from paperboy.search import SearchEngine
    from paperboy.store import open_store

    queries = json.loads(Path(queries_file).read_text())
    settings = load_settings(Path(home))
    store = open_store(settings.database_url)
    t = time.perf_counter()
    engine = SearchEngine(settings, store)
    open_s = time.perf_counter() - t
    filt = Filters(category="cs.CV", since=date(2015, 1, 1))
    results: dict[str, dict] = {}
    for mode in modes:
        for filtered in (False, True):
            times, empty = [], 0
            for item in queries:
                engine.clear_query_cache()  # query embedding is part of every measured request
                t = time.perf_counter()
                res = engine.search(SearchRequest(query=item["q"], mode=mode, limit=10,
                                                  filters=filt if filtered else Filters()))
                times.append((time.perf_counter() - t) * 1000)
                empty += not res.hits
                assert res.mode_used == mode or mode == "lexical", res.notice
            results[f"{mode}{' +filters' if filtered else ''}"] = {
                "p50": statistics.median(times), "p99": pct(times, 99), "mean": statistics.fmean(times),
                "empty": empty}
    freq = {}
    for term in ("learning", "neural network", "model"):
        times = []
        for _ in range(20):
            t = time.perf_counter()
            engine.search(SearchRequest(query=term, mode="lexical", limit=10))
            times.append((time.perf_counter() - t) * 1000)
        freq[term] = statistics.median(times)
    vectors = engine.indexes.vectors()
    rng = np.random.default_rng(3)
    recalls = []
    ids_all = vectors.ids()
    for key in rng.choice(ids_all, size=min(200, len(ids_all)), replace=False):
        q = vectors.get(int(key)) + rng.standard_normal(vectors.dim).astype(np.float32) * 0.03
        approx, _ = vectors.search(q, 10)
        exact, _ = vectors.search(q, 10, exact=True)
        recalls.append(len(set(approx.tolist()) & set(exact.tolist())) / 10)
    mem = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "RssAnon", "RssFile"):
            mem[key] = int(value.split()[0]) * 1024
    print(json.dumps({"open_s": open_s, "latency": results, "frequent_lexical_p50": freq,
                      "ann_recall@10": statistics.fmean(recalls), "uses_hnsw": vectors.uses_hnsw,
                      "rss": mem.get("VmRSS", 0), "rss_anon": mem.get("RssAnon", 0),
                      "rss_file": mem.get("RssFile", 0)}))


def fts5_compare(home: Path, n: int) -> dict:
    """SQLite FTS5 over the same titles+abstracts: frequent-term top-10 latency, vs tantivy."""
    from paperboy.config import load_settings
    from paperboy.index.lexical import LexicalIndex
    from paperboy.search.parse import parse_query

    db = sqlite3.connect(home / "fts5.db")
    src = sqlite3.connect(home / "paperboy.db")
    db.execute("CREATE VIRTUAL TABLE docs USING fts5(title, abstract, tokenize='porter unicode61')")
    t = time.perf_counter()
    cur = src.execute("SELECT pid, title, abstract FROM papers")
    while rows := cur.fetchmany(10000):
        db.executemany("INSERT INTO docs(rowid, title, abstract) VALUES (?,?,?)", rows)
    db.commit()
    build_s = time.perf_counter() - t
    lex = LexicalIndex(load_settings(home).index_dir / "lexical")
    out = {"fts5_build_per_s": n / build_s, "queries": {}}
    for term in ("learning", "neural network", "robot grasping", "transformer"):
        fts_q = " ".join(f'"{w}"' for w in term.split())
        times_f, times_t = [], []
        for _ in range(5):
            t = time.perf_counter()
            db.execute("SELECT rowid FROM docs WHERE docs MATCH ? ORDER BY bm25(docs, 2.0, 1.0) LIMIT 10",
                       (fts_q,)).fetchall()
            times_f.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            lex.search(parse_query(term), 10)
            times_t.append((time.perf_counter() - t) * 1000)
        out["queries"][term] = {"fts5_ms": statistics.median(times_f), "tantivy_ms": statistics.median(times_t)}
    db.close()
    (home / "fts5.db").unlink()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="100000,1000000", help="comma-separated corpus sizes")
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--sample", type=int, default=1000, help="real abstracts embedded with the model")
    ap.add_argument("--workdir", type=Path, default=None, help="where to build (default: a temporary folder)")
    ap.add_argument("--keep", action="store_true", help="keep the built homes")
    ap.add_argument("--fts5", action="store_true", help="also compare SQLite FTS5 on frequent-term queries")
    ap.add_argument("--serve", nargs=2, metavar=("HOME", "QUERIES"),
                    help="only measure serving (latency, RSS, recall) on a home kept by --keep; prints JSON")
    ap.add_argument("--modes", default="lexical,dense,hybrid", help="with --serve: the search modes to time")
    args = ap.parse_args()
    if args.serve:
        serve(*args.serve, modes=tuple(m for m in args.modes.split(",") if m))
        return
    from paperboy.index.embed import Embedder

    work = args.workdir or Path(tempfile.mkdtemp(prefix="paperboy-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    models = work / "models"
    base = load_base()
    print(f"paperlists: {len(base):,} papers; work folder {work}", flush=True)
    from paperboy.index.onnx_build import ensure_model_file

    ensure_model_file(models, "fp32")  # (builds fp32 before int8 on a fresh cache)
    embedder = Embedder.load(models, variant="int8")
    rng = random.Random(5)
    texts = [f"{r['title']}. {r['abstract']}" for r in rng.sample([r for r in base if r.get("abstract")], args.sample)]
    embedder.embed(texts[:32])  # warm up
    t = time.perf_counter()
    sample = embedder.embed(texts, batch_size=32, max_tokens=256)
    emb_s = time.perf_counter() - t
    print(f"embedding ({embedder.model_id}, {os.cpu_count()} cores): {len(texts) / emb_s:,.1f} abstracts/s "
          f"on {len(texts):,} real abstracts", flush=True)
    queries = make_queries(base, args.queries)
    qfile = work / "queries.json"
    qfile.write_text(json.dumps(queries))
    for n in [int(s) for s in args.sizes.split(",") if s.strip()]:
        print(f"\n== {n:,} papers", flush=True)
        info = build(n, base, work, sample, embedder.model_id)
        home = Path(info["home"])
        (home / "models").symlink_to(models.resolve(), target_is_directory=True)
        out = subprocess.run([sys.executable, __file__, "--serve", str(home), str(qfile)], capture_output=True,
                             text=True)
        if out.returncode:
            print(out.stderr[-3000:])
            raise SystemExit(out.returncode)
        res = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"  serving process: opened in {res['open_s']:.1f} s, RSS {mb(res['rss'])} after all queries "
              f"(anonymous {mb(res['rss_anon'])}, file-backed mmaps {mb(res['rss_file'])})")
        print(f"  latency over {len(queries):,} queries (ms, query embedding included):")
        for name, r in res["latency"].items():
            print(f"    {name:<18} p50 {r['p50']:7.2f}  p99 {r['p99']:7.2f}  mean {r['mean']:7.2f}  "
                  f"(no hits: {r['empty']})")
        print("  frequent-term lexical p50 (ms): " + ", ".join(f"{k!r} {v:.2f}"
                                                               for k, v in res["frequent_lexical_p50"].items()))
        print(f"  ANN recall@10 vs exact: {res['ann_recall@10']:.4f} (HNSW: {res['uses_hnsw']})", flush=True)
        if args.fts5:
            f = fts5_compare(home, n)
            print(f"  FTS5 build {f['fts5_build_per_s']:,.0f} papers/s; top-10 by bm25 (ms):")
            for term, r in f["queries"].items():
                print(f"    {term!r:<18} FTS5 {r['fts5_ms']:8.2f}   tantivy {r['tantivy_ms']:6.2f}")
        if not args.keep:
            shutil.rmtree(home, ignore_errors=True)
    if not args.keep and args.workdir is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
