"""Export, import and account deletion over real HTTP: the JSON round trip, merging without duplicates, BibTeX
parsed by bibtexparser (LaTeX and non-ASCII), CSV with formula cells neutralised, bad imports, and deleting
everything a reader owns in one transaction."""

from __future__ import annotations

import copy
import csv
import io
from datetime import date

import bibtexparser
import httpx
import orjson
import pytest

from mail_server import MailSink
from paperboy.papers import Author, Paper
from readers_site import PAPERS, ReadersSite, start_readers_site, token_client

A, B = PAPERS[0].id, PAPERS[1].id
TEX = Paper(id="2402.00003", source="test", arxiv_id="2402.00003",
            title=r"Schr\"odinger bridges in $O(n^2)$: {Gödel}'s 100% & naïve \emph{bounds}",
            authors=[Author(r"Erwin Schr{\"o}dinger"), Author("Kurt Gödel"), Author("José Ñúñez-Łukasz")],
            categories=["math.PR"], submitted=date(2024, 2, 1), abstract="TeX and Unicode.")
TWIN = Paper(id="2402.00004", source="test", arxiv_id="2402.00004",  # the same BibTeX key as TEX before suffixes
             title=r"Schr\"odinger bridges again", authors=[Author("Erwin Schrödinger")], categories=["math.PR"],
             submitted=date(2024, 3, 1))
NOTE = '<script>alert(1)</script> 50% of {x} \\end{document} ~ $'


@pytest.fixture
def site(tmp_path) -> ReadersSite:
    with MailSink() as sink:
        for s in start_readers_site(tmp_path, sink):
            s.store.write_batch([TEX, TWIN], [])
            yield s



def fill(client: httpx.Client) -> None:
    """A reader with votes, saves (one with a note), a named collection with notes and an imported unknown paper."""
    client.post(f"/api/v1/papers/{A}/vote")
    for paper in (A, TEX.id, TWIN.id):
        client.post(f"/api/v1/papers/{paper}/save")
    saved = client.get("/api/v1/collections").json()["collections"][0]["id"]
    client.put(f"/api/v1/collections/{saved}/items/{TEX.id}", json={"note": NOTE})
    cid = client.post("/api/v1/collections", json={"name": "Reading group ☕", "description": "Fridays"}).json()["id"]
    for paper in (B, A):
        client.post(f"/api/v1/collections/{cid}/items", json={"paper": paper, "note": f"=1+1 {paper}"})


def export(client: httpx.Client) -> dict:
    r = client.get("/api/v1/me/export")
    assert r.status_code == 200 and r.headers["cache-control"] == "private, no-store"
    assert r.headers["content-disposition"].startswith("attachment")
    return r.json()


def test_export_round_trips_into_an_empty_account_and_merges_without_duplicates(site):
    ada = token_client(site, "ada@example.org")
    fill(ada)
    doc = export(ada)
    assert doc["format"] == "paperboy-export" and doc["version"] == 1
    assert [v["paper"] for v in doc["votes"]] == [A]
    assert [s["paper"] for s in doc["saves"]] == [A, TEX.id, TWIN.id]
    saved, group = doc["collections"]
    assert saved["default"] and [i["paper"] for i in saved["items"]] == [A, TEX.id, TWIN.id]
    assert saved["items"][1]["note"] == NOTE and group["name"] == "Reading group ☕"
    assert [i["paper"] for i in group["items"]] == [B, A]
    assert "email" not in orjson.dumps(doc).decode()  # no address, no secrets: it imports into any account

    bob = token_client(site, "bob@example.org")
    r = bob.post("/api/v1/me/import", json=doc)
    assert r.status_code == 200 and r.json() == {"imported": True, "notes": []}
    assert export(bob) == doc
    assert bob.post("/api/v1/me/import", json=doc).status_code == 200  # again: merged, nothing duplicated
    assert export(bob) == doc
    counts = bob.get("/api/v1/signals", params={"ids": A}).json()["papers"][A]
    assert counts["counts"] == {"upvotes": 2, "saves": 2, "views": 0}

    carl = token_client(site, "carl@example.org")  # a non-empty account: its own things stay, in front
    carl.post(f"/api/v1/papers/{B}/save")
    carl.post("/api/v1/collections", json={"name": "Reading group ☕"})
    carl.post("/api/v1/me/import", json=doc)
    merged = export(carl)
    assert [s["paper"] for s in merged["saves"]] == [A, TEX.id, TWIN.id, B]  # by time: carl's save is newest
    assert [i["paper"] for i in merged["collections"][0]["items"]] == [B, A, TEX.id, TWIN.id]
    assert len(merged["collections"]) == 2
    assert [i["paper"] for i in merged["collections"][1]["items"]] == [B, A]


