"""Shared fixtures.  Data sets are read from ``../shared/datasets`` beside the repository, never copied in."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from fixtures.browser import browser, readers_site, signed_in_page  # noqa: F401 - fixtures for every test module
from fixtures.events import events  # noqa: F401 - the signals store of the events and trending tests
from fixtures.topics import topics_site  # noqa: F401 - the topics site of the HTTP and Chromium topics tests
from fixtures.web import Site, start_site, stop_site
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


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Site:
    """The web test site (``tests/fixtures/web.py``): built once per session, under pytest's temporary folder."""
    s = start_site(tmp_path_factory.mktemp("web-site"))
    yield s
    stop_site(s)


@pytest.fixture(scope="session")
def client(site: Site) -> httpx.Client:
    return site.client
