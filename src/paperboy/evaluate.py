"""Retrieval evaluation on BEIR-layout folders (nDCG@10, Recall@100, MRR@10) through the production path.

Why through production: the numbers must describe what users get, so the corpus is ingested by the normal
ingest pipeline (generic JSON Lines) into a throwaway home, indexed by :class:`paperboy.index.Indexes`, and
every query goes through :meth:`paperboy.search.SearchEngine.search` exactly as the CLI and web do.

Embedding a corpus is the slow part (tens of docs/s on 2 cores), so document vectors are cached under the
user's ``$PAPERBOY_HOME/cache/`` keyed by the corpus file's hash and the model id; a repeated evaluation
(e.g. while tuning fusion) then costs seconds.

Metrics follow the usual trec_eval / BEIR definitions: graded gains ``rel`` with ``log2(rank+1)``
discounts for nDCG@10 (ideal from all judged documents), Recall@100 over documents with grade > 0, and
MRR@10 as the reciprocal rank of the first document with grade > 0 within the top 10.
"""

from __future__ import annotations

import csv
import math
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import orjson

from paperboy.progress import ProgressFn

MODES = ("lexical", "dense", "hybrid")


class EvalError(ValueError):
    """A BEIR folder that cannot be evaluated (missing files, bad qrels)."""


# ---------------------------------------------------------------------------------------------------------------
# metrics
# ---------------------------------------------------------------------------------------------------------------


def dcg(gains: Sequence[float]) -> float:
    """Discounted cumulative gain with the linear gain and ``log2(rank + 1)`` discount (rank from 1)."""
    return sum(g / math.log2(i + 2) for i, g in enumerate(gains))


def ndcg_at(ranked: Sequence[str], rels: Mapping[str, float], k: int = 10) -> float:
    """nDCG@k of one ranking; 0 when the query has no relevant document."""
    ideal = dcg(sorted((g for g in rels.values() if g > 0), reverse=True)[:k])
    if ideal <= 0:
        return 0.0
    return dcg([max(rels.get(d, 0.0), 0.0) for d in ranked[:k]]) / ideal


def recall_at(ranked: Sequence[str], rels: Mapping[str, float], k: int = 100) -> float:
    """Share of the relevant documents (grade > 0) found in the top k."""
    relevant = {d for d, g in rels.items() if g > 0}
    if not relevant:
        return 0.0
    return len(relevant.intersection(ranked[:k])) / len(relevant)


def mrr_at(ranked: Sequence[str], rels: Mapping[str, float], k: int = 10) -> float:
    """Reciprocal rank of the first relevant document within the top k (0 if none)."""
    for i, d in enumerate(ranked[:k]):
        if rels.get(d, 0) > 0:
            return 1.0 / (i + 1)
    return 0.0


def score_run(run: Mapping[str, Sequence[str]], qrels: Mapping[str, Mapping[str, float]]) -> dict[str, float]:
    """Mean metrics over every query with at least one relevant judgment (an empty run scores 0)."""
    qids = [q for q, rels in qrels.items() if any(g > 0 for g in rels.values())]
    if not qids:
        raise EvalError("the qrels have no relevant judgments")
    totals = {"ndcg@10": 0.0, "recall@100": 0.0, "mrr@10": 0.0}
    for q in qids:
        ranked = list(run.get(q, []))
        totals["ndcg@10"] += ndcg_at(ranked, qrels[q], 10)
        totals["recall@100"] += recall_at(ranked, qrels[q], 100)
        totals["mrr@10"] += mrr_at(ranked, qrels[q], 10)
    return {k: v / len(qids) for k, v in totals.items()}


# ---------------------------------------------------------------------------------------------------------------
# BEIR files
# ---------------------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class BeirSet:
    """A BEIR folder: the corpus file, the queries of the split that have judgments, and the qrels."""

    root: Path
    split: str
    queries: dict[str, str]
    qrels: dict[str, dict[str, float]]
    corpus: Path = field(init=False)

    def __post_init__(self) -> None:
        self.corpus = self.root / "corpus.jsonl"


