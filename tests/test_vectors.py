"""Tests for the persisted vector index (paperboy.index.vectors)."""

from __future__ import annotations

import importlib.util
import threading
from pathlib import Path

import numpy as np
import pytest

from paperboy.index.vectors import HNSW_THRESHOLD, HnswParams, VectorIndex

# find_spec, not importorskip: importing usearch before onnxruntime would crash a later onnxruntime import
# in the same pytest process (see paperboy.index.vectors._usearch).
pytestmark = pytest.mark.skipif(importlib.util.find_spec("usearch") is None, reason="usearch is not installed")

DIM = 384


def clustered(n: int, dim: int = DIM, seed: int = 0, noise: float = 1.0) -> np.ndarray:
    """Unit vectors in topics and sub-topics, roughly like abstract embeddings (top-1 cosine ~0.65)."""
    rng = np.random.default_rng(seed)
    topics = rng.standard_normal((40, dim)).astype(np.float32)
    subs = topics[rng.integers(0, 40, 800)] + 0.8 * rng.standard_normal((800, dim)).astype(np.float32)
    x = subs[rng.integers(0, 800, n)] + noise * rng.standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def exact_top(index_vectors: np.ndarray, ids: np.ndarray, q: np.ndarray, k: int, mask=None):
    """Ground truth on the float16-rounded vectors the index stores."""
    stored = index_vectors.astype(np.float16).astype(np.float32)
    scores = stored @ (q / np.linalg.norm(q))
    if mask is not None:
        scores = np.where(mask, scores, -np.inf)
    order = np.argsort(-scores)[:k]
    order = order[np.isfinite(scores[order])]
    return ids[order], scores[order]


@pytest.fixture(scope="module")
def big() -> tuple[VectorIndex, np.ndarray, np.ndarray, np.ndarray]:
    """20k clustered vectors: reaches the default threshold, so the HNSW graph is built (once per module)."""
    x = clustered(HNSW_THRESHOLD + 200, seed=1)
    queries, x = x[:200], x[200:]
    ids = (np.arange(len(x), dtype=np.uint64) * 3 + 11).astype(np.uint64)
    # efC=64 halves the build time of the 2-core test run; at 20k it already gives recall >= 0.999 (the
    # default efC=128 is for 100k+ collections, where efC=64 falls below 0.99).
    index = VectorIndex(Path("/nonexistent-never-saved"), DIM, params=HnswParams(expansion_add=64))
    index.add(ids, x)
    assert index.uses_hnsw
    stored = x.astype(np.float16).astype(np.float32)  # what the index keeps
    return index, ids, stored, queries, queries @ stored.T


def test_add_get_len_and_upsert(tmp_path: Path) -> None:
    idx = VectorIndex.open(tmp_path / "v", 8)
    assert len(idx) == 0
    ids, scores = idx.search(np.ones(8), 5)
    assert len(ids) == 0 and len(scores) == 0
    rng = np.random.default_rng(0)
    v = rng.standard_normal((5, 8)).astype(np.float32)
    idx.add(np.array([10, 20, 30, 40, 50], dtype=np.uint64), v)
    assert len(idx) == 5 and 30 in idx and 31 not in idx
    got = idx.get(30)
    assert got is not None and got.dtype == np.float32
    np.testing.assert_allclose(got, v[2] / np.linalg.norm(v[2]), atol=1e-3)
    assert idx.get(99) is None
    new = rng.standard_normal(8).astype(np.float32)
    idx.add(np.array([30]), new[None])  # upsert
    assert len(idx) == 5
    np.testing.assert_allclose(idx.get(30), new / np.linalg.norm(new), atol=1e-3)
    top, sc = idx.search(new, 1)
    assert top.tolist() == [30] and sc[0] == pytest.approx(1.0, abs=1e-3)
    idx.add(np.array([60, 60]), np.stack([v[0], v[1]]))  # duplicate in one call: last wins
    np.testing.assert_allclose(idx.get(60), v[1] / np.linalg.norm(v[1]), atol=1e-3)
    with pytest.raises(ValueError):
        idx.add(np.array([1]), np.zeros((1, 8)))
    with pytest.raises(ValueError):
        idx.add(np.array([1, 2]), v[:1])
    with pytest.raises(ValueError):
        idx.add(np.array([-1]), v[:1])


