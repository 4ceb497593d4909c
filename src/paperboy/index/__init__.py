"""The indexes behind search: lexical (tantivy BM25), embeddings (local MiniLM via onnxruntime) and vectors (ANN).

:class:`Indexes` opens all three under ``settings.index_dir`` / ``settings.model_dir`` once, so that
``paperboy index``, ``paperboy search``, the evaluation harness and the web server share one code path
(and one set of loaded models) instead of each rebuilding its own.

Incremental by construction: the lexical index and the vector index each remember the store change
sequence they caught up with; :meth:`Indexes.sync` reads only ``store.changed_since(seq)``.  A changed paper
is re-embedded only if the text that is embedded (``title. abstract``) or the model changed: a hash of that
text is kept per pid, together with the model id, in ``index_dir/embed-state.npz``.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson

from paperboy.config import Settings
from paperboy.index.lexical import LexicalBusy, LexicalIndex, LexicalParams
from paperboy.papers import Paper
from paperboy.progress import ProgressFn
from paperboy.store.base import Store

if TYPE_CHECKING:  # pragma: no cover
    from paperboy.index.embed import Embedder

log = logging.getLogger(__name__)

__all__ = ["Indexes", "LexicalBusy", "LexicalIndex", "SyncInterrupted", "SyncReport", "embed_text", "text_hash"]

EmbedFn = Callable[[list[str]], np.ndarray]
EMBED_BATCH = 256  # texts per embedder call: big enough for length-sorted batching, small enough to save often
SAVE_EVERY = 4096  # embedded papers between checkpoints of the vector index during a long build
#: A checkpoint may take at most this share of the build: saving a large HNSW index takes seconds, so the time
#: between checkpoints grows to ``save time / SAVE_SHARE`` when that is longer than the configured interval.
SAVE_SHARE = 0.2


def embed_text(paper: Paper) -> str:
    """What gets embedded for a paper: ``title. abstract`` (no doubled full stop after a title ending in one)."""
    title = paper.title.strip()
    if not paper.abstract:
        return title
    sep = " " if title.endswith((".", "?", "!", ":")) else ". "
    return title + sep + paper.abstract


def text_hash(text: str) -> int:
    """64-bit hash of an embedded text: an unchanged hash (and model) means the stored vector is still right."""
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "little") or 1


@dataclass(slots=True)
class SyncReport:
    """What one :meth:`Indexes.sync` did."""

    lexical: int = 0  # papers (re)indexed lexically
    embedded: int = 0  # papers (re)embedded
    skipped_unchanged: int = 0  # changed papers whose embedded text did not change
    embed_error: str | None = None  # why embedding was skipped, if it was
    checkpoints: int = 0  # vector index checkpoints written (by count, by time, at the end or on interrupt)
    interrupted_in: str | None = None  # "lexical" or "embed" when Ctrl-C stopped the sync there

    def line(self) -> str:
        s = f"lexical: {self.lexical:,} papers indexed; embeddings: {self.embedded:,} papers embedded"
        if self.skipped_unchanged:
            s += f" ({self.skipped_unchanged:,} unchanged)"
        if self.embed_error:
            s += f"; embeddings skipped: {self.embed_error}"
        return s


class SyncInterrupted(KeyboardInterrupt):
    """Ctrl-C during :meth:`Indexes.sync`, after the embedding work done so far was checkpointed.

    A ``KeyboardInterrupt`` (so nothing that expects one changes) that carries the partial :class:`SyncReport`:
    lexical work counts only when its pass finished (tantivy commits once per pass), vectors up to the
    checkpoint written on the way out.  A re-run resumes from there.
    """

    def __init__(self, report: SyncReport) -> None:
        super().__init__("interrupted")
        self.report = report


class _EmbedState:
    """pid -> text hash, plus the model id and store sequence the vectors are in step with."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.model_id = ""
        self.seq = 0
        self.hashes = np.zeros(0, dtype=np.uint64)
        if path.exists():
            try:
                with np.load(path) as z:
                    meta = orjson.loads(z["meta"].tobytes())
                    self.hashes = z["hashes"].astype(np.uint64)
                self.model_id, self.seq = str(meta.get("model_id", "")), int(meta.get("seq", 0))
            except (OSError, ValueError, KeyError, orjson.JSONDecodeError):
                log.warning("embedding state %s is unreadable: vectors will be rebuilt", path)

    def get(self, pid: int) -> int:
        return int(self.hashes[pid]) if pid < len(self.hashes) else 0

    def set(self, pid: int, h: int) -> None:
        if pid >= len(self.hashes):
            grow = max(pid + 1, int(len(self.hashes) * 1.5) + 1024)
            self.hashes = np.concatenate([self.hashes, np.zeros(grow - len(self.hashes), dtype=np.uint64)])
        self.hashes[pid] = np.uint64(h)

    def reset(self, model_id: str) -> None:
        self.model_id, self.seq, self.hashes = model_id, 0, np.zeros(0, dtype=np.uint64)

    def save(self) -> None:
        tmp = self.path.with_suffix(".tmp.npz")
        meta = orjson.dumps({"model_id": self.model_id, "seq": self.seq})
        with open(tmp, "wb") as fh:
            np.savez(fh, hashes=self.hashes, meta=np.frombuffer(meta, dtype=np.uint8))
        os.replace(tmp, self.path)