def load_beir(root: Path | str, split: str = "test") -> BeirSet:
    """Read queries and qrels of ``split``; raises :class:`EvalError` with a clear message for bad folders."""
    root = Path(root)
    corpus, queries_path, qrels_path = root / "corpus.jsonl", root / "queries.jsonl", root / "qrels" / f"{split}.tsv"
    for p in (corpus, queries_path):
        if not p.is_file():
            raise EvalError(f"{p} is missing (expected a BEIR folder: corpus.jsonl, queries.jsonl, qrels/)")
    if not qrels_path.is_file():
        have = sorted(x.stem for x in (root / "qrels").glob("*.tsv")) if (root / "qrels").is_dir() else []
        raise EvalError(f"{qrels_path} is missing (splits here: {', '.join(have) or 'none'})")
    qrels: dict[str, dict[str, float]] = {}
    with open(qrels_path, newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh, delimiter="\t")
        for n, row in enumerate(reader, start=1):
            if n == 1 and row and not _is_number(row[-1]):
                continue  # header
            if len(row) < 3:
                if any(c.strip() for c in row):
                    raise EvalError(f"{qrels_path}: line {n}: expected query-id, corpus-id, score")
                continue
            try:
                qrels.setdefault(row[0], {})[row[1]] = float(row[2])
            except ValueError as exc:
                raise EvalError(f"{qrels_path}: line {n}: bad score {row[2]!r}") from exc
    queries: dict[str, str] = {}
    for rec in _jsonl(queries_path):
        qid = str(rec.get("_id", ""))
        if qid in qrels:
            queries[qid] = str(rec.get("text") or "")
    if not queries:
        raise EvalError(f"no query in {queries_path} has judgments in {qrels_path}")
    return BeirSet(root, split, queries, {q: r for q, r in qrels.items() if q in queries})


def _is_number(s: str) -> bool:
    try:
        float(s)
    except ValueError:
        return False
    return True


def _jsonl(path: Path) -> Iterator[dict]:
    with open(path, "rb") as fh:
        for n, line in enumerate(fh, start=1):
            if line.strip():
                try:
                    rec = orjson.loads(line)
                except orjson.JSONDecodeError as exc:
                    raise EvalError(f"{path}: line {n}: invalid JSON: {exc}") from exc
                if isinstance(rec, dict):
                    yield rec


def corpus_as_papers_jsonl(corpus: Path, dest: Path) -> int:
    """Rewrite a BEIR corpus as paperboy's generic JSON Lines (``_id``->id, ``text``->abstract, authors kept).

    A document without a title gets the start of its text as title (the ingest pipeline rejects untitled
    records, and the evaluation must keep every document).  Each document also gets a distinct synthetic DOI
    (``10.0000/beir.<id>``): judged collections contain distinct documents with equal titles (CISI has 13
    such pairs) that the store would otherwise merge as "the same paper", losing judged ids.
    """
    n = 0
    with open(dest, "wb") as out:
        for rec in _jsonl(corpus):
            text = str(rec.get("text") or "")
            title = str(rec.get("title") or "").strip() or " ".join(text.split()[:12]) or f"document {rec.get('_id')}"
            meta = rec.get("metadata") if isinstance(rec.get("metadata"), dict) else {}
            authors = meta.get("authors") if isinstance(meta.get("authors"), list) else []
            doc_id = str(rec.get("_id"))
            item = {"id": doc_id, "title": title, "abstract": text, "authors": [str(a) for a in authors if a],
                    "doi": f"10.0000/beir.{''.join(c if c.isalnum() else '-' for c in doc_id)}"}
            out.write(orjson.dumps(item) + b"\n")
            n += 1
    return n


