"""Collections over real HTTP (uvicorn, real SQLite): saves land in the default collection, notes, order, share
links, and another reader's collections and links answering 404 on every URL."""

from __future__ import annotations

import httpx
import pytest

from mail_server import MailSink
from paperboy.accounts import AccountService, open_accounts
from readers_site import PAPERS, ReadersSite, field, start_readers_site, token_client

A, B = PAPERS[0].id, PAPERS[1].id
XSS = '<script>alert("x")</script>'


@pytest.fixture
def site(tmp_path) -> ReadersSite:
    with MailSink() as sink:
        yield from start_readers_site(tmp_path, sink)



def default_id(client: httpx.Client) -> int:
    found = client.get("/api/v1/collections").json()["collections"]
    assert found[0]["default"] and found[0]["name"] == "Saved"
    return found[0]["id"]


def papers_of(client: httpx.Client, cid: int) -> list[str]:
    return [i["paper"] for i in client.get(f"/api/v1/collections/{cid}").json()["items"]]


def test_a_save_goes_to_the_default_collection_and_removing_it_unsaves(site):
    ada = token_client(site, "ada@example.org")
    saved = default_id(ada)
    assert ada.post(f"/api/v1/papers/{A}/save").json()["counts"]["saves"] == 1
    assert papers_of(ada, saved) == [A]
    r = ada.post(f"/api/v1/collections/{saved}/items", json={"paper": B, "note": "read §3"})
    assert r.status_code == 201 and r.headers["cache-control"] == "private, no-store"
    assert ada.get(f"/api/v1/papers/{B}/save".replace("/save", "")).status_code == 200
    assert ada.get("/api/v1/signals", params={"ids": B}).json()["papers"][B]["reader"]["saved"] is True
    assert ada.delete(f"/api/v1/collections/{saved}/items/{A}").status_code == 204
    assert ada.get("/api/v1/signals", params={"ids": A}).json()["papers"][A]["counts"]["saves"] == 0
    assert papers_of(ada, saved) == [B]
    assert ada.delete(f"/api/v1/papers/{B}/save").status_code == 200  # an unsave empties the collection too
    assert papers_of(ada, saved) == []
    assert ada.delete(f"/api/v1/collections/{saved}").status_code == 409  # the default one stays


def test_named_collections_notes_order_and_bad_input(site):
    ada = token_client(site, "ada@example.org")
    r = ada.post("/api/v1/collections", json={"name": "Attention", "description": "long context"})
    assert r.status_code == 201
    cid = r.json()["id"]
    assert ada.post("/api/v1/collections", json={"name": "Attention"}).status_code == 409
    assert ada.post("/api/v1/collections", json={"name": "saved"}).status_code == 409  # the default's name
    assert ada.post("/api/v1/collections", json={"name": ""}).status_code == 400
    assert ada.post("/api/v1/collections", json={"name": "x" * 201}).status_code == 400
    assert ada.post("/api/v1/collections", content=b"{nope").status_code == 400
    assert ada.post(f"/api/v1/collections/{cid}/items", json={"paper": "9999.99999"}).status_code == 404
    for paper in (A, B):
        assert ada.post(f"/api/v1/collections/{cid}/items", json={"paper": paper}).status_code == 201
    assert ada.post(f"/api/v1/collections/{cid}/items", json={"paper": A}).json()["added"] is False
    assert ada.put(f"/api/v1/collections/{cid}/items/{B}", json={"note": "x" * 10_001}).status_code == 400
    assert ada.put(f"/api/v1/collections/{cid}/items/{B}", json={"note": "line 1\nline 2"}).status_code == 200
    assert ada.put(f"/api/v1/collections/{cid}/order", json={"papers": [B, A]}).json()["items"][0]["paper"] == B
    assert ada.put(f"/api/v1/collections/{cid}/order", json={"papers": ["2401.99999"]}).status_code == 400
    items = ada.get(f"/api/v1/collections/{cid}").json()["items"]
    assert [(i["paper"], i["note"], i["position"]) for i in items] == [(B, "line 1\nline 2", 1), (A, "", 2)]
    assert items[0]["record"]["title"] == PAPERS[1].title
    assert ada.put(f"/api/v1/collections/{cid}", json={"name": "Long context"}).json()["name"] == "Long context"
    assert ada.delete(f"/api/v1/collections/{cid}/items/{A}").status_code == 204
    assert papers_of(ada, cid) == [B]