def test_remove_and_persist_reload(tmp_path: Path) -> None:
    path = tmp_path / "vec"
    x = clustered(500, dim=16, seed=2)
    ids = np.arange(1000, 1500, dtype=np.uint64)
    idx = VectorIndex.open(path, 16)
    idx.add(ids, x)
    assert idx.remove(np.array([1000, 1499, 1250, 77])) == 3
    assert len(idx) == 497 and idx.get(1250) is None and 1499 not in idx
    q = x[10]
    before = idx.search(q, 10)
    idx.save()
    assert (path / "CURRENT").is_file()
    assert len(list(path.glob("g*"))) == 1
    reopened = VectorIndex.open(path, 16, create=False)
    after = reopened.search(q, 10)
    assert after[0].tolist() == before[0].tolist()
    np.testing.assert_allclose(after[1], before[1])
    idx.add(np.array([5]), x[:1])
    idx.save()
    assert len(list(path.glob("g*"))) == 1, "old generations are cleaned up"
    again = VectorIndex.open(path, 16, create=False)
    assert len(again) == 498 and 5 in again and 1250 not in again
    np.testing.assert_allclose(again.get(1001), idx.get(1001))
    again.remove(np.array([1001]))  # the memory-mapped generation becomes writable on first change
    assert again.get(1001) is None and VectorIndex.open(path, 16).get(1001) is not None
    with pytest.raises(ValueError):
        VectorIndex.open(path, 32)
    with pytest.raises(FileNotFoundError):
        VectorIndex.open(tmp_path / "missing", 16, create=False)


def test_reload_if_changed(tmp_path: Path) -> None:
    writer = VectorIndex.open(tmp_path / "v", 8)
    writer.add(np.array([1, 2]), np.eye(8, dtype=np.float32)[:2])
    writer.save()
    reader = VectorIndex.open(tmp_path / "v", 8)
    assert not reader.reload_if_changed()
    writer.add(np.array([3]), np.eye(8, dtype=np.float32)[2:3])
    writer.save()
    assert reader.reload_if_changed() and len(reader) == 3


def test_exact_mode_matches_numpy() -> None:
    x = clustered(3000, dim=64, seed=3)
    ids = np.arange(3000, dtype=np.uint64) + 7
    idx = VectorIndex(Path("/unused"), 64)
    idx.add(ids, x)
    assert not idx.uses_hnsw
    for q in clustered(20, dim=64, seed=4):
        want_ids, want_sc = exact_top(x, ids, q, 10)
        got_ids, got_sc = idx.search(q, 10)
        np.testing.assert_allclose(got_sc, want_sc, atol=1e-5)
        assert got_ids.tolist() == want_ids.tolist()
        assert got_ids.dtype == np.uint64 and got_sc.dtype == np.float32


def test_hnsw_mode_small_threshold_upsert_remove_persist(tmp_path: Path) -> None:
    x = clustered(3000, dim=32, seed=5)
    ids = np.arange(3000, dtype=np.uint64)
    idx = VectorIndex.open(tmp_path / "h", 32, hnsw_threshold=1000)
    idx.add(ids[:900], x[:900])
    assert not idx.uses_hnsw
    idx.add(ids[900:], x[900:])
    assert idx.uses_hnsw
    idx.add(ids[:1], x[1:2])  # upsert inside the graph
    top, _ = idx.search(x[1], 2)
    assert set(top.tolist()) == {0, 1}
    idx.remove(ids[2:10])
    top, _ = idx.search(x[5], 5)
    assert not set(top.tolist()) & set(range(2, 10))
    idx.save()
    assert (tmp_path / "h" / (tmp_path / "h" / "CURRENT").read_text().strip() / "hnsw.usearch").is_file()
    again = VectorIndex.open(tmp_path / "h", 32, hnsw_threshold=1000)
    assert again.uses_hnsw and len(again) == len(idx)
    for q in x[100:110]:
        assert again.search(q, 10)[0].tolist() == idx.search(q, 10)[0].tolist()
    again.remove(ids[10:2600])  # far below threshold/2: back to exact scans
    assert not again.uses_hnsw and len(again) == 3000 - 8 - 2590


def top_from_scores(scores: np.ndarray, ids: np.ndarray, k: int, mask=None) -> np.ndarray:
    """Exact top-k ids from a precomputed score row (optionally restricted to ``mask``)."""
    if mask is not None:
        scores = np.where(mask, scores, -np.inf)
    order = np.argsort(-scores)[:k]
    return ids[order[np.isfinite(scores[order])]]


def test_recall_at_10_vs_exact(big) -> None:
    index, ids, x, queries, truth = big
    recalls = []
    for qi, q in enumerate(queries):
        want = top_from_scores(truth[qi], ids, 10)
        got, _ = index.search(q, 10)
        recalls.append(len(set(got.tolist()) & set(want.tolist())) / 10)
    assert np.mean(recalls) >= 0.99