# ---------------------------------------------------------------------------------------------------------------
# the vector cache
# ---------------------------------------------------------------------------------------------------------------


class CachedEmbedder:
    """Wraps an embedder's ``embed`` with a persistent cache keyed by text hash (one file per corpus + model)."""

    def __init__(self, embedder: object, cache_file: Path) -> None:
        from paperboy.index import text_hash

        self._embedder = embedder
        self._hash = text_hash
        self.model_id = embedder.model_id  # type: ignore[attr-defined]
        self.dim = embedder.dim  # type: ignore[attr-defined]
        self.cache_file = cache_file
        self._cache: dict[int, np.ndarray] = {}
        self._dirty = False
        self.hits = self.misses = 0
        if cache_file.exists():
            try:
                with np.load(cache_file) as z:
                    self._cache = dict(zip(z["hashes"].tolist(), z["vectors"], strict=True))
            except (OSError, ValueError, KeyError):
                self._cache = {}

    def __call__(self, texts: list[str]) -> np.ndarray:
        keys = [self._hash(t) for t in texts]
        missing = [i for i, k in enumerate(keys) if k not in self._cache]
        self.hits += len(texts) - len(missing)
        self.misses += len(missing)
        if missing:
            vecs = self._embedder.embed([texts[i] for i in missing])  # type: ignore[attr-defined]
            for i, v in zip(missing, vecs, strict=True):
                self._cache[keys[i]] = np.asarray(v, dtype=np.float32)
            self._dirty = True
        return np.stack([self._cache[k] for k in keys]) if keys else np.zeros((0, self.dim), np.float32)

    def save(self) -> None:
        if not self._dirty:
            return
        self.cache_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.cache_file.with_suffix(".tmp.npz")
        keys = np.fromiter(self._cache.keys(), dtype=np.uint64, count=len(self._cache))
        vecs = np.stack(list(self._cache.values())) if self._cache else np.zeros((0, self.dim), np.float32)
        with open(tmp, "wb") as fh:
            np.savez(fh, hashes=keys, vectors=vecs)
        os.replace(tmp, self.cache_file)
        self._dirty = False


def cache_file_for(cache_dir: Path, corpus: Path, model_id: str) -> Path:
    safe_model = "".join(c if c.isalnum() or c in "-_." else "_" for c in model_id)
    from paperboy.index.onnx_build import file_sha256

    return Path(cache_dir) / f"eval-vectors-{file_sha256(corpus)[:16]}-{safe_model}.npz"


# ---------------------------------------------------------------------------------------------------------------
# running an evaluation
# ---------------------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class EvalRun:
    """A built throwaway index plus the engine over it, reusable for several modes (and for tuning)."""

    beir: BeirSet
    home: Path
    engine: object  # SearchEngine (typed loosely to keep imports lazy)
    build_s: float
    docs: int
    embedded: bool
    notes: list[str] = field(default_factory=list)

    def run(self, mode: str, limit: int = 100, meter: ProgressFn | None = None) -> dict[str, list[str]]:
        """Ranked corpus ids per query for ``mode`` (tuning changes ``engine.params`` between runs)."""
        from paperboy.query import QueryError, SearchRequest

        engine = self.engine
        out: dict[str, list[str]] = {}
        stage, total = f"queries {mode}", len(self.beir.queries)
        for qid, text in self.beir.queries.items():
            if meter:
                meter(stage, 1, total)
            try:
                res = engine.search(SearchRequest(query=text, mode=mode, limit=limit))  # type: ignore[attr-defined]
            except QueryError:
                out[qid] = []
                continue
            out[qid] = [h.paper.id for h in res.hits]
        return out

    def evaluate(self, mode: str, meter: ProgressFn | None = None) -> dict[str, float]:
        return score_run(self.run(mode, meter=meter), self.beir.qrels)


