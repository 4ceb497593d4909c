"""The query engine every surface uses: lexical, dense and hybrid search, pinning, filters, sorts, paging.

One :class:`SearchEngine` per process holds the opened indexes and the loaded embedder (no per-request
loading) and is safe to call from many threads.  Requests arrive valid (:class:`~paperboy.query.SearchRequest`
checks itself), so the engine only answers.

How a hybrid query is answered, and why:

1. **Pins.**  An arXiv id, a DOI or an exact (normalised) title names one paper: it goes first.
2. **Candidates** (:mod:`.candidates`).  BM25 top-N from tantivy (filters inside the query) and cosine top-N
   from the vector index (filters as an allowed set, over-fetched inside the index).  The query embedding and
   the first ANN search run in a worker thread while the lexical side runs; if they are not done within a time
   budget (or the model is unavailable) the answer is lexical-only, and says so in ``notice``.
3. **Complete scores.**  A candidate found by one side only gets a score from the other side instead of a zero,
   so fusion compares like with like: its real cosine (dot product with its stored vector), and its BM25 looked
   up in a deeper lexical fetch (top 1,000, cheap with block-max WAND), or below that the 1,000th score as an
   upper bound (0 when fewer papers match at all).  Against exact BM25 for every candidate (one restricted
   tantivy query, ~6 ms at 1 M papers) the bound changed mean nDCG@10 over the five sets by under 0.001.
4. **Fusion** (:mod:`.fusion`): z-scored ``0.4 * bm25 + 0.6 * cosine``.
5. **Pseudo-relevance feedback** (dense side): the query vector moves towards the mean vector of the top 4
   fused documents (Rocchio, weight 1), the dense side is searched and re-scored with it; +0.003 to +0.03
   nDCG@10 on every set.  Top 4 by the mean over the five sets (0.4924; 3: 0.4919, 5: 0.4907).  A lexical
   RM3-style expansion was measured and deleted: it lowered SciFact by 0.015-0.03.
6. **Filters and paging once**, after ranking; ``newest`` sorts the relevant candidates by date.
7. **Words check** (:mod:`.spelling`): when no word matched (or most are rare), a notice and a respelling.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from paperboy.config import Settings
from paperboy.index import Indexes
from paperboy.index.attributes import author_matches
from paperboy.query import MAX_LIMIT, MAX_QUERY_CHARS, Hit, Mode, QueryError, SearchRequest, SearchResult, clean_text
from paperboy.search import fusion
from paperboy.search.candidates import Candidates
from paperboy.search.explain import BROWSE, explain, highlights, similar_explain
from paperboy.search.parse import ParsedQuery, parse_query
from paperboy.search.spelling import check_words
from paperboy.store.base import Store, StoredPaper

log = logging.getLogger(__name__)

_DenseSide = tuple[np.ndarray, list[int], list[float]]  # query vector, top pids, their cosines
REFRESH_EVERY_S = 2.0
QUERY_CACHE_SIZE = 2048


@dataclass(slots=True)
class FusionParams:
    """Ranking knobs; defaults chosen by measurement on the train sets (see BENCHMARKS.md)."""

    method: str = "weighted"  # "weighted" (z-scored convex combination) or "rrf"
    lexical_weight: float = 0.4  # share of the BM25 side
    rrf_k: int = 60
    depth: int = 100  # candidates taken from each side before fusion
    lex_lookup: int = 1000  # BM25 hits fetched in hybrid mode to look up the lexical score of dense candidates
    prf_docs: int = 4  # dense pseudo-relevance feedback: top fused documents averaged into the query vector
    prf_expansion: int | None = 128  # HNSW efS of the feedback search (None: the index's own, 512)
    prf_weight: float = 1.0  # how far the query vector moves towards them (0 disables)
    query_max_tokens: int = 128  # query embedding truncation (short queries are unaffected)
    dense_budget_ms: float = 1000.0  # wait this long for the query embedding before answering lexical-only
    exact_below: int = 5_000  # a filter allowing fewer papers than this scans them exactly instead of ANN
    newest_depth: int = 200  # relevant candidates re-sorted by date for sort=newest


@dataclass(slots=True)
class _Ranked:
    """Candidates of one request, best first, with what is needed to explain them."""

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
            from paperboy.pipeline import update_indexes  # the one sync path (imported late: it pulls in ingest)

            update_indexes(self.indexes, store)
        if warm:
            self.warm_up()

    @property
    def candidates(self) -> Candidates:
        return Candidates(self.indexes, self.store, exact_below=self.params.exact_below)

    def warm_up(self) -> None:
        """Load the embedder and vector index now, so that no request pays for loading them."""
        if self.indexes.has_vectors() and self.indexes.embedder is not None:
            with contextlib.suppress(Exception):
                self._embed_query(self.indexes.embedder, "warm up")

    def clear_query_cache(self) -> None:
        """Forget cached query vectors (benchmarks measure the embedding in every request)."""
        with self._qlock:
            self._qcache.clear()

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _maybe_refresh(self) -> None:
        now = time.monotonic()
        if now - self._refreshed > REFRESH_EVERY_S:
            self._refreshed = now
            try:
                self.indexes.refresh()
            except (OSError, ValueError) as exc:  # pragma: no cover - a half-written index from another process
                log.warning("index refresh failed: %s", exc)

    # -- public API ---------------------------------------------------------------------------------------------

    def search(self, req: SearchRequest) -> SearchResult:
        """Answer one request (already valid: :class:`SearchRequest` checks itself)."""
        if not isinstance(req, SearchRequest):
            raise QueryError("expected a SearchRequest")
        t0 = time.perf_counter()
        self._maybe_refresh()
        q = parse_query(req.query)
        cands = self.candidates
        pins = cands.pins(req.query, req.filters)
        if q.empty:
            if q.dropped_only_stopwords and not pins:
                return SearchResult(req, [], 0, _ms(t0), "lexical",
                                    "The query has only very common words; add a more specific term.")
            return self._browse(req, q, pins, t0)
        p = self.params
        depth = max(p.depth, req.offset + req.limit if req.sort == "relevance" else p.newest_depth)
        future, notice = (None, None) if req.mode == "lexical" else self._start_dense(cands, q, depth, req)
        lex_k = max(depth, p.lex_lookup) if req.mode == "hybrid" else depth
        lex_pids, lex_scores = cands.lexical.search(q, lex_k, filters=req.filters) \
            if req.mode != "dense" or future is None else ([], [])
        dense = None
        if future is not None:
            dense, notice = self._finish_dense(future, t0)
        mode_used: Mode = req.mode
        if dense is None:
            mode_used = "lexical"
            if req.mode == "dense" and future is not None:  # the dense side failed late: answer by words
                lex_pids, lex_scores = cands.lexical.search(q, depth, filters=req.filters)
            ranked = _single(lex_pids[:depth], lex_scores[:depth], dense=False)
        elif req.mode == "dense":
            ranked = _single(dense[1], dense[2], dense=True)
        else:
            ranked = self._fuse(cands, q, dense, lex_pids, lex_scores, lex_k, depth, req)
        words = None
        if req.mode != "dense" or dense is None:
            words = check_words(q, req.query, cands.lexical, cands.written, lexical_found=bool(lex_pids),
                                dense_found=dense is not None and bool(dense[1]))
            notice = " ".join(n for n in (words.notice, notice) if n) or None
        _apply_pins(ranked, pins)
        if req.sort == "newest":
            self._sort_newest(ranked)
        hits = self._page(ranked, req, q)
        total = 0 if words is not None and not lex_pids and not pins else self._total(ranked, q, req, depth, len(hits))
        return SearchResult(req, hits, total, _ms(t0), mode_used, notice, words.suggestion if words else None)

    def _total(self, ranked: _Ranked, q: ParsedQuery, req: SearchRequest, depth: int, got: int) -> int:
        """"About N results": exact when every candidate fitted in the fetch, else the best cheap estimate."""
        n = len(ranked.order)
        if req.filters.author and n <= req.offset + req.limit:
            return req.offset + got  # per-author verification may have dropped some candidates
        if n < depth or req.filters.active or q.has_constraints:
            return max(n, got)
        return max(n, self.indexes.lexical.estimate_total(q))

    def similar(self, ident: str, limit: int = 10) -> list[Hit]:
        """Papers nearest to ``ident``'s stored vector (lexical "more like this" when it has none)."""
        limit = max(1, min(int(limit), MAX_LIMIT))
        found = self.store.get(clean_text(ident))
        if found is None:
            return []
        vectors = self.indexes.vectors()
        vec = vectors.get(found.pid) if vectors is not None else None
        if vec is None:  # no vector (embedder unavailable or not yet embedded): title+abstract words
            text = f"{found.paper.title} {found.paper.abstract}"[:MAX_QUERY_CHARS]
            q = parse_query(text.replace('"', " ").replace("-", " ").replace("+", " "))
            pids, scores = self.indexes.lexical.search(q, limit + 1)
        else:
            ids, sims = vectors.search(np.asarray(vec, dtype=np.float32), limit + 1)
            pids, scores = [int(i) for i in ids], [float(s) for s in sims]
        pairs = [(p, s) for p, s in zip(pids, scores, strict=True) if p != found.pid][:limit]
        papers = {sp.pid: sp for sp in self.store.get_many([p for p, _ in pairs])}
        hits = []
        for rank, (p, s) in enumerate(pairs, 1):
            if p in papers:
                why, data = similar_explain(rank, by_meaning=vec is not None)
                hits.append(Hit(p, papers[p].paper, s, why, explain=data))
        return hits

    # -- browsing -----------------------------------------------------------------------------------------------

    def _browse(self, req: SearchRequest, q: ParsedQuery, pins: dict[int, str], t0: float) -> SearchResult:
        """Empty query: the newest papers matching the filters (and any -excluded words)."""
        over = 3 if req.filters.author else 1
        pids, total = self.indexes.lexical.browse(req.filters, (req.offset + req.limit) * over, 0, q)
        ranked = _Ranked(order=list(pids), score={p: 0.0 for p in pids})
        _apply_pins(ranked, pins)
        hits = self._page(ranked, req, q, browse=True)
        return SearchResult(req, hits, max(total, len(hits)), _ms(t0), "lexical", None)

    # -- dense side ---------------------------------------------------------------------------------------------

    def _start_dense(self, cands: Candidates, q: ParsedQuery, depth: int,
                     req: SearchRequest) -> tuple[Future | None, str | None]:
        """Submit the query embedding and the first dense search to a worker (or say why there is none).

        They run while this thread runs BM25: tantivy, onnxruntime and usearch all release the GIL, so on two
        cores the dense side costs little more than the lexical side alone (at 1 M papers ~4 ms of ~24).
        """
        indexes = self.indexes
        if not indexes.has_vectors():
            return None, "Semantic search is unavailable (no paper vectors yet: run `paperboy index`): keyword results."
        embedder = indexes.embedder
        if embedder is None:
            return None, f"Semantic search is unavailable ({indexes.embed_error}): keyword results only."
        if indexes.model_id and embedder.model_id != indexes.model_id:
            return None, "Semantic search is unavailable (paper vectors were made by another model): keyword results."
        key = (q.semantic_text or req.query)[:MAX_QUERY_CHARS]
        with self._qlock:
            cached = self._qcache.get(key)
            if cached is not None:
                self._qcache.move_to_end(key)

        def dense_side() -> _DenseSide:
            qvec = cached if cached is not None else self._embed_query(embedder, key)
            return (qvec, *cands.dense(qvec, depth, req.filters, q))

        return self._pool.submit(dense_side), None

    def _embed_query(self, embedder: Any, text: str) -> np.ndarray:
        vec = np.asarray(embedder.embed_query(text, max_tokens=self.params.query_max_tokens), dtype=np.float32)
        with self._qlock:
            self._qcache[text] = vec
            if len(self._qcache) > QUERY_CACHE_SIZE:
                self._qcache.popitem(last=False)
        return vec

    def _finish_dense(self, future: Future, t0: float) -> tuple[_DenseSide | None, str | None]:
        """Wait for the dense side until the request's budget is spent (a spent budget is final, even if the
        worker happens to finish at that instant, so the outcome does not depend on thread scheduling)."""
        slow = "Semantic search was too slow for this request: keyword results only."
        remaining = self.params.dense_budget_ms / 1000.0 - (time.perf_counter() - t0)
        if remaining <= 0:
            future.cancel()
            return None, slow
        try:
            return future.result(timeout=remaining), None
        except FutureTimeout:
            return None, slow
        except Exception as exc:  # noqa: BLE001 - any model failure must degrade to lexical, never crash
            log.warning("query embedding or dense search failed: %s", exc)
            return None, "Semantic search failed for this query: keyword results only."

    # -- fusion -------------------------------------------------------------------------------------------------

    def _fuse(self, cands: Candidates, q: ParsedQuery, dense: _DenseSide, lex_pids: list[int],
              lex_scores: list[float], lex_k: int, depth: int, req: SearchRequest) -> _Ranked:
        """Fuse the top ``depth`` of each side; ``lex_pids`` may run deeper, as a BM25 score lookup."""
        p = self.params
        qvec, dense_pids, dense_scores = dense
        lex = dict(zip(lex_pids, lex_scores, strict=True))
        # a paper missing from a full lookup scores at most the last BM25 hit; from a short one, nothing matched
        floor = lex_scores[-1] if len(lex_scores) >= lex_k else 0.0
        r = _Ranked(lex_rank=fusion.ranks(lex_pids[:depth]), dense_rank=fusion.ranks(dense_pids))
        pool = list(dict.fromkeys([*lex_pids[:depth], *dense_pids]))
        if p.method == "rrf":
            scores = fusion.rrf(np.array([r.lex_rank.get(c, 0) for c in pool]),
                                np.array([r.dense_rank.get(c, 0) for c in pool]), p.lexical_weight, p.rrf_k)
            return _ordered(r, pool, scores)
        den = dict(zip(dense_pids, dense_scores, strict=True))
        if missing := [c for c in pool if c not in den]:
            den.update(cands.cosines(qvec, missing))
        scores = self._weighted(pool, lex, den, floor)
        if p.prf_weight > 0 and p.prf_docs > 0 and pool:
            top = [pool[i] for i in fusion.descending(scores)[: p.prf_docs]]
            if feedback := cands.vectors_of(top):
                q2 = fusion.rocchio(qvec, feedback, p.prf_weight)
                extra_pids, _ = cands.dense(q2, depth, req.filters, q, expansion=p.prf_expansion)
                pool = list(dict.fromkeys([*pool, *extra_pids]))
                den = cands.cosines(q2, pool)
                r.dense_rank = fusion.ranks(sorted(den, key=lambda c: -den[c]))
                scores = self._weighted(pool, lex, den, floor)
        return _ordered(r, pool, scores)

    def _weighted(self, pool: list[int], lex: dict[int, float], den: dict[int, float],
                  lex_missing: float) -> np.ndarray:
        """Weighted fusion over ``pool``; a candidate without a BM25 score gets ``lex_missing`` (the bound)."""
        return fusion.weighted(np.array([lex.get(c, lex_missing) for c in pool], dtype=np.float64),
                               np.array([den.get(c, np.nan) for c in pool], dtype=np.float64),
                               self.params.lexical_weight)

    def _sort_newest(self, ranked: _Ranked) -> None:
        rest = [p for p in ranked.order if p not in ranked.pinned]
        days = self.indexes.lexical.attributes.days(rest)
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
            if browse and sp.pid not in ranked.pinned:
                why, data = BROWSE[0], dict(BROWSE[1])
            else:
                why, data = explain(paper=sp.paper, highlights=hl, name_terms=names, pinned=ranked.pinned.get(sp.pid),
                                    lexical_rank=ranked.lex_rank.get(sp.pid), dense_rank=ranked.dense_rank.get(sp.pid))
            hits.append(Hit(sp.pid, sp.paper, round(float(ranked.score.get(sp.pid, 0.0)), 6), why, hl, data))
        return hits


def _single(pids: list[int], scores: list[float], dense: bool) -> _Ranked:
    """One side's ranking as it is (lexical-only or dense-only modes)."""
    r = _Ranked(order=list(pids), score=dict(zip(pids, scores, strict=True)))
    if dense:
        r.dense_rank = fusion.ranks(pids)
    else:
        r.lex_rank = fusion.ranks(pids)
    return r


def _ordered(r: _Ranked, pool: list[int], scores: np.ndarray) -> _Ranked:
    r.order = [pool[i] for i in fusion.descending(scores)]
    r.score = dict(zip(pool, scores.tolist(), strict=True))
    return r


def _apply_pins(ranked: _Ranked, pins: dict[int, str]) -> None:
    if not pins:
        return
    top = max(ranked.score.values(), default=0.0)
    for pid in pins:
        ranked.score[pid] = top + 1.0
    ranked.pinned = dict(pins)
    ranked.order = list(pins) + [p for p in ranked.order if p not in pins]


def _ms(t0: float) -> float:
    return round((time.perf_counter() - t0) * 1000.0, 3)