def test_filtered_search_matches_exact_filtered(big) -> None:
    index, ids, x, queries, truth = big
    mask = (ids % 7) == 0
    allowed = set(ids[mask].tolist())
    hits = 0
    for qi, q in enumerate(queries[:40]):
        want = top_from_scores(truth[qi], ids, 10, mask)
        got, got_sc = index.search(q, 10, allowed=lambda i: i % 7 == 0)
        assert len(got) == 10 and set(got.tolist()) <= allowed
        assert np.all(np.diff(got_sc) <= 1e-6)
        hits += len(set(got.tolist()) & set(want.tolist()))
        ex, ex_sc = index.search(q, 10, allowed=lambda i: i % 7 == 0, exact=True)
        assert ex.tolist() == want.tolist()
    assert hits / (40 * 10) >= 0.99


def test_highly_selective_filter_still_returns_k(big) -> None:
    index, ids, x, queries, truth = big
    chosen = ids[np.random.default_rng(9).choice(len(ids), 15, replace=False)]
    chosen_set = set(chosen.tolist())
    mask = np.isin(ids, chosen)
    for qi, q in enumerate(queries[:5]):
        want = top_from_scores(truth[qi], ids, 10, mask)
        got, _ = index.search(q, 10, allowed=lambda i: i in chosen_set)
        assert got.tolist() == want.tolist()
        got2, _ = index.search(q, 10, allowed=chosen)  # an id array is answered by an exact subset scan
        assert got2.tolist() == want.tolist()
    got, _ = index.search(queries[0], 10, allowed=lambda i: False)
    assert len(got) == 0


def test_mask_by_id_and_batched_accept(big) -> None:
    """A boolean mask by id and a batched ``accept`` check filter in the index's one over-fetch loop: same answers
    as exact filtered search, and ``accept`` is only ever asked about candidates, never about every row."""
    index, ids, x, queries, truth = big
    by_id = np.zeros(int(ids.max()) + 1, dtype=bool)
    by_id[ids[(ids % 7) != 0].astype(np.int64)] = True  # a broad filter: six in seven allowed
    asked: list[int] = []

    def even(keys: np.ndarray) -> np.ndarray:
        asked.append(len(keys))
        return keys % 2 == 0

    allowed = by_id[ids.astype(np.int64)] & (ids % 2 == 0)
    hits = 0
    for qi, q in enumerate(queries[:30]):
        want = top_from_scores(truth[qi], ids, 10, allowed)
        got, _ = index.search(q, 10, allowed=by_id, accept=even)
        assert len(got) == 10 and all(by_id[int(i)] and i % 2 == 0 for i in got.tolist())
        hits += len(set(got.tolist()) & set(want.tolist()))
        exact, _ = index.search(q, 10, allowed=by_id, accept=even, exact=True)
        assert exact.tolist() == want.tolist()
    assert hits / 300 >= 0.99
    assert max(asked) < len(ids) // 4
    short = np.zeros(5, dtype=bool)  # a mask shorter than the ids: ids past its end are not allowed
    assert len(index.search(queries[0], 10, allowed=short)[0]) == 0


def test_filter_on_small_exact_index_returns_all_allowed() -> None:
    x = clustered(2000, dim=16, seed=6)
    ids = np.arange(2000, dtype=np.uint64)
    idx = VectorIndex(Path("/unused"), 16)
    idx.add(ids, x)
    got, _ = idx.search(x[0], 10, allowed=lambda i: i in (3, 1999, 1000))
    assert sorted(got.tolist()) == [3, 1000, 1999]
    got, _ = idx.search(x[0], 10, allowed=[5, 6, 123456])
    assert sorted(got.tolist()) == [5, 6]


def test_concurrent_searches_with_writer() -> None:
    x = clustered(4000, dim=32, seed=7)
    ids = np.arange(4000, dtype=np.uint64)
    idx = VectorIndex(Path("/unused"), 32, hnsw_threshold=1500, params=HnswParams(expansion_add=32))
    idx.add(ids[:2000], x[:2000])
    errors: list[BaseException] = []
    stop = threading.Event()

    def reader(seed: int) -> None:
        rng = np.random.default_rng(seed)
        try:
            while not stop.is_set():
                got, sc = idx.search(x[rng.integers(0, 4000)], 5, allowed=lambda i: i % 2 == 0)
                assert all(i % 2 == 0 for i in got.tolist()) and np.all(np.isfinite(sc))
        except BaseException as exc:  # noqa: BLE001 - surfaced in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=reader, args=(s,)) for s in range(3)]
    for t in threads:
        t.start()
    for start in range(2000, 4000, 250):
        idx.add(ids[start : start + 250], x[start : start + 250])
        idx.remove(ids[start - 100 : start - 90])
    stop.set()
    for t in threads:
        t.join()
    assert not errors
    assert len(idx) == 4000 - 80
