"""Web benchmark: requests/second and latency for the paper page, the search page and the search API.

What it does:

1. builds (once, then reuses) a home with >= 100,000 papers: the paperlists corpus (95,562 conference
   papers), the bundled arXiv sample and arXiv listing entries from ``../shared/datasets``, plus the
   lexical index (``--embed`` also embeds every paper, which takes hours on 2 cores; without it search
   answers lexical-only, as the engine does whenever no vectors exist);
2. starts ``paperboy serve`` in a second process;
3. drives load from another process: Debian's ``wrk`` when installed (a Lua script cycles through many
   distinct URLs), else a small asyncio HTTP/1.1 keep-alive load generator in a subprocess;
4. prints requests/s, p50/p90/p99 latency and errors per scenario:
   * response cache off: paper pages on first visit (20,000 random papers: every page rendered and its
     similar papers computed), paper pages on revisit (500 papers seen before: similar papers cached in
     the worker, page still rendered), the search page and the search API (2,000 distinct queries made
     from random titles);
   * response cache on: the same 500 paper pages / searches once they are cached.

Run: ``python bench/bench_web.py [--home DIR] [--duration 10] [--connections 16] [--workers 1]``.
The machine is shared and has 2 cores: the server and the load generator compete for them, so the
figures are a floor for what a dedicated server would do.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import multiprocessing as mp
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote, urlencode

import httpx

DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"
PAPERLISTS = DATASETS / "paperlists" / "papers.jsonl.gz"
LISTINGS = DATASETS / "arxiv-abs" / "listings.jsonl.gz"
MIN_PAPERS = 100_000


# -- the corpus -----------------------------------------------------------------------------------------------------


def build_home(home: Path, target: int, embed: bool) -> int:
    """Ingest enough real papers into ``home`` and index them; reuse what is already there."""
    from paperboy.config import load_settings
    from paperboy.index import Indexes
    from paperboy.ingest import ingest, open_sources
    from paperboy.store import open_store

    settings = load_settings(home)
    store = open_store(settings.database_url)
    have = store.count()
    if have < target:
        from importlib.resources import as_file, files

        t0 = time.perf_counter()
        specs = [str(PAPERLISTS)]
        with as_file(files("paperboy") / "data" / "sample-arxiv.jsonl.gz") as sample:
            specs.append(str(sample))
            summary = ingest(store, open_sources(specs, fmt="auto", settings=settings, store=store))
        print(f"ingest paperlists + sample: {summary.line()} ({time.perf_counter() - t0:.0f} s)", flush=True)
        if store.count() < target and LISTINGS.exists():
            t0 = time.perf_counter()
            tmp = home / "listings-clean.jsonl"
            seen = 0
            with gzip.open(LISTINGS, "rt", encoding="utf-8") as src, open(tmp, "w", encoding="utf-8") as dst:
                for line in src:
                    r = json.loads(line)
                    r["id"] = re.sub(r"\s*\(\*cross-listing\*\)$", "", r["id"])
                    dst.write(json.dumps(r) + "\n")
                    seen += 1
            summary = ingest(store, open_sources([str(tmp)], fmt="snapshot", settings=settings, store=store))
            tmp.unlink()
            print(f"ingest {seen:,} arXiv listing entries: {summary.line()} ({time.perf_counter() - t0:.0f} s)",
                  flush=True)
    total = store.count()
    if total < target:
        raise SystemExit(f"only {total:,} papers available; need {target:,}")
    t0 = time.perf_counter()
    indexes = Indexes(settings, embed=embed)
    report = indexes.sync(store, embed=embed)
    indexes.close()
    print(f"index: {report.line()} ({time.perf_counter() - t0:.0f} s)", flush=True)
    store.close()
    return total


def pick_urls(home: Path, n_papers: int, n_queries: int, seed: int = 7) -> dict[str, list[str]]:
    """Distinct paper-page URLs (random papers) and search URLs (2-3 word queries from random titles)."""
    from paperboy.config import load_settings
    from paperboy.store import open_store

    rng = random.Random(seed)
    store = open_store(load_settings(home).database_url)
    pids = list(store.iter_pids())
    papers = [sp.paper for sp in store.get_many(rng.sample(pids, min(len(pids), n_papers)))]
    stop = {"a", "an", "the", "of", "for", "and", "in", "on", "with", "to", "via", "from", "by", "at", "is", "using"}
    queries: list[str] = []
    for p in papers:
        words = [w for w in re.findall(r"[A-Za-z][A-Za-z-]{2,}", p.title) if w.lower() not in stop]
        if len(words) >= 2:
            k = rng.choice((2, 2, 3))
            start = rng.randrange(0, max(1, len(words) - k + 1))
            queries.append(" ".join(words[start : start + k]).lower())
        if len(queries) >= n_queries:
            break
    store.close()
    return {
        "paper page": ["/paper/" + quote(p.id, safe="/.-_") for p in papers],
        "search page": ["/search?" + urlencode({"q": q}) for q in queries],
        "search API": ["/api/v1/search?" + urlencode({"q": q}) for q in queries],
    }


# -- the server -----------------------------------------------------------------------------------------------------


def start_server(home: Path, port: int, workers: int, cache: bool) -> subprocess.Popen:
    env = dict(os.environ, PAPERBOY_HOME=str(home), PAPERBOY_WEB_CACHE="1" if cache else "0")
    cmd = [sys.executable, "-c", "from paperboy.cli import main; main()", "--home", str(home), "serve",
           "--port", str(port), "--workers", str(workers), "--no-access-log", "--log-level", "warning"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited: {proc.stderr.read().decode()[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    proc.kill()
    raise SystemExit("server did not become ready")


def stop_server(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()


def warm(base: str, urls: list[str], n: int = 20) -> None:
    with httpx.Client(base_url=base, timeout=60) as c:
        for u in urls[:n]:
            c.get(u)


# -- load generators ------------------------------------------------------------------------------------------------

WRK_LUA = """
local paths = {}
local i = 0
init = function(args)
  for line in io.lines(args[1]) do paths[#paths + 1] = line end
  i = math.random(#paths)
end
request = function()
  i = i % #paths + 1
  return wrk.format("GET", paths[i])
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("JSON{\\"requests\\": %d, \\"duration_us\\": %d, \\"p50_us\\": %d, \\"p90_us\\": %d, " ..
    "\\"p99_us\\": %d, \\"status_errors\\": %d, \\"socket_errors\\": %d}\\n", summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), e.status,
    e.connect + e.read + e.write + e.timeout))
