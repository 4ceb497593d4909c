"""The store: one interface (:class:`Store`), an SQLite backend by default."""

from __future__ import annotations

from pathlib import Path

from paperboy.store.base import BatchResult, Store, StoredPaper, StoreFull, StoreStats

__all__ = ["BatchResult", "Store", "StoredPaper", "StoreFull", "StoreStats", "open_store"]


def open_store(database_url: str) -> Store:
    """Open the store a URL names: ``sqlite:///path/to/paperboy.db`` (PostgreSQL comes later)."""
    if database_url.startswith("sqlite:///"):
        from paperboy.store.sqlite import SQLiteStore

        return SQLiteStore(Path(database_url.removeprefix("sqlite:///")))
    raise ValueError(f"unsupported database URL {database_url!r} (this version supports sqlite:///PATH)")