def build(beir: BeirSet, *, workdir: Path, cache_dir: Path | None, embed: bool = True,
          progress: Callable[[str], None] | None = None, meter: ProgressFn | None = None) -> EvalRun:
    """Ingest ``beir``'s corpus into a fresh home under ``workdir`` and index it, through :func:`pipeline.run`.

    Corpus vectors embedded so far are written to the cache even when the build is interrupted.
    """
    from paperboy import pipeline
    from paperboy.config import load_settings
    from paperboy.index import Indexes
    from paperboy.ingest import open_sources
    from paperboy.search import SearchEngine
    from paperboy.store import open_store

    say = progress or (lambda _m: None)
    t0 = time.perf_counter()
    home = workdir / "home"
    home.mkdir(parents=True, exist_ok=True)
    settings = load_settings(home)
    settings.database_url = f"sqlite:///{home / 'paperboy.db'}"
    settings.batch_size = 5000
    papers_file = workdir / "corpus-papers.jsonl"
    n = corpus_as_papers_jsonl(beir.corpus, papers_file)
    store = open_store(settings.database_url)
    indexes = Indexes(settings, embed=embed)
    cached = None
    if embed and indexes.embedder is not None and cache_dir is not None:
        cached = CachedEmbedder(indexes.embedder, cache_file_for(cache_dir, beir.corpus, indexes.embedder.model_id))
    dense = embed and indexes.embedder is not None
    records = open_sources([str(papers_file)], fmt="jsonl", settings=settings, store=store)
    try:
        report = pipeline.run(settings, store, records, index="all" if dense else "lexical", indexes=indexes,
                              progress=meter, embed_fn=cached)
    finally:
        if cached is not None:
            cached.save()
    summary = report.ingest
    assert summary is not None and report.index is not None  # records were given; nothing else writes this home
    notes = []
    if summary.rejected:
        notes.append(f"{summary.rejected} corpus records were rejected by ingest")
    say(f"ingested {summary.added:,} of {n:,} documents")
    if cached is not None:
        say(f"vectors: {cached.hits:,} from cache, {cached.misses:,} embedded")
    if embed and not dense:
        notes.append(f"embedder unavailable: {indexes.embed_error}")
    embedded = dense and report.index.embed_error is None
    engine = SearchEngine(settings, store, indexes=indexes)
    return EvalRun(beir, home, engine, time.perf_counter() - t0, summary.added, embedded, notes)


def evaluate_beir(root: Path | str, split: str = "test", modes: Sequence[str] = MODES, *,
                  cache_dir: Path | None = None, progress: Callable[[str], None] | None = None,
                  meter: ProgressFn | None = None) -> dict[str, dict]:
    """Evaluate ``modes`` on a BEIR folder; returns ``{mode: {"ndcg@10": x, "recall@100": y, "mrr@10": z}}``.

    ``progress`` gets messages, ``meter`` counts (stages ``ingest``, ``lexical``, ``embed``, then ``queries
    <mode>``).  Modes that need embeddings are left out (with a note via ``progress``) when the embedder is
    unavailable, so a machine without the model still gets lexical figures.
    """
    for m in modes:
        if m not in MODES:
            raise EvalError(f"unknown mode {m!r} (choose from {', '.join(MODES)})")
    beir = load_beir(root, split)
    say = progress or (lambda msg: print(msg, file=sys.stderr))
    needs_dense = any(m != "lexical" for m in modes)
    with tempfile.TemporaryDirectory(prefix="paperboy-eval-") as tmp:
        run = build(beir, workdir=Path(tmp), cache_dir=cache_dir, embed=needs_dense, progress=say, meter=meter)
        for note in run.notes:
            say(note)
        results: dict[str, dict] = {}
        for m in modes:
            if m != "lexical" and not run.embedded:
                say(f"skipping {m}: no embeddings")
                continue
            results[m] = run.evaluate(m, meter)
        run.engine.close()  # type: ignore[attr-defined]
        return results