end
"""


def run_wrk(base: str, urls: list[str], duration: int, connections: int, threads: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        script, paths = Path(tmp) / "paths.lua", Path(tmp) / "paths.txt"
        script.write_text(WRK_LUA)
        paths.write_text("\n".join(urls) + "\n")
        out = subprocess.run(["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{duration}s",
                              "--timeout", "10s", "-s", str(script), base, "--", str(paths)],
                             capture_output=True, text=True, check=True).stdout
    data = json.loads(out.split("JSON", 1)[1].strip().splitlines()[0])
    secs = data["duration_us"] / 1e6
    return {"rps": data["requests"] / secs, "p50_ms": data["p50_us"] / 1000, "p90_ms": data["p90_us"] / 1000,
            "p99_ms": data["p99_us"] / 1000, "requests": data["requests"],
            "errors": data["status_errors"] + data["socket_errors"], "tool": "wrk"}


async def _py_load(host: str, port: int, urls: list[str], duration: float, connections: int) -> dict:
    latencies: list[float] = []
    errors = 0
    stop_at = time.perf_counter() + duration
    counter = iter(range(10**12))

    async def worker() -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection(host, port)
        while time.perf_counter() < stop_at:
            path = urls[next(counter) % len(urls)]
            t0 = time.perf_counter()
            writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode())
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            length = int(re.search(rb"(?i)content-length: *(\d+)", head)[1])
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - t0)
            if status >= 400:
                errors += 1
        writer.close()

    t0 = time.perf_counter()
    results = await asyncio.gather(*(worker() for _ in range(connections)), return_exceptions=True)
    errors += sum(1 for r in results if isinstance(r, Exception))
    secs = time.perf_counter() - t0
    latencies.sort()

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))] * 1000 if latencies else 0.0

    return {"rps": len(latencies) / secs, "p50_ms": pct(50), "p90_ms": pct(90), "p99_ms": pct(99),
            "requests": len(latencies), "errors": errors, "tool": "python"}


def _py_load_process(queue: mp.Queue, *args: object) -> None:
    queue.put(asyncio.run(_py_load(*args)))  # type: ignore[arg-type]


def run_python(port: int, urls: list[str], duration: int, connections: int) -> dict:
    queue: mp.Queue = mp.Queue()
    proc = mp.Process(target=_py_load_process, args=(queue, "127.0.0.1", port, urls, duration, connections))
    proc.start()
    result = queue.get(timeout=duration + 120)
    proc.join()
    return result


# -- main -----------------------------------------------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--home", type=Path, default=Path(tempfile.gettempdir()) / "paperboy-bench-web")
    ap.add_argument("--papers", type=int, default=MIN_PAPERS, help="minimum papers in the store")
    ap.add_argument("--embed", action="store_true", help="also embed every paper (hours on 2 cores)")
    ap.add_argument("--duration", type=int, default=10, help="seconds per scenario")
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--threads", type=int, default=1, help="wrk threads")
    ap.add_argument("--workers", type=int, default=2, help="server worker processes")
    ap.add_argument("--port", type=int, default=8711)
    ap.add_argument("--distinct-papers", type=int, default=20_000, help="distinct paper pages requested")
    ap.add_argument("--distinct-queries", type=int, default=2_000, help="distinct search queries requested")
    ap.add_argument("--python-load", action="store_true", help="use the Python load generator even if wrk exists")
    ap.add_argument("--fresh", action="store_true", help="delete --home first")
    ap.add_argument("--json", action="store_true", help="print the results as JSON at the end")
    args = ap.parse_args()

    if args.fresh and args.home.exists():
        shutil.rmtree(args.home)
    args.home.mkdir(parents=True, exist_ok=True)
    total = build_home(args.home, args.papers, args.embed)
    urls = pick_urls(args.home, args.distinct_papers, args.distinct_queries)
    use_wrk = shutil.which("wrk") is not None and not args.python_load
    print(f"\n{total:,} papers; server: `paperboy serve --workers {args.workers}`; load: "
          f"{'wrk' if use_wrk else 'python asyncio'} with {args.connections} connections, {args.duration} s each; "
          f"{os.cpu_count()} CPUs shared by server and load generator\n", flush=True)
    rows = []
    hot = 500  # URLs revisited in the "revisit" and "cached" scenarios
    plans = [  # (response cache, scenario, URL list, pre-visit the URLs first?)
        (False, "paper page, first visits", urls["paper page"], False),
        (False, "paper page, revisits", urls["paper page"][:hot], True),
        (False, "search page", urls["search page"], False),
        (False, "search API", urls["search API"], False),
        (True, "paper page, cached", urls["paper page"][:hot], True),
        (True, "search page, cached", urls["search page"][:hot], True),
        (True, "search API, cached", urls["search API"][:hot], True),
    ]
    for cache in (False, True):
        proc = start_server(args.home, args.port, args.workers, cache)
        base = f"http://127.0.0.1:{args.port}"
        try:
            warm(base, ["/", "/search?q=warm+up", "/api/v1/search?q=warm+up"])
            for plan_cache, name, scenario_urls, previsit in plans:
                if plan_cache != cache:
                    continue
                if previsit:  # several connections, so that (most likely) every worker has seen every URL
                    for _ in range(2 * args.workers):
                        with httpx.Client(base_url=base, timeout=60) as c:
                            for u in scenario_urls:
                                c.get(u)
                if use_wrk:
                    res = run_wrk(base, scenario_urls, args.duration, args.connections, args.threads)
                else:
                    res = run_python(args.port, scenario_urls, args.duration, args.connections)
                res.update(scenario=name, cache="on" if cache else "off", distinct_urls=len(scenario_urls))
                rows.append(res)
                print(f"{name:<26} {res['rps']:>8.1f} req/s   p50 {res['p50_ms']:>7.2f} ms   "
                      f"p90 {res['p90_ms']:>7.2f} ms   p99 {res['p99_ms']:>7.2f} ms   errors {res['errors']}   "
                      f"({res['requests']:,} requests over {res['distinct_urls']:,} URLs)", flush=True)
        finally:
            stop_server(proc)
    if args.json:
        print(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