def test_papers_this_instance_lacks_are_kept_by_id_and_reported(site):
    doc = export(token_client(site, "ada@example.org"))
    doc["votes"] = [{"paper": "1999.00001", "at": "2025-01-02T03:04:05.000006Z"}]
    doc["saves"] = [{"paper": "1999.00002", "at": "2025-01-02T03:04:05.000007Z"}]
    doc["collections"] = [{"name": "Elsewhere", "default": False, "description": "",
                           "items": [{"paper": "1999.00003", "note": "from another paperboy",
                                      "added": "2025-01-02T03:04:05.000008Z"}]},
                          {"name": "Saved", "default": True, "description": "", "items": []}]
    bob = token_client(site, "bob@example.org")
    notes = bob.post("/api/v1/me/import", json=doc).json()["notes"]
    assert any("1999.00001" in n for n in notes) and any("1999.00002" in n for n in notes)
    assert any("1999.00003" in n and "Elsewhere" in n for n in notes)
    again = export(bob)
    assert again["votes"] == doc["votes"] and again["saves"] == doc["saves"]
    elsewhere = next(c for c in again["collections"] if c["name"] == "Elsewhere")
    assert elsewhere["items"] == doc["collections"][0]["items"]
    saved = next(c for c in again["collections"] if c["default"])
    assert [i["paper"] for i in saved["items"]] == ["1999.00002"]  # the pending save is in the default collection
    cid = bob.get("/api/v1/collections").json()["collections"][0]["id"]
    assert bob.delete(f"/api/v1/collections/{cid}/items/1999.00002").status_code == 204
    assert export(bob)["saves"] == []  # removing it unsaves it, as for papers that are here


def test_bad_imports_are_refused_with_a_clear_status(site):
    bob = token_client(site, "bob@example.org")
    good = export(bob)
    assert bob.post("/api/v1/me/import", content=b'{"format": "paperboy-export", ').status_code == 400
    assert bob.post("/api/v1/me/import", json=[1, 2]).status_code == 422
    newer = dict(good, version=2)
    r = bob.post("/api/v1/me/import", json=newer)
    assert r.status_code == 422 and "newer" in r.json()["error"]
    broken = copy.deepcopy(good)
    broken["saves"] = [{"paper": A, "at": "yesterday"}]
    assert bob.post("/api/v1/me/import", json=broken).status_code == 422
    broken["saves"] = [{"at": "2025-01-01T00:00:00Z"}]
    assert bob.post("/api/v1/me/import", json=broken).status_code == 422
    big = b'{"format": "paperboy-export", "version": 1, "pad": "' + b"x" * (50 * 1024 * 1024) + b'"}'
    r = bob.post("/api/v1/me/import", content=big, headers={"Content-Type": "application/json"})
    assert r.status_code == 413 and "MB" in r.json()["error"]
    r = bob.post("/api/v1/me/import", content=iter([big[i:i + 1 << 20] for i in range(0, len(big), 1 << 20)]))
    assert r.status_code == 413  # streamed without a length: cut off at the cap
    assert export(bob) == good  # nothing was written
    assert httpx.post(site.url + "/api/v1/me/import", json=good, timeout=10).status_code == 401


