"""The vector index on disk: complete generations, switched atomically, so a reader or a crash never sees a mixture.

Why a module of its own: persistence rules (fsync order, the ``CURRENT`` pointer, which files a generation holds)
change for other reasons than search does, and :class:`paperboy.index.vectors.VectorIndex` only needs "read this
generation" and "write a new one".

Layout under the index directory::

    CURRENT              # name of the live generation, switched atomically with os.replace
    g000007/meta.json    # format, dim, count, HNSW parameters
    g000007/ids.npy      # uint64 [n]        row -> store row id
    g000007/vectors.npy  # float16 [n, dim]  unit vectors, memory-mapped on open (get / rescoring)
    g000007/hnsw.usearch # only when the index was in HNSW mode

A save writes a complete new generation directory and then flips ``CURRENT``; older generations are deleted
afterwards.  A checkpoint is a new generation, so a kill leaves the previous one.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

FORMAT_VERSION = 1
STORE_DTYPE = np.float16
HNSW_FILE = "hnsw.usearch"


@dataclass(frozen=True)
class Generation:
    """One saved generation as read back: its directory, meta.json, ids and (memory-mapped) float16 rows."""

    dir: Path
    meta: dict[str, Any]
    ids: np.ndarray
    vectors: np.ndarray

    @property
    def hnsw_file(self) -> Path | None:
        """The saved HNSW graph, or None when the generation was saved in exact-scan mode."""
        path = self.dir / HNSW_FILE
        return path if path.is_file() else None


def read_generation(path: Path, generation: str, dim: int) -> Generation:
    """Read generation ``generation`` under ``path``; ValueError for another format, dimension or a torn file."""
    gdir = path / generation
    meta = json.loads((gdir / "meta.json").read_text())
    if meta.get("format") != FORMAT_VERSION:
        raise ValueError(f"{gdir}: unsupported vector index format {meta.get('format')!r}")
    if int(meta["dim"]) != dim:
        raise ValueError(f"{gdir}: index has dimension {meta['dim']}, expected {dim}")
    ids = np.load(gdir / "ids.npy")
    vecs = np.load(gdir / "vectors.npy", mmap_mode="r") if len(ids) else np.zeros((0, dim), STORE_DTYPE)
    if vecs.shape != (len(ids), dim):
        raise ValueError(f"{gdir}: vectors.npy shape {vecs.shape} does not match {len(ids)} ids")
    return Generation(gdir, meta, ids, vecs)


def write_generation(
    path: Path, dim: int, ids: np.ndarray, vectors: np.ndarray, hnsw: Any, hnsw_params: dict | None, hnsw_removed: int
) -> str:
    """Write a complete new generation (fsynced) and switch ``CURRENT`` to it; returns its name.

    ``hnsw`` is the usearch graph to save beside the rows, or None in exact-scan mode.
    """
    path.mkdir(parents=True, exist_ok=True)
    number = 1 + max((int(p.name[1:]) for p in path.glob("g[0-9]*") if p.name[1:].isdigit()), default=0)
    name = f"g{number:06d}"
    tmp = path / f".{name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    meta = {
        "format": FORMAT_VERSION,
        "dim": dim,
        "count": len(ids),
        "dtype": np.dtype(STORE_DTYPE).name,
        "hnsw_params": hnsw_params,
        "hnsw_removed": hnsw_removed,
    }
    for fname, arr in (("ids.npy", ids), ("vectors.npy", vectors)):
        with open(tmp / fname, "wb") as fh:
            np.save(fh, np.ascontiguousarray(arr))
            fh.flush()
            os.fsync(fh.fileno())
    if hnsw is not None:
        hnsw.save(str(tmp / HNSW_FILE))
    (tmp / "meta.json").write_text(json.dumps(meta, indent=1))
    fsync_dir(tmp)
    os.replace(tmp, path / name)
    pointer = path / ".CURRENT.tmp"
    with open(pointer, "w") as fh:
        fh.write(name + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(pointer, path / "CURRENT")
    fsync_dir(path)
    return name


def drop_other_generations(path: Path, keep: str) -> None:
    """Delete every generation but ``keep``, and temporary directories a killed save left behind."""
    for old in path.glob("g[0-9]*"):
        if old.name != keep:
            shutil.rmtree(old, ignore_errors=True)
    for stale in path.glob(".g*.tmp"):
        shutil.rmtree(stale, ignore_errors=True)


def fsync_dir(path: Path) -> None:
    """Make a rename inside ``path`` durable (a no-op where directories cannot be opened)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)