def test_share_links_are_read_only_revocable_and_die_with_the_collection(site):
    ada = token_client(site, "ada@example.org")
    cid = ada.post("/api/v1/collections", json={"name": XSS, "description": XSS}).json()["id"]
    ada.post(f"/api/v1/collections/{cid}/items", json={"paper": A, "note": XSS})
    link = ada.post(f"/api/v1/collections/{cid}/share").json()["url"]
    anon = httpx.Client(timeout=10)
    page = anon.get(link)
    assert page.status_code == 200 and page.headers["cache-control"] == "private, no-store"
    assert page.headers["referrer-policy"] == "no-referrer"
    assert XSS not in page.text and "&lt;script&gt;" in page.text and "<form" not in page.text.split("<main")[1]
    twin = anon.get(link.replace("/shared/", "/api/v1/shared/"))
    assert twin.json()["items"][0]["note"] == XSS and twin.json()["name"] == XSS  # JSON carries text as text
    assert anon.get(link + "x").status_code == 404  # a guessed link
    assert anon.get(site.url + "/shared/" + "A" * 43).status_code == 404
    assert anon.get(link).status_code == 200  # the shared response cache never kept it: revoking works at once
    svc = AccountService(open_accounts(site.store), site.settings)
    admin, ada_id = svc.add_reader("admin@example.org", is_admin=True), svc.add_reader("ada@example.org").id
    svc.hide_reader(admin, ada_id, True)
    assert anon.get(link).status_code == 404  # a reader hidden by an admin shares nothing
    svc.hide_reader(admin, ada_id, False)
    assert anon.get(link).status_code == 200
    ada = token_client(site, "ada@example.org")  # a fresh token after being hidden and shown again
    assert ada.delete(f"/api/v1/collections/{cid}/share").status_code == 204
    assert anon.get(link).status_code == 404
    second = ada.post(f"/api/v1/collections/{cid}/share").json()["url"]
    assert second != link and anon.get(second).status_code == 200
    assert ada.delete(f"/api/v1/collections/{cid}").status_code == 204
    assert anon.get(second).status_code == 404  # a deleted collection's link


def test_another_readers_collections_are_not_found_on_every_url(site):
    ada, eve = token_client(site, "ada@example.org"), token_client(site, "eve@example.org")
    cid = ada.post("/api/v1/collections", json={"name": "Private"}).json()["id"]
    ada.post(f"/api/v1/collections/{cid}/items", json={"paper": A, "note": "secret"})
    saved = default_id(ada)
    default_id(eve)
    for target in (cid, saved):
        calls = [("GET", f"/api/v1/collections/{target}", None), ("PUT", f"/api/v1/collections/{target}",
                 {"name": "mine"}), ("DELETE", f"/api/v1/collections/{target}", None),
                 ("POST", f"/api/v1/collections/{target}/items", {"paper": B}),
                 ("PUT", f"/api/v1/collections/{target}/items/{A}", {"note": "x"}),
                 ("DELETE", f"/api/v1/collections/{target}/items/{A}", None),
                 ("PUT", f"/api/v1/collections/{target}/order", {"papers": [A]}),
                 ("POST", f"/api/v1/collections/{target}/share", None),
                 ("DELETE", f"/api/v1/collections/{target}/share", None), ("GET", f"/collections/{target}", None)]
        for method, url, body in calls:
            r = eve.request(method, url, json=body)
            assert r.status_code == 404, (method, url, r.status_code)
            assert "secret" not in r.text and "Private" not in r.text
    assert papers_of(ada, cid) == [A]
    assert httpx.get(site.url + "/api/v1/collections", timeout=10).status_code == 401


