"""Benchmark the local MiniLM embedder: throughput, query latency, distance to the machine's limit, and nDCG.

Why: the embedder decides how long a full re-index takes and how fast a search can answer, and the int8
variant is only worth using if it is clearly faster *and* retrieval quality barely moves.  This script
produces the figures that justify the defaults in ``paperboy.index.embed`` and ``paperboy.index.onnx_build``.

Run (several minutes on 2 cores)::

    nice .venv/bin/python bench/bench_embed.py                 # everything
    nice .venv/bin/python bench/bench_embed.py --skip-ndcg     # speed only

Throughput is reported twice: wall-clock, and "cpu" = work per core-second of our own process, which stays
meaningful when other jobs share the cores (the wall figure then drops, the cpu figure does not).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCIFACT = Path("/work/shared/datasets/scifact")


def _parse() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=SCIFACT, help="BEIR-layout SciFact directory")
    ap.add_argument(
        "--cache", type=Path, default=Path(os.environ.get("PAPERBOY_HOME", "/tmp/paperboy-bench")) / "models"
    )
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--docs", type=int, default=1000, help="abstracts used for the throughput test")
    ap.add_argument("--batch-sizes", default="16,32,64")
    ap.add_argument("--max-tokens", type=int, default=256)
    ap.add_argument("--variants", default="fp32,int8")
    ap.add_argument(
        "--recipes",
        default="",
        help="extra int8 recipes to compare, e.g. 'QInt8:pc:rr,QUInt8:pc' (weight type, per-channel, reduce-range)",
    )
    ap.add_argument("--queries", type=int, default=200, help="queries for the latency test")
    ap.add_argument("--skip-speed", action="store_true")
    ap.add_argument("--skip-ndcg", action="store_true")
    ap.add_argument("--no-vector-cache", action="store_true", help="re-embed the corpus even if cached")
    return ap.parse_args()


ARGS = _parse()
# BLAS threads must be fixed before numpy is imported, so the matmul ceiling uses the same cores as the model.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = str(ARGS.threads)
os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(ROOT / "src"))

import numpy as np  # noqa: E402

from paperboy.index import embed as E  # noqa: E402
from paperboy.index import onnx_build as B  # noqa: E402


def cpu_seconds() -> float:
    """User+system CPU time of this process (all threads)."""
    t = os.times()
    return t.user + t.system


def load_corpus(limit: int | None = None) -> tuple[list[str], list[str]]:
    ids, texts = [], []
    with open(ARGS.data / "corpus.jsonl", encoding="utf-8") as fh:
        for line in fh:
            d = json.loads(line)
            ids.append(str(d["_id"]))
            texts.append(f"{d.get('title', '')}. {d.get('text', '')}")
            if limit and len(ids) >= limit:
                break
    return ids, texts


def load_queries() -> dict[str, str]:
    with open(ARGS.data / "queries.jsonl", encoding="utf-8") as fh:
        return {str(d["_id"]): d["text"] for d in map(json.loads, fh)}


def load_qrels(split: str = "train") -> dict[str, dict[str, int]]:
    qrels: dict[str, dict[str, int]] = {}
    with open(ARGS.data / "qrels" / f"{split}.tsv", encoding="utf-8") as fh:
        next(fh)  # header: query-id corpus-id score
        for line in fh:
            q, d, s = line.rstrip("\n").split("\t")
            if int(s) > 0:
                qrels.setdefault(q, {})[d] = int(s)
    return qrels


def ndcg_at_k(ranked: list[str], rels: dict[str, int], k: int = 10) -> float:
    """nDCG@k with graded gains rel / log2(rank + 1), as trec_eval/BEIR compute it."""
    dcg = sum(rels.get(doc, 0) / np.log2(i + 2) for i, doc in enumerate(ranked[:k]))
    ideal = sorted(rels.values(), reverse=True)[:k]
    idcg = sum(g / np.log2(i + 2) for i, g in enumerate(ideal))
    return float(dcg / idcg) if idcg > 0 else 0.0


def matmul_gflops(m: int = 8192, k: int = 384, n: int = 1536, reps: int = 5) -> tuple[float, float]:
    """Best-of-N float32 GEMM rate with the shapes of the model's feed-forward layer: the practical ceiling.

    Returns (wall GFLOP/s, GFLOP per core-second x threads): the second does not drop when other jobs
    share the cores, like the "cpu" throughput column.
    """
    rng = np.random.default_rng(0)
    a = rng.standard_normal((m, k), dtype=np.float32)
    b = rng.standard_normal((k, n), dtype=np.float32)
    a @ b  # warm-up (thread pool start, page faults)
    best_wall = best_cpu = 0.0
    flops = 2.0 * m * k * n
    for _ in range(reps):
        c0, t0 = cpu_seconds(), time.perf_counter()
        a @ b
        wall, cpu = time.perf_counter() - t0, cpu_seconds() - c0
        best_wall = max(best_wall, flops / wall / 1e9)
        best_cpu = max(best_cpu, flops / max(cpu / ARGS.threads, 1e-9) / 1e9)
    return best_wall, best_cpu


def model_flops(tokens: np.ndarray) -> float:
    """Multiply-add FLOPs for sequences of the given lengths: 2*params_in_matmuls*t + attention 4*L*t^2*H."""
    cfg = json.loads((B.model_package_dir() / "config.json").read_text())
    h, inter, layers = cfg["hidden_size"], cfg["intermediate_size"], cfg["num_hidden_layers"]
    matmul_params = layers * (4 * h * h + 2 * h * inter)
    t = tokens.astype(np.float64)
    return float(np.sum(2.0 * matmul_params * t + 4.0 * layers * t * t * h))


def padded_tokens(lengths: np.ndarray, batch_size: int) -> np.ndarray:
    """Token counts actually computed after length sorting and per-batch padding (mirrors Embedder.embed)."""
    s = np.sort(lengths)
    out = []
    for i in range(0, len(s), batch_size):
        chunk = s[i : i + batch_size]
        out.extend([chunk.max()] * len(chunk))
    return np.asarray(out)


def parse_recipe(spec: str) -> dict[str, object]:
    """'QUInt8:pc:rr' -> weight type, per-channel, reduce-range."""
    parts = spec.split(":")
    return {"weight_type": parts[0], "per_channel": "pc" in parts[1:], "reduce_range": "rr" in parts[1:]}


def embedders() -> dict[str, E.Embedder]:
    out: dict[str, E.Embedder] = {}
    for variant in [v for v in ARGS.variants.split(",") if v]:
        t = time.perf_counter()
        out[variant] = E.Embedder.load(ARGS.cache, variant, threads=ARGS.threads)
        print(f"loaded {variant:<6} {out[variant].model_id} in {time.perf_counter() - t:.1f}s")
    for spec in [r for r in ARGS.recipes.split(",") if r]:
        recipe = parse_recipe(spec)
        path = ARGS.cache / f"bench-int8-{spec.replace(':', '-')}.onnx"
        if not path.exists():
            B.quantize_model(B.ensure_model_file(ARGS.cache, "fp32"), path, recipe)
        out[f"int8[{spec}]"] = E.Embedder.from_onnx(path, f"bench:{spec}", threads=ARGS.threads)
    return out


def speed(models: dict[str, E.Embedder]) -> None:
    _, texts = load_corpus(ARGS.docs)
    first = next(iter(models.values()))
    lengths = np.asarray(first.count_tokens(texts, ARGS.max_tokens))
    useful = model_flops(lengths)
    ceiling, cpu_ceiling = matmul_gflops()
    print(
        f"\n== throughput: {len(texts)} SciFact abstracts, max_tokens {ARGS.max_tokens}, threads {ARGS.threads} ==\n"
        f"tokens/abstract: mean {lengths.mean():.0f}, p50 {np.median(lengths):.0f}, max {lengths.max()}; "
        f"{useful / len(texts) / 1e9:.2f} GFLOP/abstract (useful)\n"
        f"numpy float32 GEMM ceiling ({ARGS.threads} threads, 8192x384x1536): {ceiling:.1f} GFLOP/s wall, "
        f"{cpu_ceiling:.1f} per {ARGS.threads} core-seconds => limit {ceiling * 1e9 / (useful / len(texts)):.1f} "
        f"abstracts/s wall, {cpu_ceiling * 1e9 / (useful / len(texts)):.1f} cpu"
    )
    print(f"{'variant':<18}{'batch':>6}{'wall/s':>9}{'cpu/s':>9}{'GFLOP/s':>9}{'% limit':>9}{'cpu %lim':>9}{'pad%':>7}")
    for name, emb in models.items():
        emb.embed(texts[:64], batch_size=32, max_tokens=ARGS.max_tokens)  # warm-up
        for bs in [int(b) for b in ARGS.batch_sizes.split(",")]:
            c0, t0 = cpu_seconds(), time.perf_counter()
            emb.embed(texts, batch_size=bs, max_tokens=ARGS.max_tokens)
            wall, cpu = time.perf_counter() - t0, cpu_seconds() - c0
            rate = len(texts) / wall
            cpu_rate = len(texts) / (cpu / ARGS.threads)
            pad = padded_tokens(lengths, bs)
            gflops = useful / wall / 1e9
            print(
                f"{name:<18}{bs:>6}{rate:>9.1f}{cpu_rate:>9.1f}{gflops:>9.1f}{100 * gflops / ceiling:>8.0f}%"
                f"{100 * (useful * cpu_rate / len(texts) / 1e9) / cpu_ceiling:>8.0f}%"
                f"{100 * (pad.sum() / lengths.sum() - 1):>6.1f}%",
                flush=True,
            )
    queries = list(load_queries().values())[: ARGS.queries]
    print(f"\n== query latency: {len(queries)} SciFact claims, embed_query (max_tokens 64) ==")
    for name, emb in models.items():
        for q in queries[:10]:
            emb.embed_query(q)
        lat = []
        for q in queries:
            t = time.perf_counter()
            emb.embed_query(q)
            lat.append((time.perf_counter() - t) * 1000)
        lat_a = np.asarray(lat)
        print(
            f"{name:<18} p50 {np.percentile(lat_a, 50):6.2f} ms  p99 {np.percentile(lat_a, 99):6.2f} ms  "
            f"mean {lat_a.mean():6.2f} ms"
        )


def ndcg(models: dict[str, E.Embedder]) -> None:
    doc_ids, texts = load_corpus()
    queries = load_queries()
    qrels = load_qrels("train")
    qids = [q for q in qrels if q in queries]
    print(f"\n== dense retrieval nDCG@10: SciFact train, {len(qids)} queries, {len(doc_ids)} docs, exact cosine ==")
    base: np.ndarray | None = None
    text_key = hashlib.sha256("\x00".join(texts).encode()).hexdigest()[:12]
    for name, emb in models.items():
        # Corpus vectors are cached per model_id (which changes whenever the numbers would), so re-running
        # the benchmark after a speed-only change does not spend another ~10 minutes re-embedding.
        safe_id = "".join(c if c.isalnum() else "_" for c in emb.model_id)
        cached = ARGS.cache / "bench-vectors" / f"{safe_id}-{ARGS.max_tokens}-{text_key}.npy"
        if cached.is_file() and not ARGS.no_vector_cache:
            docs, took_s = np.load(cached), "cached"
        else:
            t = time.perf_counter()
            docs = emb.embed(texts, batch_size=32, max_tokens=ARGS.max_tokens)
            took_s = f"{time.perf_counter() - t:.0f}s"
            cached.parent.mkdir(parents=True, exist_ok=True)
            np.save(cached, docs)
        qv = np.stack([emb.embed_query(queries[q]) for q in qids])
        top = np.argsort(-(qv @ docs.T), axis=1)[:, :10]
        scores = [ndcg_at_k([doc_ids[j] for j in top[i]], qrels[q]) for i, q in enumerate(qids)]
        extra = ""
        if base is None:
            base = docs
        else:
            cos = np.sum(docs * base, axis=1)
            extra = f"  doc cos vs first: mean {cos.mean():.4f} min {cos.min():.4f}"
        print(f"{name:<18} nDCG@10 {np.mean(scores):.4f}  (corpus embedding: {took_s}){extra}", flush=True)


def main() -> None:
    load = os.getloadavg()
    print(f"onnxruntime threads {ARGS.threads}; load average at start {load[0]:.2f} on {os.cpu_count()} cores")
    models = embedders()
    if not ARGS.skip_speed:
        speed(models)
    if not ARGS.skip_ndcg:
        ndcg(models)
    print(f"\nload average at end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
