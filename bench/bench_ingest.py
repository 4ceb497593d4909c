"""Ingest throughput and peak memory (issue #3's benchmark).

    python bench/bench_ingest.py [--million] [--workdir /tmp/paperboy-bench]

1. paperlists (95,562 real papers, generic JSON Lines, gzipped) into a fresh store, then again (nothing changes).
2. With --million: a 1,000,000-record arXiv-snapshot-format file generated from paperlists (perturbed copies with
   distinct new-style arXiv ids, shuffled categories and dates), ingested fresh and again.  Peak memory should stay
   flat in the input size (streaming, batched transactions).

Each stage runs `paperboy ingest` in a fresh process; figures are papers/s (wall clock and per CPU-second of that
process, which is what a busy shared machine distorts least) and that process's peak RSS.  As a same-run
baseline, the time to merely read and JSON-decode the input is printed too (the ceiling for any ingest).
"""

from __future__ import annotations

import argparse
import gzip
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

import orjson

DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"
PAPERLISTS = DATASETS / "paperlists" / "papers.jsonl.gz"
CATEGORIES = ["cs.LG", "cs.CV", "cs.CL", "cs.AI", "cs.RO", "stat.ML", "cs.IR", "math.OC", "eess.IV", "cs.NE"]
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
RUNNER = (
    "import resource, sys, time\n"
    "from paperboy.cli import main\n"
    "t = time.perf_counter()\n"
    "try:\n"
    "    main(sys.argv[1:], standalone_mode=False)\n"
    "finally:\n"
    "    u = resource.getrusage(resource.RUSAGE_SELF)\n"
    "    print('ELAPSED', time.perf_counter() - t, 'CPU', u.ru_utime + u.ru_stime, 'RSS_KB', u.ru_maxrss)\n"
)


def run_ingest(home: Path, path: Path, n: int, label: str) -> None:
    out = subprocess.run([sys.executable, "-c", RUNNER, "--home", str(home), "ingest", str(path)],
                         capture_output=True, text=True, check=True, env={**os.environ, "TQDM_DISABLE": "1"})
    summary = [line for line in out.stdout.splitlines() if line.startswith("added")][0]
    words = out.stdout.split()
    elapsed, rss_kb = float(words[words.index("ELAPSED") + 1]), int(words[words.index("RSS_KB") + 1])
    cpu = float(words[words.index("CPU") + 1])
    print(f"{label:<34} {n / elapsed:>9,.0f} papers/s  {elapsed:>7.1f} s wall  {n / cpu:>9,.0f} papers/CPU-s  "
          f"peak RSS {rss_kb / 1024:>6.0f} MB  [{summary}]")


def read_baseline(path: Path) -> None:
    t = time.perf_counter()
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        n = sum(1 for line in f if orjson.loads(line))
    elapsed = time.perf_counter() - t
    print(f"{'baseline: read + JSON-decode':<34} {n / elapsed:>9,.0f} records/s {elapsed:>7.1f} s")


def make_million(target: Path, total: int) -> int:
    """Write ``total`` snapshot-format records derived from paperlists (perturbed, distinct ids)."""
    rng = random.Random(42)
    with gzip.open(PAPERLISTS, "rb") as f:
        base = [orjson.loads(line) for line in f]
    written = 0
    with open(target, "wb") as out:
        while written < total:
            for r in base:
                if written >= total:
                    break
                words = r["title"].split()
                if written >= len(base) and len(words) > 2:
                    i = rng.randrange(len(words))
                    words[i] = words[i][::-1]
                    words.append(f"v{written // len(base)}")
                # Distinct new-style ids: block b of 100,000 records gets month 15{b+1:02d}; the dates readers
                # see (versions, update_date) are drawn independently so date filters have a realistic spread.
                block = written // 100_000
                arxiv_id = f"{15 + block // 12:02d}{block % 12 + 1:02d}.{written % 100_000:05d}"
                yymm = f"{rng.randrange(7, 25):02d}{rng.randrange(1, 13):02d}"
                day = rng.randrange(1, 28)
                rec = {
                    "id": arxiv_id,
                    "submitter": None,
                    "authors": ", ".join(r.get("authors") or []),
                    "title": " ".join(words),
                    "comments": None, "journal-ref": None, "doi": None, "report-no": None,
                    "categories": " ".join(rng.sample(CATEGORIES, rng.randrange(1, 4))),
                    "license": None,
                    "abstract": r.get("abstract") or "",
                    "versions": [{"version": "v1",
                                  "created": f"Mon, {day} {MONTHS[int(yymm[2:]) - 1]} 20{yymm[:2]} 10:00:00 GMT"}],
                    "update_date": f"20{yymm[:2]}-{yymm[2:]}-{day:02d}",
                }
                out.write(orjson.dumps(rec) + b"\n")
                written += 1
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--million", action="store_true", help="also run the 1,000,000-record snapshot file")
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/paperboy-bench-ingest"))
    args = parser.parse_args()
    if not PAPERLISTS.exists():
        sys.exit(f"missing {PAPERLISTS}")
    shutil.rmtree(args.workdir, ignore_errors=True)
    args.workdir.mkdir(parents=True)
    print(f"paperboy ingest benchmark, {time.strftime('%Y-%m-%d')}, {os.cpu_count()} CPUs")
    read_baseline(PAPERLISTS)
    run_ingest(args.workdir / "home-pl", PAPERLISTS, 95_562, "paperlists 95,562: fresh")
    run_ingest(args.workdir / "home-pl", PAPERLISTS, 95_562, "paperlists 95,562: re-ingest")
    if args.million:
        big = args.workdir / "snapshot-1m.jsonl"
        t = time.perf_counter()
        n = make_million(big, args.size)
        size_gb = big.stat().st_size / 1e9
        print(f"generated {n:,} snapshot records in {time.perf_counter() - t:.0f} s ({size_gb:.2f} GB)")
        read_baseline(big)
        run_ingest(args.workdir / "home-1m", big, n, f"snapshot {n:,}: fresh")
        run_ingest(args.workdir / "home-1m", big, n, f"snapshot {n:,}: re-ingest")
        db = args.workdir / "home-1m" / "paperboy.db"
        print(f"store size: {db.stat().st_size / 1e9:.2f} GB")


if __name__ == "__main__":
    main()
