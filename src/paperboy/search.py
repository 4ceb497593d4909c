"""The query engine every surface uses: lexical, dense and hybrid search, pinning, filters, sorts, highlights.

One :class:`SearchEngine` per process holds the opened indexes and the loaded embedder (no per-request
loading) and is safe to call from many threads.

How a hybrid query is answered, and why:

1. **Pins.**  An arXiv id, a DOI or an exact (normalised) title names one paper: it goes first.
2. **Candidates.**  BM25 top-N from tantivy (filters inside the query) and cosine top-N from the vector index
   (filters as an ``allowed`` predicate, so the ANN never returns papers a filter would drop afterwards;
   a selective filter switches to an exact scan of the allowed papers instead).  The query embedding and the
   first ANN search run in a worker thread while the lexical side runs; if they are not done within a time
   budget (or the model is unavailable) the answer is lexical-only, and says so in ``notice``.
3. **Complete scores.**  A candidate found by one side only gets a score from the other side instead of a zero,
   so fusion compares like with like: its real cosine (dot product with its stored vector), and its BM25 looked
   up in a deeper lexical fetch (top 1,000, cheap with block-max WAND), or below that the 1,000th score as an
   upper bound (0 when fewer papers match at all).  Against exact BM25 for every candidate (one restricted
   tantivy query, ~6 ms at 1 M papers) the bound changed mean nDCG@10 over the five sets by under 0.001.
4. **Fusion.**  Score-normalised weighted fusion: both score lists z-normalised over the candidates,
   ``0.4 * bm25 + 0.6 * cosine``.  Chosen over plain RRF by measurement on the train sets (SciFact-train
   nDCG@10: RRF k=60 0.716, weighted 0.733; mean over SciFact, CACM, CISI, Cranfield and CSFCube: z-score 0.491,
   "score / max" 0.484, min-max 0.487); RRF stays available (``FusionParams.method="rrf"``).
5. **Pseudo-relevance feedback** (dense side): the query vector moves towards the mean vector of the top 4
   fused documents (Rocchio, weight 1), the dense side is searched and re-scored with it; +0.003 to +0.03
   nDCG@10 on every set.  Top 4 by the mean over the five sets (0.4924; 3: 0.4919, 5: 0.4907), though 5 was
   best on SciFact alone.  Lexical RM3-style expansion is implemented but off: it lowered SciFact by 0.015-0.03.
6. **Filters and paging once**, after ranking; ``newest`` sorts the relevant candidates by date.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from paperboy.config import Settings
from paperboy.index import Indexes
from paperboy.index.lexical import NAME, ParsedQuery, analyze, author_matches, idf, parse_query
from paperboy.papers import InvalidId, normalise_doi, parse_arxiv_id
from paperboy.query import (
    MAX_LIMIT,
    MAX_OFFSET,
    MAX_QUERY_CHARS,
    Filters,
    Hit,
    Mode,
    QueryError,
    SearchRequest,
    SearchResult,
)
from paperboy.store.base import Store, StoredPaper

log = logging.getLogger(__name__)

MODES = ("hybrid", "lexical", "dense")
SORTS = ("relevance", "newest")
_DenseSide = tuple[np.ndarray, list[int], list[float]]  # query vector, top pids, their cosines
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@dataclass(slots=True)
class FusionParams:
    """Ranking knobs; defaults chosen by measurement on the train sets (see BENCHMARKS.md)."""

    method: str = "weighted"  # "weighted" (score-normalised convex combination) or "rrf"
    lexical_weight: float = 0.4  # weighted fusion: share of the normalised BM25 score
    norm: str = "zscore"  # BM25 normalisation: "max" (score / best), "minmax", or "zscore" (both sides)
    rrf_k: int = 60
    depth: int = 100  # candidates taken from each side before fusion
    complete: bool = True  # fill a candidate's missing side score (real cosine; BM25 from the lookup below)
    lex_lookup: int = 1000  # BM25 hits fetched in hybrid mode to look up the lexical score of dense candidates
    prf_docs: int = 4  # dense pseudo-relevance feedback: top fused documents averaged into the query vector
    prf_expansion: int | None = 128  # HNSW efS of the feedback search (None: the index's own, 512)
    prf_weight: float = 1.0  # how far the query vector moves towards them (0 disables)
    query_max_tokens: int = 128  # query embedding truncation (short queries are unaffected)
    dense_budget_ms: float = 1000.0  # wait this long for the query embedding before answering lexical-only
    exact_below: int = 5_000  # a filter allowing fewer papers than this scans them exactly instead of ANN
    newest_depth: int = 200  # relevant candidates re-sorted by date for sort=newest
    lex_prf_docs: int = 0  # lexical pseudo-relevance feedback (RM3-like): top BM25 documents read
    lex_prf_terms: int = 10  # expansion terms added to the BM25 query
    lex_prf_weight: float = 0.0  # weight of the strongest expansion term relative to a query term (0 disables)


@dataclass(slots=True)
class _Ranked:
    """Candidates of one request with everything needed to explain them."""

    order: list[int] = field(default_factory=list)
    score: dict[int, float] = field(default_factory=dict)
    lex_rank: dict[int, int] = field(default_factory=dict)
    dense_rank: dict[int, int] = field(default_factory=dict)
    pinned: dict[int, str] = field(default_factory=dict)


class SearchEngine:
    """Answers :class:`SearchRequest` objects; construct once per process and share between threads."""

    def __init__(self, settings: Settings, store: Store, *, indexes: Indexes | None = None,
                 params: FusionParams | None = None, threads: int | None = 2, sync: bool = False,
                 warm: bool = True) -> None:
        """``threads`` caps the query embedder of the indexes made here (unused when ``indexes`` is given).

        A capped pool also stops onnxruntime's idle workers spinning on every core, where they fought tantivy,
        which runs beside the embedding: hybrid p50 at 1 M papers was 23.6 ms with onnxruntime's default pool,
        19-21 ms with one or two sleeping threads; at 100 k, 17.2 ms with one thread and 14.4 ms with two.
        """
        self.settings = settings
        self.store = store
        self.indexes = indexes or Indexes(settings, threads=threads)
        self.params = params or FusionParams()
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="paperboy-dense")
        self._qcache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._qlock = threading.Lock()
        self._refreshed = time.monotonic()
        if sync:
            self.indexes.sync(store)
        if warm:
            self.warm_up()

    def warm_up(self) -> None:
        """Load the embedder and vector index now, so that no request pays for loading them."""
        if self.indexes.has_vectors() and self.indexes.embedder is not None:
            with contextlib.suppress(Exception):
                self._embed_query(self.indexes.embedder, "warm up")

    @property
    def lexical(self) -> Any:
        return self.indexes.lexical

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    # -- request checks -----------------------------------------------------------------------------------------

    @staticmethod
    def clean_query(text: object) -> str:
        """Make any input a safe query string: bytes decoded leniently, lone surrogates and control characters
        removed, whitespace collapsed, cut to MAX_QUERY_CHARS."""
        if text is None:
            return ""
        if isinstance(text, bytes | bytearray):
            text = bytes(text).decode("utf-8", "replace")
        if not isinstance(text, str):
            raise QueryError("the query must be text")
        text = text.encode("utf-8", "replace").decode("utf-8")  # lone surrogates (undecodable argv) -> '?'
        text = _CONTROL.sub(" ", text)
        text = " ".join(text.split())
        return text[:MAX_QUERY_CHARS]

    def _check(self, request: SearchRequest) -> SearchRequest:
        if not isinstance(request, SearchRequest):
            raise QueryError("expected a SearchRequest")
        if request.mode not in MODES:
            raise QueryError(f"unknown mode {request.mode!r} (choose from {', '.join(MODES)})")
        if request.sort not in SORTS:
            raise QueryError(f"unknown sort {request.sort!r} (choose from {', '.join(SORTS)})")
        f = request.filters if isinstance(request.filters, Filters) else Filters()
        if f.since and f.until and f.since > f.until:
            raise QueryError(f"the date range is inverted: {f.since} is after {f.until}")
        f = replace(f, category=_clean_opt(f.category), author=_clean_opt(f.author))
        try:
            limit, offset = int(request.limit), int(request.offset)
        except (TypeError, ValueError) as exc:
            raise QueryError("limit and offset must be whole numbers") from exc
        return replace(request, query=self.clean_query(request.query), filters=f,
                       limit=min(max(limit, 1), MAX_LIMIT), offset=min(max(offset, 0), MAX_OFFSET))

    def _maybe_refresh(self) -> None:
        now = time.monotonic()
        if now - self._refreshed > 2.0:
            self._refreshed = now
            try:
                self.indexes.refresh()
            except (OSError, ValueError) as exc:  # pragma: no cover - a half-written index from another process
                log.warning("index refresh failed: %s", exc)

    # -- public API ---------------------------------------------------------------------------------------------

    def search(self, request: SearchRequest) -> SearchResult:
        """Answer one request.  Raises :class:`QueryError` (safe to show) for requests that make no sense."""
        t0 = time.perf_counter()
        req = self._check(request)
        self._maybe_refresh()
        q = parse_query(req.query)
        notice: str | None = None
        mode_used: Mode = req.mode
        pins = self._pins(req.query, req.filters)
        if q.empty:
            if q.dropped_only_stopwords and not pins:
                return SearchResult(req, [], 0, _ms(t0), "lexical",
                                    "the query has only very common words; add a more specific term")
            return self._browse(req, q, pins, t0)
        ranked = _Ranked()
        need = req.offset + req.limit
        depth = max(self.params.depth, need if req.sort == "relevance" else self.params.newest_depth)
        future = None
        if req.mode != "lexical":
            future, notice = self._start_dense(q.semantic_text or req.query, q, depth, req.filters)
        lex_pids: list[int] = []
        lex_scores: list[float] = []
        lex_k = self._lexical_k(req.mode, depth)
        if req.mode != "dense" or future is None:
            lex_pids, lex_scores = self.lexical.search(q, lex_k, filters=req.filters)
            if self.params.lex_prf_weight > 0 and lex_pids:
                extra = self._expansion(q, lex_pids[: self.params.lex_prf_docs])
                if extra:
                    lex_pids, lex_scores = self.lexical.search(q, lex_k, filters=req.filters, extra=extra)
        dense = None
        if future is not None:
            dense, notice = self._finish_dense(future, t0)
        if dense is None:
            mode_used = "lexical"
            if not lex_pids and req.mode == "dense":
                lex_pids, lex_scores = self.lexical.search(q, depth, filters=req.filters)
            ranked = self._rank_lexical(lex_pids[:depth], lex_scores[:depth])
        else:
            qvec, dense_pids, dense_scores = dense
            if req.mode == "dense":
                ranked = self._rank_single(dense_pids, dense_scores, dense=True)
            else:
                ranked = self._fuse(q, qvec, lex_pids, lex_scores, dense_pids, dense_scores, depth, req.filters)
        self._apply_pins(ranked, pins)
        if req.sort == "newest":
            self._sort_newest(ranked)
        hits = self._page(ranked, req, q)
        total = self._total(ranked, q, req, depth, len(hits))
        return SearchResult(req, hits, total, _ms(t0), mode_used, notice)

    def _lexical_k(self, mode: str, depth: int) -> int:
        """BM25 hits to fetch: ``depth`` candidates, and in hybrid mode enough more to score dense candidates."""
        return max(depth, self.params.lex_lookup) if mode == "hybrid" else depth

    def _total(self, ranked: _Ranked, q: ParsedQuery, req: SearchRequest, depth: int, got: int) -> int:
        """"About N results": exact when every candidate fitted in the fetch, else the best cheap estimate."""
        n = len(ranked.order)
        if req.filters.author and n <= req.offset + req.limit:
            return req.offset + got  # per-author verification may have dropped some candidates
        if n < depth or req.filters.active or q.has_constraints:
            return max(n, got)
        return max(n, self.lexical.estimate_total(q))

    def similar(self, ident: str, limit: int = 10) -> list[Hit]:
        """Papers nearest to ``ident``'s stored vector (lexical "more like this" when it has none)."""
        limit = min(max(int(limit), 1), MAX_LIMIT)
        found = self.store.get(self.clean_query(ident))
        if found is None:
            return []
        vectors = self.indexes.vectors()
        vec = None
        if vectors is not None:
            try:
                vec = vectors.get(found.pid)
            except (KeyError, ValueError, IndexError):
                vec = None
        if vec is None:  # no vector (embedder unavailable or not yet embedded): title+abstract words
            text = f"{found.paper.title} {found.paper.abstract}"[:MAX_QUERY_CHARS]
            q = parse_query(text.replace('"', " ").replace("-", " ").replace("+", " "))
            pids, scores = self.lexical.search(q, limit + 1)
            why = "shares words with this paper"
        else:
            ids, sims = vectors.search(np.asarray(vec, dtype=np.float32), limit + 1)
            pids, scores = [int(i) for i in ids], [float(s) for s in sims]
            why = "semantically similar"
        pairs = [(p, s) for p, s in zip(pids, scores, strict=True) if p != found.pid][:limit]
        papers = {sp.pid: sp for sp in self.store.get_many([p for p, _ in pairs])}
        return [Hit(p, papers[p].paper, s, f"{why} (rank {i})") for i, (p, s) in enumerate(pairs, 1) if p in papers]

    # -- pins and browsing --------------------------------------------------------------------------------------

    def _pins(self, text: str, filters: Filters) -> dict[int, str]:
        """Papers the query names exactly: arXiv id, DOI, or exact normalised title."""
        pins: dict[int, str] = {}
        s = text.strip()
        if not s:
            return pins
        if len(s) < 120 and " " not in s:
            why = None
            try:
                parse_arxiv_id(s)
                why = "exact arXiv id"
            except InvalidId:
                if normalise_doi(s):
                    why = "exact DOI"
            if why:
                found = self.store.get(s)
                if found is not None:
                    pins[found.pid] = why
        if len(s) <= 400:
            for pid in self.lexical.find_title(s):
                pins.setdefault(pid, "exact title")
        if pins and filters.active:
            keep = self.lexical.satisfying(ParsedQuery(text=""), list(pins), filters)
            pins = {p: w for p, w in pins.items() if p in keep}
        return pins

    def _browse(self, req: SearchRequest, q: ParsedQuery, pins: dict[int, str], t0: float) -> SearchResult:
        """Empty query: the newest papers matching the filters (and any -excluded words)."""
        over = 3 if req.filters.author else 1
        pids, total = self.lexical.browse(req.filters, (req.offset + req.limit) * over, 0, q)
        ranked = _Ranked(order=list(pids), score={p: 0.0 for p in pids})
        self._apply_pins(ranked, pins)
        hits = self._page(ranked, req, q, browse=True)
        return SearchResult(req, hits, max(total, len(hits)), _ms(t0), "lexical", None)

    @staticmethod
    def _apply_pins(ranked: _Ranked, pins: dict[int, str]) -> None:
        if not pins:
            return
        top = max(ranked.score.values(), default=0.0)
        for pid in pins:
            ranked.score[pid] = top + 1.0
        ranked.pinned = dict(pins)
        ranked.order = list(pins) + [p for p in ranked.order if p not in pins]

    # -- dense side ---------------------------------------------------------------------------------------------

    def _start_dense(self, text: str, q: ParsedQuery, depth: int, filters: Filters) -> tuple[Any, str | None]:
        """Submit the query embedding and the first dense search to a worker (or say why there is none).

        They run while this thread runs BM25: tantivy, onnxruntime and usearch all release the GIL, so on two
        cores the dense side costs little more than the lexical side alone (at 1 M papers ~4 ms of ~24).
        """
        indexes = self.indexes
        if not indexes.has_vectors():
            return None, "semantic search unavailable (no paper vectors yet: run `paperboy index`): keyword results"
        embedder = indexes.embedder
        if embedder is None:
            return None, f"semantic search unavailable ({indexes.embed_error}): keyword results only"
        if indexes.model_id and embedder.model_id != indexes.model_id:
            return None, "semantic search unavailable (paper vectors were made by another model): keyword results"
        key = text[:MAX_QUERY_CHARS]
        with self._qlock:
            cached = self._qcache.get(key)
            if cached is not None:
                self._qcache.move_to_end(key)
        return self._pool.submit(self._dense_side, embedder, key, cached, q, depth, filters), None

    def _dense_side(self, embedder: Any, text: str, cached: np.ndarray | None, q: ParsedQuery, depth: int,
                    filters: Filters) -> _DenseSide:
        qvec = cached if cached is not None else self._embed_query(embedder, text)
        return (qvec, *self._dense(qvec, depth, filters, q))

    def _embed_query(self, embedder: Any, text: str) -> np.ndarray:
        vec = np.asarray(embedder.embed_query(text, max_tokens=self.params.query_max_tokens), dtype=np.float32)
        with self._qlock:
            self._qcache[text] = vec
            if len(self._qcache) > 2048:
                self._qcache.popitem(last=False)
        return vec

    def _finish_dense(self, future: Any, t0: float) -> tuple[_DenseSide | None, str | None]:
        budget = self.params.dense_budget_ms / 1000.0
        try:
            return future.result(timeout=max(0.0, budget - (time.perf_counter() - t0))), None
        except FutureTimeout:
            return None, "semantic search was too slow for this request: keyword results only"
        except Exception as exc:  # noqa: BLE001 - any model failure must degrade to lexical, never crash
            log.warning("query embedding or dense search failed: %s", exc)
            return None, "semantic search failed for this query: keyword results only"

    def _allowed(self, filters: Filters) -> np.ndarray | None:
        """Boolean mask by pid for the filters (None = everything allowed)."""
        if not filters.active:
            return None
        mask = self.lexical.filter_mask(filters)
        if filters.author:
            pids = np.fromiter(self.lexical.author_pids(filters.author), dtype=np.int64)
            amask = np.zeros(max(len(mask) if mask is not None else 0, int(pids.max(initial=-1)) + 1), dtype=bool)
            amask[pids] = True
            if mask is not None:
                n = min(len(mask), len(amask))
                mask = mask[:n] & amask[:n]
            else:
                mask = amask
        return mask

    def _dense(self, qvec: np.ndarray, k: int, filters: Filters, q: ParsedQuery,
               expansion: int | None = None) -> tuple[list[int], list[float]]:
        """Top-k by cosine among papers passing the filters and the query's +/-/phrase constraints.

        Exact whenever the allowed set is small (a selective filter, or +required / "phrase" parts matching
        few papers: those are resolved through the lexical index first); otherwise ANN with over-fetch.
        """
        vectors = self.indexes.vectors()
        mask = self._allowed(filters)
        limit = self.params.exact_below
        if q.required or q.phrases:
            cset = self.lexical.constrained_pids(q, limit + 1)
            if len(cset) <= limit:
                ids = np.fromiter(cset, dtype=np.int64, count=len(cset))
                if mask is not None:
                    ids = ids[ids < len(mask)]
                    ids = ids[mask[ids]]
                return self._exact_among(qvec, k, ids)
        allowed: Any = None
        if mask is not None:
            allowed_ids = np.flatnonzero(mask)
            if len(allowed_ids) == 0:
                return [], []
            if len(allowed_ids) <= limit:
                if not q.has_constraints:
                    return self._exact_among(qvec, k, allowed_ids)
                allowed = allowed_ids.astype(np.uint64)
            else:
                allowed = mask
        fetch = k * 2 if q.has_constraints else k
        pairs: list[tuple[int, float]] = []
        for _ in range(4):
            pids, sims = self._ann(vectors, qvec, fetch, allowed, expansion)
            if not q.has_constraints:
                return pids[:k], sims[:k]
            keep = self.lexical.satisfying(q, pids)
            pairs = [(p, s) for p, s in zip(pids, sims, strict=True) if p in keep]
            if len(pairs) >= k or len(pids) < fetch:
                break
            fetch *= 4
        return [p for p, _ in pairs[:k]], [s for _, s in pairs[:k]]

    def _exact_among(self, qvec: np.ndarray, k: int, ids: np.ndarray) -> tuple[list[int], list[float]]:
        if not len(ids):
            return [], []
        got, scores = self.indexes.vectors().search(qvec, k, allowed=np.asarray(ids, dtype=np.uint64))
        return [int(i) for i in got], [float(x) for x in scores]

    @staticmethod
    def _ann(vectors: Any, qvec: np.ndarray, fetch: int, allowed: Any,
             expansion: int | None = None) -> tuple[list[int], list[float]]:
        """ANN top-``fetch``; a broad boolean mask is applied by over-fetching (vectorised), not a callback."""
        if isinstance(allowed, np.ndarray) and allowed.dtype == bool:
            n = max(len(vectors), 1)
            share = max(int(allowed.sum()), 1) / n
            over = min(n, int(fetch / share * 1.5) + 20)
            ids, scores = vectors.search(qvec, over, expansion=expansion)
            ids = np.asarray(ids, dtype=np.int64)
            ok = (ids < len(allowed)) & allowed[np.minimum(ids, len(allowed) - 1)]
            if int(ok.sum()) >= fetch or over >= n:
                return [int(i) for i in ids[ok][:fetch]], [float(x) for x in np.asarray(scores)[ok][:fetch]]
            size = len(allowed)

            def pred(key: int, _m: np.ndarray = allowed, _n: int = size) -> bool:
                return 0 <= key < _n and bool(_m[key])

            allowed = pred
        ids, scores = vectors.search(qvec, fetch, allowed=allowed, expansion=expansion)
        return [int(i) for i in ids], [float(x) for x in scores]

    def _vectors_of(self, pids: Sequence[int]) -> dict[int, np.ndarray]:
        """Stored vectors of a few papers (for pseudo-relevance feedback)."""
        vectors = self.indexes.vectors()
        out: dict[int, np.ndarray] = {}
        for p in pids:
            v = vectors.get(int(p))
            if v is not None:
                out[int(p)] = np.asarray(v, dtype=np.float32).reshape(-1)
        return out

    def _cosines(self, qvec: np.ndarray, pids: Sequence[int]) -> dict[int, float]:
        """Exact cosine of ``qvec`` with each of ``pids``' stored vectors, in one call (an id-restricted scan)."""
        if not len(pids):
            return {}
        ids, scores = self.indexes.vectors().search(qvec, len(pids), allowed=np.asarray(pids, dtype=np.uint64))
        return {int(i): float(s) for i, s in zip(ids, scores, strict=True)}

    def _expansion(self, q: ParsedQuery, pids: list[int]) -> list[tuple[str, float]]:
        """Expansion terms from the top BM25 documents: term frequency share times idf (RM3-like)."""
        p = self.params
        weights: dict[str, float] = {}
        for sp in self.store.get_many(pids):
            terms = analyze(f"{sp.paper.title} {sp.paper.abstract}")
            if not terms:
                continue
            share = 1.0 / len(terms)
            for t in terms:
                weights[t] = weights.get(t, 0.0) + share
        have = set(q.positive_terms) | set(q.excluded)
        cands = [t for t in weights if t not in have and len(t) > 2 and not t.isdigit()]
        if not cands:
            return []
        n = max(self.lexical.num_docs, 1)
        dfs = self.lexical.doc_freqs(cands)
        scored = sorted(((weights[t] * idf(dfs[t], n), t) for t in cands if dfs[t] >= 2), reverse=True)
        scored = scored[: p.lex_prf_terms]
        if not scored:
            return []
        top = scored[0][0]
        return [(t, p.lex_prf_weight * s / top) for s, t in scored]

    # -- fusion -------------------------------------------------------------------------------------------------

    @staticmethod
    def _rank_single(pids: list[int], scores: list[float], dense: bool) -> _Ranked:
        r = _Ranked(order=list(pids), score=dict(zip(pids, scores, strict=True)))
        ranks = {p: i for i, p in enumerate(pids, 1)}
        if dense:
            r.dense_rank = ranks
        else:
            r.lex_rank = ranks
        return r

    def _rank_lexical(self, pids: list[int], scores: list[float]) -> _Ranked:
        return self._rank_single(pids, scores, dense=False)

    def _fuse(self, q: ParsedQuery, qvec: np.ndarray, lex_pids: list[int], lex_scores: list[float],
              dense_pids: list[int], dense_scores: list[float], depth: int, filters: Filters) -> _Ranked:
        """Fuse the top ``depth`` of each side; ``lex_pids`` may run deeper, as a BM25 score lookup."""
        p = self.params
        lex = dict(zip(lex_pids, lex_scores, strict=True))
        # a paper missing from a full lookup scores at most the last BM25 hit; from a short one, nothing matched
        floor = lex_scores[-1] if p.complete and len(lex_scores) >= self._lexical_k("hybrid", depth) else 0.0
        lex_pids = lex_pids[:depth]
        den = dict(zip(dense_pids, dense_scores, strict=True))
        r = _Ranked()
        r.lex_rank = {pid: i for i, pid in enumerate(lex_pids, 1)}
        r.dense_rank = {pid: i for i, pid in enumerate(dense_pids, 1)}
        cands = list(dict.fromkeys([*lex_pids, *dense_pids]))
        if p.method == "rrf":
            fused = {c: (p.lexical_weight / (p.rrf_k + r.lex_rank[c]) if c in r.lex_rank else 0.0)
                     + ((1 - p.lexical_weight) / (p.rrf_k + r.dense_rank[c]) if c in r.dense_rank else 0.0)
                     for c in cands}
            r.order = sorted(cands, key=lambda c: -fused[c])
            r.score = fused
            return r
        if p.complete:
            missing_dense = [c for c in cands if c not in den]
            if missing_dense:
                den.update(self._cosines(qvec, missing_dense))
        fused = self._weighted(cands, lex, den, p.lexical_weight, floor)
        if p.prf_weight > 0 and p.prf_docs > 0 and cands:
            top = sorted(cands, key=lambda c: -fused[c])[: p.prf_docs]
            fb = list(self._vectors_of(top).values())
            if fb:
                q2 = qvec + p.prf_weight * np.mean(fb, axis=0)
                q2 = (q2 / (np.linalg.norm(q2) or 1.0)).astype(np.float32)
                extra_pids, _ = self._dense(q2, depth, filters, q, expansion=p.prf_expansion)
                cands = list(dict.fromkeys([*cands, *extra_pids]))
                den = self._cosines(q2, cands)
                r.dense_rank = {pid: i for i, pid in enumerate(sorted(den, key=lambda c: -den[c]), 1)}
                fused = self._weighted(cands, lex, den, p.lexical_weight, floor)
        r.order = sorted(cands, key=lambda c: -fused[c])
        r.score = fused
        return r

    def _weighted(self, cands: list[int], lex: dict[int, float], den: dict[int, float], w: float,
                  lex_missing: float = 0.0) -> dict[int, float]:
        """``w * norm(bm25) + (1 - w) * norm(cosine)`` over the candidates (normalisation per ``params.norm``).

        A candidate without a BM25 score gets ``lex_missing`` (the lookup's bound, see ``_fuse``).
        """
        if not cands:
            return {}
        lv = np.array([lex.get(c, lex_missing) for c in cands], dtype=np.float64)
        dv = np.array([den.get(c, np.nan) for c in cands], dtype=np.float64)
        if np.isnan(dv).all():
            dv[:] = 0.0
        dv = np.where(np.isnan(dv), np.nanmin(dv), dv)
        norm = self.params.norm
        if norm == "zscore":
            ln = (lv - lv.mean()) / (lv.std() or 1.0)
            dn = (dv - dv.mean()) / (dv.std() or 1.0)
        else:
            ln = (lv - lv.min()) / ((lv.max() - lv.min()) or 1.0) if norm == "minmax" else lv / (lv.max() or 1.0)
            dn = (dv - dv.min()) / ((dv.max() - dv.min()) or 1.0)
        fused = w * ln + (1 - w) * dn
        return dict(zip(cands, fused.tolist(), strict=True))

    def _sort_newest(self, ranked: _Ranked) -> None:
        rest = [p for p in ranked.order if p not in ranked.pinned]
        days = self.lexical.days(rest)
        order = sorted(range(len(rest)), key=lambda i: (-int(days[i]), i))
        ranked.order = list(ranked.pinned) + [rest[i] for i in order]

    # -- hits ---------------------------------------------------------------------------------------------------

    def _page(self, ranked: _Ranked, req: SearchRequest, q: ParsedQuery, browse: bool = False) -> list[Hit]:
        """Load the requested page of papers (checking the author filter per author name) and explain them."""
        need = req.offset + req.limit
        author = req.filters.author
        chosen: list[StoredPaper] = []
        if author:
            i = 0
            while len(chosen) < need and i < len(ranked.order):
                chunk = ranked.order[i : i + max(need * 2, 50)]
                i += len(chunk)
                chosen += [sp for sp in self.store.get_many(chunk) if author_matches(sp.paper, author)]
            chosen = chosen[req.offset : need]
        else:
            chosen = self.store.get_many(ranked.order[req.offset : need])
        terms = set(q.positive_terms)
        names = set(q.name_terms)
        hits = []
        for sp in chosen:
            hl = highlights(sp.paper.title, sp.paper.abstract, terms) if terms else {}
            why = self._why(sp.pid, ranked, hl, names, sp, browse)
            hits.append(Hit(sp.pid, sp.paper, round(float(ranked.score.get(sp.pid, 0.0)), 6), why, hl))
        return hits

    @staticmethod
    def _why(pid: int, ranked: _Ranked, hl: dict, names: set[str], sp: StoredPaper, browse: bool) -> str:
        if pid in ranked.pinned:
            return ranked.pinned[pid]
        if browse:
            return "newest matching the filters"
        parts = []
        if hl.get("title"):
            parts.append("title match")
        elif hl.get("abstract"):
            parts.append("abstract match")
        if names and any(set(analyze(a.name, NAME)) & names for a in sp.paper.authors[:50]):
            parts.append("author match")
        if pid in ranked.lex_rank:
            parts.append(f"keyword rank {ranked.lex_rank[pid]}")
        if pid in ranked.dense_rank:
            parts.append(f"semantic rank {ranked.dense_rank[pid]}")
        return "; ".join(parts) or "related by meaning"