def test_bibtex_parses_with_latex_and_non_ascii_and_csv_neutralises_formulas(site):
    ada = token_client(site, "ada@example.org")
    fill(ada)
    r = ada.get("/api/v1/me/export.bib")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/x-bibtex")
    lib = bibtexparser.parse_string(r.text)
    assert not lib.failed_blocks and len(lib.entries) == 4  # each paper once, though in two collections
    keys = [e.key for e in lib.entries]
    assert len(set(keys)) == 4
    tex = next(e for e in lib.entries if e["eprint"] == TEX.id)
    assert "Gödel" in tex["title"] and r"\"o" in tex["author"] and "Ñúñez-Łukasz" in tex["author"]
    assert "<script>" not in r.text and r"\textless{}script\textgreater{}" in tex["note"]
    assert r"\%" in tex["note"] and r"\textbraceleft{}x\textbraceright{}" in tex["note"]
    twin = next(e for e in lib.entries if e["eprint"] == TWIN.id)
    assert twin.key != tex.key

    rows = list(csv.reader(io.StringIO(ada.get("/api/v1/me/export.csv").text)))
    assert rows[0][:3] == ["collection", "position", "paper"]
    notes = [row[7] for row in rows[1:] if row[0] == "Reading group ☕"]
    assert notes == [f"'=1+1 {B}", f"'=1+1 {A}"]
    for row in rows[1:]:
        assert all(cell[:1] not in ("=", "+", "-", "@") for cell in row), row


def test_deleting_the_account_takes_everything_in_one_step_with_confirmation(site):
    ada, bob = token_client(site, "ada@example.org"), token_client(site, "bob@example.org")
    fill(ada)
    bob.post(f"/api/v1/papers/{A}/save")
    cid = ada.get("/api/v1/collections").json()["collections"][1]["id"]
    link = ada.post(f"/api/v1/collections/{cid}/share").json()["url"]
    reader_id = site.store.db.execute("SELECT id FROM users WHERE email='ada@example.org'").fetchone()[0]
    digest = (("digest_papers", "(reader_id, paper_id, period, day, at) VALUES (?, 'x', 'daily', '2026-12-01', 0)"),
              ("digest_feedback", "(reader_id, paper_id, vote, at) VALUES (?, 'x', 'up', 0)"),
              ("digest_clicks", "(reader_id, paper_id, period, at) VALUES (?, 'x', 'daily', 0)"))
    for table, values in digest:  # the digest's history names readers without a foreign key
        site.store.db.execute(f"INSERT INTO {table}{values}", (reader_id,))
    assert ada.request("DELETE", "/api/v1/me", json={}).status_code == 400
    assert ada.request("DELETE", "/api/v1/me", json={"confirm": "bob@example.org"}).status_code == 400
    assert ada.request("DELETE", "/api/v1/me", json={"confirm": "ADA@example.org"}).status_code == 204
    assert ada.get("/api/v1/collections").status_code == 401  # its token went with it
    assert httpx.get(link, timeout=10).status_code == 404
    db = site.store.db
    for table, where in (("users", "id=?"), ("collections", "reader=?"), ("reader_marks", "reader=?"),
                         ("api_tokens", "user_id=?"), ("pending_marks", "reader=?"), *((t, "reader_id=?") for t, _ in
                                                                                        digest)):
        assert db.execute(f"SELECT count(*) FROM {table} WHERE {where}", (reader_id,)).fetchone()[0] == 0, table
    assert db.execute("SELECT count(*) FROM events WHERE actor=?", (f"r:{reader_id}",)).fetchone()[0] == 0
    assert db.execute("SELECT count(*) FROM collection_items").fetchone()[0] == 1  # bob's save stays
    state = bob.get("/api/v1/signals", params={"ids": f"{A},{TEX.id}"}).json()["papers"]
    assert state[A]["counts"] == {"upvotes": 0, "saves": 1, "views": 0}
    assert state[TEX.id]["counts"]["saves"] == 0
    before = db.execute("SELECT span, start, pid, round(score, 9), upvotes, saves FROM trend ORDER BY 1,2,3").fetchall()
    site.app.state.signals.events.rebuild()  # the derived state agrees with the log it was taken out of
    assert db.execute("SELECT span, start, pid, round(score, 9), upvotes, saves FROM trend ORDER BY 1,2,3"
                      ).fetchall() == before