class Indexes:
    """Lexical index, embedder and vector index of one paperboy home, opened once per process.

    The embedder and the vector index load lazily on first use; if the model cannot be loaded,
    :attr:`embed_error` says why and search falls back to lexical.  Thread-safe for reading; :meth:`sync`
    serialises writers within the process (tantivy's lock file guards against other processes).
    """

    def __init__(self, settings: Settings, *, embed: bool = True, threads: int | None = None,
                 lexical_params: LexicalParams | None = None) -> None:
        self.settings = settings
        self.dir = Path(settings.index_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.lexical = LexicalIndex(self.dir / "lexical", params=lexical_params)
        self._want_embed = embed
        self._threads = threads
        self._embedder: Embedder | None = None
        self._embedder_error: str | None = None if embed else "embeddings are disabled"
        self._vectors: Any = None
        self._lock = threading.RLock()
        self._state = _EmbedState(self.dir / "embed-state.npz")

    # -- lazy parts ---------------------------------------------------------------------------------------------

    @property
    def embedder(self) -> Embedder | None:
        """The loaded embedder, or None (see :attr:`embed_error`).  Loaded at most once."""
        if self._embedder is None and self._embedder_error is None:
            with self._lock:
                if self._embedder is None and self._embedder_error is None:
                    try:
                        from paperboy.index.embed import Embedder, EmbedderUnavailable
                    except ImportError as exc:  # pragma: no cover - broken install
                        self._embedder_error = f"embedding module unavailable: {exc}"
                        return None
                    try:
                        self._embedder = Embedder.load(self.settings.model_dir, variant=self.settings.embed_variant,
                                                       threads=self._threads)
                    except (EmbedderUnavailable, OSError, ValueError, RuntimeError) as exc:
                        self._embedder_error = str(exc) or type(exc).__name__
        return self._embedder

    @property
    def embed_error(self) -> str | None:
        return self._embedder_error

    @property
    def vectors_path(self) -> Path:
        return self.dir / "vectors"

    def vectors(self, dim: int | None = None, create: bool = False) -> Any:
        """The vector index (None if none was built yet and ``create`` is False)."""
        if self._vectors is None:
            with self._lock:
                if self._vectors is None:
                    if not create and not (self.vectors_path / "CURRENT").exists():
                        return None
                    from paperboy.index.vectors import VectorIndex

                    self._vectors = VectorIndex.open(self.vectors_path, dim or 384, create=True)
        return self._vectors

    @property
    def model_id(self) -> str:
        """The model the stored vectors were made with ("" if none)."""
        return self._state.model_id

    def has_vectors(self) -> bool:
        v = self.vectors()
        return v is not None and len(v) > 0

    def refresh(self) -> None:
        """Pick up index changes committed by another process (e.g. ``paperboy index`` beside the server)."""
        if self.lexical.refresh():
            self._state = _EmbedState(self.dir / "embed-state.npz")
        if self._vectors is not None:
            self._vectors.reload_if_changed()
        elif (self.vectors_path / "CURRENT").exists():
            self.vectors()

    # -- syncing ------------------------------------------------------------------------------------------------

    def sync(self, store: Store, progress: ProgressFn | None = None, *, embed: bool = True,
             embed_fn: EmbedFn | None = None, batch: int = 2000) -> SyncReport:
        """Bring the indexes in step with ``store``: lexical first, then embeddings for changed texts.

        Use :func:`paperboy.pipeline.update_indexes` (or :func:`paperboy.pipeline.run`) rather than calling this
        directly: the pipeline is the one sync path of the CLI, the server and the scheduler.  ``progress`` gets
        ``("lexical" | "embed", papers read, papers to read)``.  ``embed_fn`` replaces the embedder (the
        evaluation harness passes a caching one).  Raises :class:`LexicalBusy` when another process syncs this
        home, :class:`SyncInterrupted` on Ctrl-C (after a checkpoint).
        """
        report = SyncReport()
        with self._lock, self._process_lock():
            stage = "lexical"  # until the lexical pass is committed
            try:
                lexical_progress = _stage_progress(progress, "lexical", store, self.lexical.last_seq)
                report.lexical = self.lexical.sync(store, progress=lexical_progress, batch=batch)
                stage = "embed"
                if not (embed and self._want_embed):
                    report.embed_error = self._embedder_error or "embeddings not requested"
                    return report
                if embed_fn is None:
                    loading = progress if self._embedder is None else None  # a first build takes tens of seconds
                    if loading:
                        loading("model", 0, 1)
                    embedder = self.embedder
                    if loading:
                        loading("model", 1, 1)
                    if embedder is None:
                        report.embed_error = self._embedder_error
                        return report
                    model_id, dim = embedder.model_id, embedder.dim
                    embed_fn = embedder.embed
                else:
                    model_id = getattr(embed_fn, "model_id", "custom")
                    dim = int(getattr(embed_fn, "dim", 384))
                self._sync_vectors(store, embed_fn, model_id, dim, progress, report, batch)
            except KeyboardInterrupt as exc:
                report.interrupted_in = stage
                raise SyncInterrupted(report) from exc
        return report

    @contextlib.contextmanager
    def _process_lock(self) -> Iterator[None]:
        """One syncing process per home (``paperboy index`` beside a server that syncs at start)."""
        with open(self.dir / ".sync.lock", "a+b") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError as exc:
                raise LexicalBusy(f"another process is updating the indexes in {self.dir}") from exc
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def _sync_vectors(self, store: Store, embed_fn: EmbedFn, model_id: str, dim: int,
                      progress: ProgressFn | None, report: SyncReport, batch: int) -> None:
        """Embed changed texts, checkpointing every :data:`SAVE_EVERY` papers or ``index_checkpoint_s`` seconds.

        A checkpoint saves the vectors and the embedding state together with the store sequence they cover, so
        a killed run loses at most one interval and the next run resumes after the checkpointed sequence.
        """
        state = self._state
        if state.model_id != model_id:
            if state.model_id:
                log.info("embedding model changed (%s -> %s): re-embedding every paper", state.model_id, model_id)
            state.reset(model_id)
            self._vectors = None
            shutil.rmtree(self.vectors_path, ignore_errors=True)
        vectors = self.vectors(dim, create=True)
        pending: list[tuple[int, int, str]] = []
        since_save = 0
        done = state.seq  # every paper up to this store sequence is embedded (or unchanged): a valid checkpoint
        interval = float(self.settings.index_checkpoint_s)
        last_save = time.monotonic()
        tick = _stage_progress(progress, "embed", store, done)
        unreported = 0  # papers read since the last progress report (reported per embedder call, not per batch)

        def checkpoint() -> None:
            nonlocal since_save, last_save, interval
            started = time.monotonic()
            state.seq = max(state.seq, done)
            vectors.save()
            state.save()
            report.checkpoints += 1
            since_save = 0
            last_save = time.monotonic()
            interval = max(interval, (last_save - started) / SAVE_SHARE)

        def flush(upto: int) -> None:
            """Embed what is pending; then every paper up to ``upto`` is done (papers come in sequence order)."""
            nonlocal since_save, done, unreported
            if pending:
                vecs = np.asarray(embed_fn([t for _, _, t in pending]), dtype=np.float32)
                vectors.add(np.asarray([p for p, _, _ in pending], dtype=np.int64), vecs)
                for p, h, _ in pending:
                    state.set(p, h)
                report.embedded += len(pending)
                since_save += len(pending)
                pending.clear()
            done = upto
            if tick and unreported:
                tick(unreported)
            unreported = 0
            if since_save >= SAVE_EVERY or (since_save and time.monotonic() - last_save >= interval):
                checkpoint()

        try:
            while changed := store.changed_since(done, limit=batch):
                for sp in changed:
                    unreported += 1
                    text = embed_text(sp.paper)
                    h = text_hash(text)
                    if state.get(sp.pid) == h:
                        report.skipped_unchanged += 1
                        continue
                    pending.append((sp.pid, h, text))
                    if len(pending) >= EMBED_BATCH:
                        flush(sp.seq)
                flush(changed[-1].seq)
        except KeyboardInterrupt:
            pending.clear()  # not embedded: the re-run starts after ``done`` and embeds them
            checkpoint()
            raise
        checkpoint()

    def close(self) -> None:
        self.lexical.close()


def _stage_progress(progress: ProgressFn | None, stage: str, store: Store, since: int) -> Callable[[int], None] | None:
    """Announce ``stage`` with the number of papers changed since ``since`` (an upper bound: a paper changed
    twice counts once in the store but twice in the sequence), and return a per-batch counter for it."""
    if progress is None:
        return None
    total = min(store.count(), max(0, store.max_seq() - since))
    progress(stage, 0, total)
    return lambda n: progress(stage, n, total)
