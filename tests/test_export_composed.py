"""The whole library round trip, composed: topics (paperboy.library.topics) and follows (paperboy.library.follows)
travel in the same export document as votes, saves and collections, and come back the same after deleting the
account and importing into a new one, a second later; importing twice duplicates nothing."""

from __future__ import annotations

import time

import httpx
import pytest

from mail_server import MailSink
from paperboy.library import topics
from readers_site import PAPERS, ReadersSite, start_readers_site, token_client


@pytest.fixture
def site(tmp_path) -> ReadersSite:
    with MailSink() as sink:
        yield from start_readers_site(tmp_path, sink)



def round_trip(site: ReadersSite, ada: httpx.Client) -> dict:
    """Export ada's library, delete her account, import into a new account a second later (twice): the new
    account's export must be the same document."""
    doc = ada.get("/api/v1/me/export").json()
    assert ada.request("DELETE", "/api/v1/me", json={"confirm": "ada@example.org"}).status_code == 204
    time.sleep(1.1)  # the import happens in a later second than the originals: their times must travel
    bob = token_client(site, "bob@example.org")
    for _ in range(2):
        r = bob.post("/api/v1/me/import", json=doc)
        assert r.status_code == 200, r.text
        assert bob.get("/api/v1/me/export").json() == doc
    return doc


def with_a_topic(site: ReadersSite) -> httpx.Client:
    ada = token_client(site, "ada@example.org")
    ada_id = site.store.db.execute("SELECT id FROM users WHERE email='ada@example.org'").fetchone()[0]
    # Saving a topic from the web runs its search (an engine this site does not load): the topics seam instead.
    assert topics.import_reader(site.store, ada_id, {"topics": [{
        "name": "Sparse <attention>", "query": "sparse attention", "category": "cs.LG", "mode": "hybrid",
        "seen": [PAPERS[0].id]}]}) == []
    ada.post(f"/api/v1/papers/{PAPERS[0].id}/save")
    ada.post("/api/v1/collections", json={"name": "Group"})
    return ada


def test_topics_round_trip_with_the_rest_of_the_library(site):
    doc = round_trip(site, with_a_topic(site))
    assert doc["topics"]["topics"][0]["query"] == "sparse attention"
    assert site.store.db.execute("SELECT count(*) FROM topics").fetchone()[0] == 1  # ada's went with her account


def test_follows_round_trip_too(site):
    ada = with_a_topic(site)
    for kind, value in (("author", "Ada Lovelace"), ("category", "cs.LG")):
        assert ada.post("/api/v1/follows", json={"kind": kind, "value": value}).status_code in (200, 201)
    doc = round_trip(site, ada)
    assert {(f["kind"], f["value"]) for f in doc["follows"]["follows"]} >= {("category", "cs.LG")}
