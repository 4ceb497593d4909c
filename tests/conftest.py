"""Shared fixtures.  Data sets are read from ``../shared/datasets`` beside the repository, never copied in."""

from __future__ import annotations

from pathlib import Path

import pytest

from paperboy.store.sqlite import SQLiteStore
from replay_server import ReplayServer

DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"


@pytest.fixture(scope="session")
def datasets() -> Path:
    if not DATASETS.is_dir():
        pytest.skip(f"shared datasets not found at {DATASETS}")
    return DATASETS


@pytest.fixture
def store(tmp_path: Path) -> SQLiteStore:
    s = SQLiteStore(tmp_path / "paperboy.db")
    yield s
    s.close()


@pytest.fixture
def server() -> ReplayServer:
    """A real local HTTP server replaying scripted (recorded) responses, for the network sources."""
    with ReplayServer() as s:
        yield s