def test_pages_escape_and_forms_need_the_sessions_csrf_token(site):
    client = site.client()
    site.sign_in(client, "ada@example.org")
    csrf = site.csrf(client)
    page = client.get("/collections")
    assert page.status_code == 200 and page.headers["cache-control"] == "private, no-store"
    assert 'href="/api/v1/collections"' in page.text
    assert client.post("/collections", data={"name": XSS}).status_code == 403  # no CSRF token
    r = client.post("/collections", data={"name": XSS, "csrf_token": csrf})
    assert r.status_code == 303
    path = r.headers["location"]
    cid = int(path.rsplit("/", 1)[1])
    assert client.post(f"/api/v1/collections/{cid}/items", json={"paper": A}).status_code == 403
    assert client.post(f"/api/v1/collections/{cid}/items", json={"paper": A},
                       headers={"X-CSRF-Token": csrf}).status_code == 201
    assert client.post(path, data={"action": "note", "paper": A, "note": XSS, "csrf_token": csrf}).status_code == 303
    html = client.get(path).text
    assert XSS not in html and html.count("&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;") >= 2
    shared = client.post(path, data={"action": "share", "csrf_token": csrf})
    assert shared.status_code == 200 and shared.headers["referrer-policy"] == "no-referrer"
    link = field(shared.text.replace('<code id="share-url">', 'name="share" value="').replace("</code>", '"'),
                 "share")
    assert httpx.get(link, timeout=10).status_code == 200
    assert client.get(f"/api/v1/collections/{cid}").json()["shared"] is True
    assert client.post(path, data={"action": "delete", "csrf_token": csrf}).headers["location"] == "/collections"
    assert httpx.get(link, timeout=10).status_code == 404


def test_each_library_page_links_its_json_twin(site):
    client = site.client()
    assert client.get("/collections").headers["location"] == "/auth/login"
    site.sign_in(client, "ada@example.org")
    csrf = site.csrf(client)
    cid = client.post("/api/v1/collections", json={"name": "Twins"}, headers={"X-CSRF-Token": csrf}).json()["id"]
    link = client.post(f"/api/v1/collections/{cid}/share", headers={"X-CSRF-Token": csrf}).json()["url"]
    for path in ("/collections", f"/collections/{cid}", "/me", link.removeprefix(site.url)):
        page = client.get(path)
        assert page.status_code == 200 and page.headers["cache-control"] == "private, no-store", path
        twin = field(page.text.replace('<link rel="alternate" type="application/json" href=', 'name="twin" value='),
                     "twin")
        assert twin == "/api/v1" + path
        data = client.get(twin)
        assert data.status_code == 200 and data.headers["content-type"] == "application/json", path


def test_rebuilding_the_events_keeps_the_default_collections_notes_and_order(store):
    from paperboy.events import open_signals
    from paperboy.library.collections import open_library
    from paperboy.store.events import Kind

    store.write_batch(PAPERS, [])
    reader = open_accounts(store).accounts.add_reader("ada@example.org", 0.0).id
    signals = open_signals(store)
    lib = open_library(store, signals)
    a, b = (store.get(p.id) for p in PAPERS)
    signals.mark(reader, a.pid, Kind.SAVE, True)
    signals.mark(reader, b.pid, Kind.SAVE, True)
    saved = lib.of_reader(reader)[0]
    lib.note(reader, saved.id, A, "keep me")
    lib.reorder(reader, saved.id, [B, A])
    signals.events.rebuild()  # replays the log without logging: the collection is left as it is
    assert [(e.item.paper_id, e.item.note) for e in lib.entries(saved)] == [(B, ""), (A, "keep me")]
    assert signals.states(reader, [a.pid])[a.pid].saved