def _clean_opt(value: str | None) -> str | None:
    if value is None:
        return None
    s = SearchEngine.clean_query(value).strip()
    return s or None


def _ms(t0: float) -> float:
    return round((time.perf_counter() - t0) * 1000.0, 3)


@functools.lru_cache(maxsize=100_000)
def _stem(word: str) -> str | None:
    t = analyze(word)
    return t[0] if t else None


@functools.lru_cache(maxsize=4096)
def _prefix_pattern(prefixes: tuple[str, ...]) -> re.Pattern[str]:
    return re.compile(r"\b(?:" + "|".join(map(re.escape, prefixes)) + r")\w*", re.IGNORECASE)


def highlights(title: str, abstract: str, terms: set[str]) -> dict[str, list[tuple[int, int]]]:
    """Character spans of words in title/abstract whose index term is one of ``terms`` (for snippets).

    Why the prefix regex: stemming only rewrites a word's ending, so every word that stems to ``t`` starts
    with ``t`` minus its last letter; the C regex engine finds those few candidates, and only they are
    stemmed, instead of stemming every word of every abstract in Python.
    """
    out: dict[str, list[tuple[int, int]]] = {}
    if not terms:
        return out
    pattern = _prefix_pattern(tuple(sorted({t[: max(2, len(t) - 1)] for t in terms}, key=lambda p: (-len(p), p))))
    for name, text in (("title", title), ("abstract", abstract)):
        spans = [(m.start(), m.end()) for m in pattern.finditer(text or "") if _stem(m.group().lower()) in terms]
        if spans:
            out[name] = spans
    return out
