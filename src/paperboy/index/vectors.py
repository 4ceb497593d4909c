"""Persisted vector index for paper embeddings: exact search when small, usearch HNSW when large.

Over ~450 lines on purpose: one class whose mutation and search paths share the rows, the id -> slot map and the
graph under one lock; persistence, filter forms and the lock are already modules of their own.

Why two regimes: below a few tens of thousands of vectors a brute-force scan of float16 rows (SIMD, via
usearch's exact search) takes a few milliseconds and is trivially exact, so an approximate graph would
only add build time and recall loss.  Above :data:`HNSW_THRESHOLD` the scan grows linearly and an HNSW
graph (usearch) takes over; its candidates are always re-scored against the stored float16 vectors, so
scores are the same in both regimes and graph quantisation only affects which candidates are found.

Filtered search (``allowed``: ids, a boolean mask by id or a predicate; ``accept``: a batched check such as the
query's +/-/phrase constraints) over-fetches from the graph (k*4, k*16, ...) and falls back to an exact scan of
the allowed rows when the filter is so selective that the graph would have to be walked almost entirely: a
filter never loses results because the graph happened not to reach them.  This is the only over-fetch loop:
the query engine hands its filters here rather than looping around this method.

Each :meth:`VectorIndex.save` writes a complete new generation directory and then flips ``CURRENT``
(:mod:`paperboy.index.vector_files`: the on-disk layout), so a reader (or a crash) sees either the old or the
new index, never a mixture.  The filter forms ``allowed`` takes live in :mod:`paperboy.index.vector_filters`.

Concurrency: any number of threads may call :meth:`search` / :meth:`get` while one writer thread calls
:meth:`add` / :meth:`remove` / :meth:`save`; a readers-writer lock keeps them consistent.
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from paperboy.index.rwlock import RWLock
from paperboy.index.vector_files import (
    STORE_DTYPE,
    drop_other_generations,
    read_generation,
    write_generation,
)
from paperboy.index.vector_filters import AllowedFilter, BatchCheck, cheap_check, is_mask

#: Below this many vectors search is an exact scan; at or above it an HNSW graph is built.
HNSW_THRESHOLD = 20_000


@dataclass(frozen=True)
class HnswParams:
    """HNSW settings, chosen by measured recall@10 against exact search on clustered 384-d unit vectors.

    With re-scoring from the float16 copy, i8 graph vectors found the same neighbours as f16 ones (20k:
    recall 1.000 vs 0.9997) at half the memory and a faster build, so i8 it is.  At 100k vectors,
    M=16 gave recall@10 0.956 / 0.982 with efC=64 (efS 64/128) and 0.991 / 0.998 with efC=128 (efS 64/128).
    At 1 M (clusters of near-duplicates, bench/bench_search.py) efS=128 with 10 extra candidates fell to
    0.947: the i8 graph orders near-ties noisily, so more candidates must be re-scored.  efS=512 with 40
    extra gave 0.9945 (efS 256: 0.989) at ~1.3 ms per query, hence efS=512, ``rescore_extra``=40 (how many
    candidates beyond k are fetched for re-scoring from float16).
    """

    dtype: str = "i8"
    connectivity: int = 16
    expansion_add: int = 128
    expansion_search: int = 512
    rescore_extra: int = 40


def _usearch() -> Any:
    """usearch's ``index`` module, imported on first use (importing this module works without usearch), and only
    through :mod:`paperboy.index.ann`, which loads onnxruntime before usearch (the other order crashes)."""
    from paperboy.index.ann import usearch

    return usearch


def _normalise(vectors: np.ndarray, dim: int) -> np.ndarray:
    """Unit-length float32 rows: cosine similarity then equals the dot product used everywhere below."""
    v = np.asarray(vectors, dtype=np.float32)
    if v.ndim == 1:
        v = v[None, :]
    if v.ndim != 2 or v.shape[1] != dim:
        raise ValueError(f"expected vectors of dimension {dim}, got shape {np.shape(vectors)}")
    norms = np.linalg.norm(v, axis=1, keepdims=True)
    if not np.all(np.isfinite(norms)) or np.any(norms == 0):
        raise ValueError("vectors must be finite and non-zero")
    return v / norms


def _as_ids(ids: Any) -> np.ndarray:
    arr = np.asarray(ids)
    if arr.ndim == 0:
        arr = arr[None]
    if arr.size and arr.dtype.kind == "i" and arr.min() < 0:
        raise ValueError("ids must be non-negative")
    if arr.size and arr.dtype.kind not in "iu":
        raise ValueError("ids must be integers")
    return arr.astype(np.uint64).ravel()


class VectorIndex:
    """Cosine-similarity index over uint64 ids (the store's row ids), persisted under a directory."""

    def __init__(
        self, path: Path, dim: int, *, hnsw_threshold: int = HNSW_THRESHOLD, params: HnswParams | None = None
    ) -> None:
        """Use :meth:`open`; this constructor makes an empty, unsaved index."""
        self.path = Path(path)
        self.dim = int(dim)
        self.hnsw_threshold = int(hnsw_threshold)
        self.params = params or HnswParams()
        self._lock = RWLock()
        self._graph_lock = threading.Lock()
        self._n = 0
        self._ids = np.zeros(0, dtype=np.uint64)
        self._vecs: np.ndarray = np.zeros((0, self.dim), dtype=STORE_DTYPE)
        self._writable = True  # False while _vecs is the read-only memmap of the saved generation
        self._slot: dict[int, int] = {}
        self._hnsw: Any = None
        self._hnsw_removed = 0
        self._generation: str | None = None
        self._dirty = False

    # ------------------------------------------------------------------------------------------------
    # open / save
    # ------------------------------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        path: Path,
        dim: int,
        create: bool = True,
        *,
        hnsw_threshold: int = HNSW_THRESHOLD,
        params: HnswParams | None = None,
    ) -> VectorIndex:
        """Open the index saved under ``path`` (a directory), or an empty one when ``create`` is true.

        Raises FileNotFoundError when nothing is saved there and ``create`` is false, and ValueError when
        the saved index has another dimension (a different model: the caller must re-embed).
        """
        index = cls(Path(path), dim, hnsw_threshold=hnsw_threshold, params=params)
        current = index.path / "CURRENT"
        if current.is_file():
            index._load(current.read_text().strip())
        elif not create:
            raise FileNotFoundError(f"no vector index at {path}")
        return index

    def _load(self, generation: str) -> None:
        saved_gen = read_generation(self.path, generation, self.dim)
        meta, ids, vecs = saved_gen.meta, saved_gen.ids, saved_gen.vectors
        hnsw = None
        graph_file = saved_gen.hnsw_file
        if graph_file is not None:
            # The graph's structure is fixed at build time; search-time knobs stay as the caller chose them.
            saved = {
                k: v
                for k, v in (meta.get("hnsw_params") or {}).items()
                if k in ("dtype", "connectivity", "expansion_add")
            }
            self.params = HnswParams(**{**asdict(self.params), **saved})
            hnsw = _usearch().Index.restore(str(graph_file))
            hnsw.expansion_search = self.params.expansion_search
        self._ids = ids.astype(np.uint64)
        self._vecs = vecs
        self._writable = False
        self._n = len(ids)
        self._slot = {int(i): s for s, i in enumerate(self._ids.tolist())}
        self._hnsw = hnsw
        self._hnsw_removed = int(meta.get("hnsw_removed", 0))
        self._generation = generation
        self._dirty = False

    def save(self) -> None:
        """Write a new generation directory and switch ``CURRENT`` to it atomically (no-op when unchanged).

        Files are written under the read lock, so searches keep running while a large index is saved;
        only writers wait.
        """
        with self._lock.write():
            if not self._dirty and self._generation is not None:
                return
            if self._hnsw is not None and self._hnsw_removed > max(1000, len(self._hnsw) // 4):
                self._build_hnsw()  # many upserts/removals leave tombstones in the graph: rebuild it
        with self._lock.read():
            n = self._n
            graph = self._hnsw
            name = write_generation(
                self.path,
                self.dim,
                self._ids[:n],
                self._vecs[:n],
                graph,
                asdict(self.params) if graph is not None else None,
                self._hnsw_removed if graph is not None else 0,
            )
            self._generation = name
            self._dirty = False
            drop_other_generations(self.path, name)

    def reload_if_changed(self) -> bool:
        """Pick up a generation saved by another process (e.g. the ingester); True when something was loaded.

        Unsaved local changes are discarded, so only read-only users (the web server) should call this.
        """
        current = self.path / "CURRENT"
        try:
            name = current.read_text().strip()
        except FileNotFoundError:
            return False
        if name == self._generation:
            return False
        with self._lock.write():
            self._load(name)
        return True

    # ------------------------------------------------------------------------------------------------
    # mutation (single writer)
    # ------------------------------------------------------------------------------------------------

    def _reserve(self, extra: int) -> None:
        """Make the row arrays writable and large enough for ``extra`` more rows (amortised growth)."""
        need = self._n + extra
        cap = len(self._ids)
        if self._writable and need <= cap:
            return
        new_cap = max(need, cap + cap // 2, 1024) if need > cap else cap
        ids = np.zeros(new_cap, dtype=np.uint64)
        vecs = np.zeros((new_cap, self.dim), dtype=STORE_DTYPE)
        ids[: self._n] = self._ids[: self._n]
        vecs[: self._n] = self._vecs[: self._n]
        self._ids, self._vecs, self._writable = ids, vecs, True

    def _new_hnsw(self) -> Any:
        p = self.params
        return _usearch().Index(
            ndim=self.dim,
            metric="cos",
            dtype=p.dtype,
            connectivity=p.connectivity,
            expansion_add=p.expansion_add,
            expansion_search=p.expansion_search,
        )

    def _build_hnsw(self) -> None:
        index = self._new_hnsw()
        chunk = 65_536  # convert float16 rows in slices so a large rebuild does not double memory
        for start in range(0, self._n, chunk):
            end = min(self._n, start + chunk)
            index.add(self._ids[start:end], self._vecs[start:end].astype(np.float32), threads=0)
        self._hnsw = index
        self._hnsw_removed = 0

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Insert or replace (upsert) the vectors for ``ids``; vectors are L2-normalised before storing.

        Within one call a repeated id keeps its last vector.
        """
        ids = _as_ids(ids)
        vecs = _normalise(vectors, self.dim) if len(ids) else np.zeros((0, self.dim), np.float32)
        if len(vecs) != len(ids):
            raise ValueError(f"{len(ids)} ids but {len(vecs)} vectors")
        if not len(ids):
            return
        uniq, first_from_end = np.unique(ids[::-1], return_index=True)
        if len(uniq) != len(ids):
            keep = np.sort(len(ids) - 1 - first_from_end)
            ids, vecs = ids[keep], vecs[keep]
        with self._lock.write():
            self._reserve(len(ids))
            slots = np.empty(len(ids), dtype=np.int64)
            replaced = []
            for j, key in enumerate(ids.tolist()):
                slot = self._slot.get(key)
                if slot is None:
                    slot = self._n
                    self._n += 1
                    self._slot[key] = slot
                    self._ids[slot] = key
                else:
                    replaced.append(key)
                slots[j] = slot
            self._vecs[slots] = vecs.astype(STORE_DTYPE)
            self._dirty = True
            if self._hnsw is not None:
                if replaced:
                    self._hnsw.remove(np.asarray(replaced, dtype=np.uint64))
                    self._hnsw_removed += len(replaced)
                self._hnsw.add(ids, vecs, threads=0)
            elif self._n >= self.hnsw_threshold:
                self._build_hnsw()

    def remove(self, ids: np.ndarray) -> int:
        """Delete ``ids`` (unknown ids are ignored); returns how many were present."""
        ids = _as_ids(ids)
        removed: list[int] = []
        with self._lock.write():
            present = [key for key in dict.fromkeys(ids.tolist()) if key in self._slot]
            if not present:
                return 0
            self._reserve(0)
            for key in present:
                slot = self._slot.pop(key)
                last = self._n - 1
                if slot != last:  # keep rows dense: move the last row into the hole
                    moved = int(self._ids[last])
                    self._ids[slot] = moved
                    self._vecs[slot] = self._vecs[last]
                    self._slot[moved] = slot
                self._n -= 1
                removed.append(key)
            self._dirty = True
            if self._hnsw is not None:
                if self._n < self.hnsw_threshold // 2:
                    self._hnsw = None  # hysteresis: drop the graph only well below the threshold
                    self._hnsw_removed = 0
                else:
                    self._hnsw.remove(np.asarray(removed, dtype=np.uint64))
                    self._hnsw_removed += len(removed)
        return len(removed)

    # ------------------------------------------------------------------------------------------------
    # reading (many threads)
    # ------------------------------------------------------------------------------------------------

    def __len__(self) -> int:
        return self._n

    def __contains__(self, key: object) -> bool:
        return isinstance(key, int | np.integer) and int(key) in self._slot

    @property
    def uses_hnsw(self) -> bool:
        """True when searches go through the HNSW graph (size at or above the threshold)."""
        return self._hnsw is not None

    def ids(self) -> np.ndarray:
        """All ids currently stored (copy, unordered)."""
        with self._lock.read():
            return self._ids[: self._n].copy()

    def get(self, key: int) -> np.ndarray | None:
        """The stored (unit, float16-rounded) vector for ``key`` as float32, or None; for "similar papers"."""
        with self._lock.read():
            slot = self._slot.get(int(key))
            if slot is None:
                return None
            return np.asarray(self._vecs[slot], dtype=np.float32)

    def search(
        self,
        vector: np.ndarray,
        k: int,
        *,
        allowed: AllowedFilter | None = None,
        accept: BatchCheck | None = None,
        exact: bool = False,
        expansion: int | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` ids by cosine similarity to ``vector`` (higher is better), best first.

        ``allowed`` restricts results: a predicate on ids, a collection/array of allowed ids (cheaper, and
        answered by an exact scan of just those rows when it is small) or a boolean array indexed by id (ids
        past its end are not allowed).  ``accept`` is a further check asked in batches about candidates only
        (for rules that are costly per call, like a lexical constraint).  ``exact`` forces a brute-force scan even
        when the HNSW graph exists; ``expansion`` overrides the graph's search breadth (efS) for this call, for
        callers that trade recall for time.  Returns (uint64 ids, float32 scores), fewer than k only when fewer
        than k vectors pass.
        """
        q = _normalise(vector, self.dim)[0]
        with self._lock.read():
            n = self._n
            if n == 0 or k <= 0:
                return np.zeros(0, dtype=np.uint64), np.zeros(0, dtype=np.float32)
            use_graph = self._hnsw is not None and not exact
            if allowed is None and accept is None:
                slots = self._candidates(q, min(n, k + self.params.rescore_extra), use_graph, expansion)
                return self._rescore(q, slots, k)
            if allowed is not None and not callable(allowed) and not is_mask(allowed):
                allowed_ids = _as_ids(allowed) if isinstance(allowed, np.ndarray) else np.fromiter(
                    (int(a) for a in allowed), dtype=np.uint64, count=len(allowed))
                allowed_slots = np.unique(np.fromiter(
                    (s for s in map(self._slot.get, allowed_ids.tolist()) if s is not None), dtype=np.int64))
                if not use_graph or len(allowed_slots) <= max(4 * k, n // 16):
                    return self._exact_among(q, allowed_slots, k, accept)
                allowed = np.sort(allowed_ids)
            share = min(1.0, np.count_nonzero(allowed) / n) if is_mask(allowed) else 1.0
            return self._filtered(q, k, cheap_check(allowed), accept, use_graph, expansion, share)

    def _candidates(self, q: np.ndarray, count: int, use_graph: bool, expansion: int | None = None) -> np.ndarray:
        """Row slots of (approximately, when ``use_graph``) the ``count`` nearest rows, nearest first."""
        n = self._n
        count = min(count, n)
        if use_graph:
            # usearch's Python binding runs every single-query search on per-thread context 0 (and calls
            # reserve() on entry), so two concurrent calls could share scratch space: serialise them.  A graph
            # search takes ~1-2 ms, the exact scans below have no shared state and stay parallel.
            with self._graph_lock:  # (which also makes the per-call efS safe to set)
                self._hnsw.expansion_search = expansion or self.params.expansion_search
                match = self._hnsw.search(q, count, threads=1)
            return np.fromiter((self._slot[k] for k in match.keys.tolist() if k in self._slot), dtype=np.int64)
        match = _usearch().search(
            self._vecs[:n], q.astype(STORE_DTYPE), count, _usearch().MetricKind.IP, exact=True, threads=1
        )
        return np.asarray(match.keys, dtype=np.int64)

    def _rescore(self, q: np.ndarray, slots: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Exact float32 scores of the stored rows ``slots``; returns the best ``k`` as (ids, scores)."""
        if len(slots) == 0:
            return np.zeros(0, dtype=np.uint64), np.zeros(0, dtype=np.float32)
        scores = np.asarray(self._vecs[slots], dtype=np.float32) @ q
        order = np.argsort(-scores, kind="stable")[:k]
        return self._ids[slots[order]].copy(), scores[order].astype(np.float32)

    def _exact_among(self, q: np.ndarray, slots: np.ndarray, k: int,
                     accept: BatchCheck | None) -> tuple[np.ndarray, np.ndarray]:
        """Exact top-``k`` of the given rows passing ``accept``.

        A few rows are all re-scored; otherwise a float16 scan picks the best ``k`` + extras to re-score, and
        ``accept`` is asked about growing windows of the best rows until enough pass.
        """
        need = k + self.params.rescore_extra
        count = need if accept is None else 4 * need
        while True:
            if len(slots) <= 4 * count:
                best = slots
            else:
                rows = np.ascontiguousarray(self._vecs[slots])
                match = _usearch().search(rows, q.astype(STORE_DTYPE), count, _usearch().MetricKind.IP,
                                          exact=True, threads=1)
                best = slots[np.asarray(match.keys, dtype=np.int64)]
            if accept is not None and len(best):
                best = best[np.asarray(accept(self._ids[best]), dtype=bool)]
            if len(best) >= need or 4 * count >= len(slots):
                return self._rescore(q, best, k)
            count *= 4

    def _filtered(self, q: np.ndarray, k: int, check: BatchCheck, accept: BatchCheck | None, use_graph: bool,
                  expansion: int | None = None, share: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
        """Over-fetch candidates until k pass; exact over the allowed rows if the filter is too selective.

        The first fetch is sized by ``share`` (the allowed share of rows, when a mask tells it) so that a broad
        filter usually needs one graph search (1.2x the expected need: ~2.4 standard deviations of margin at
        k=100); later fetches grow four-fold.
        """
        n = self._n
        need = k + self.params.rescore_extra
        fetch = int(need / max(share, 1e-9) * 1.2) + 20 if share < 1.0 else 4 * need
        while True:
            cand = self._candidates(q, min(fetch, n), use_graph, expansion)
            hits = cand[check(self._ids[cand])]
            if accept is not None and len(hits):
                hits = hits[np.asarray(accept(self._ids[hits]), dtype=bool)]
            if len(hits) >= need or fetch >= n:
                if use_graph and len(hits) < k and len(cand) < n:
                    break  # the graph returned fewer rows than exist: do not trust it to be exhaustive
                return self._rescore(q, hits, k)
            fetch *= 4
            if use_graph and fetch > max(n // 8, 4096):
                break  # walking most of the graph costs more than a scan of the allowed rows
        return self._exact_among(q, np.flatnonzero(check(self._ids[:n])), k, accept)

