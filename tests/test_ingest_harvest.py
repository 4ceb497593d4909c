"""A killed OAI-PMH harvest resumes where it stopped, through the real ingest pipeline and store."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fixtures.oai import RAW_PAGE, TOKEN, final_page  # noqa: E402
from paperboy.config import load_settings  # noqa: E402
from paperboy.ingest import HarvestOptions, ingest, open_sources  # noqa: E402
from paperboy.sources.base import SourceError  # noqa: E402
from paperboy.sources.oai import checkpoint_key  # noqa: E402
from paperboy.store.sqlite import SQLiteStore  # noqa: E402
from replay_server import ReplayServer, Reply, recorded  # noqa: E402


def test_killed_harvest_resumes_after_last_committed_page(server, tmp_path, monkeypatch, datasets):
    monkeypatch.setenv("PAPERBOY_OAI_BASE_URL", server.url("/oai2"))
    monkeypatch.setenv("PAPERBOY_HARVEST_DELAY", "0")
    settings = load_settings(tmp_path / "home")
    store = SQLiteStore(tmp_path / "db.sqlite")
    opts = HarvestOptions(metadata_prefix="arXivRaw")
    # Page 1 is served; page 2 fails for good (a 404 is not retried), as if the harvest died there.
    server.script({"resumptionToken": TOKEN}, Reply(404, b"gone"))
    server.script({"verb": "ListRecords", "metadataPrefix": "arXivRaw"}, Reply(200, recorded(RAW_PAGE)))
    with pytest.raises(SourceError):
        ingest(store, open_sources(["oai:"], fmt="auto", settings=settings, store=store, harvest=opts))
    assert store.stats().papers == 6  # page 1 committed together with its checkpoint
    key = checkpoint_key(settings.oai_base_url, "arXivRaw", None, None, None)
    assert store.get_state(key)["token"] == TOKEN

    with ReplayServer() as second:  # a fresh server that only knows page 2
        monkeypatch.setenv("PAPERBOY_OAI_BASE_URL", second.url("/oai2"))
        settings = load_settings(tmp_path / "home")
        second.script({"resumptionToken": TOKEN}, Reply(200, final_page()))
        store.set_state(checkpoint_key(settings.oai_base_url, "arXivRaw", None, None, None), store.get_state(key))
        summary = ingest(store, open_sources(["oai:"], fmt="auto", settings=settings, store=store, harvest=opts))
        assert [r.query for r in second.requests] == [{"verb": "ListRecords", "resumptionToken": TOKEN}]
    assert summary.added == 1 and store.stats().papers == 7
    assert store.get_state(checkpoint_key(settings.oai_base_url, "arXivRaw", None, None, None))["done"] is True
