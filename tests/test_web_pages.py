"""The HTML site over real HTTP: every page, bad parameters, hostile text, caching and security headers.

The site is the session fixture ``site`` (see ``tests/fixtures/web.py``).
"""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path

import httpx
import pytest

from fixtures.web import Page, Site, access_log, assert_safe_html, get_ok, hostile_papers
from paperboy.config import load_settings
from paperboy.store import open_store
from paperboy.web.testing import LiveServer

# -- pages ----------------------------------------------------------------------------------------------------------


def test_home_shows_newest_and_categories(client: httpx.Client) -> None:
    r = get_ok(client, "/")
    page = assert_safe_html(r.text)
    assert '<html lang="en">' in r.text
    for landmark in ('role="banner"', 'id="main"', 'role="contentinfo"', 'aria-label="Main"', 'role="search"'):
        assert landmark in r.text
    assert "Newest papers" in r.text and "Latest by category" in r.text
    paper_links = [h for h in page.links() if h.startswith("/paper/")]
    assert len(paper_links) >= 20
    assert any(h.startswith("/category/") for h in page.links())
    assert 'type="application/atom+xml"' in r.text
    # Every form control has a label (visible or visually hidden).
    ids = {a.get("for") for a in page.all("label")}
    for attrs in page.all("input"):
        assert attrs.get("id") in ids or attrs.get("type") == "hidden"


def test_latest_paginates_with_state_in_url(client: httpx.Client) -> None:
    first = Page(get_ok(client, "/latest?limit=5").text)
    second = Page(get_ok(client, "/latest?limit=5&offset=5").text)
    a = [h for h in first.links() if h.startswith("/paper/")]
    b = [h for h in second.links() if h.startswith("/paper/")]
    assert a and b and not set(a) & set(b)
    nxt = [x["href"] for x in first.all("a") if x.get("rel") == "next"]
    assert nxt == ["/latest?limit=5&offset=5"]
    prev = [x["href"] for x in second.all("a") if x.get("rel") == "prev"]
    assert prev == ["/latest?limit=5&offset=0"]


def test_search_page_results_state_and_notice(client: httpx.Client) -> None:
    r = get_ok(client, "/search?q=dark+matter&category=astro-ph&limit=5")
    page = assert_safe_html(r.text)
    assert "About " in r.text and " ms" in r.text
    assert "<mark>" in r.text
    assert "keyword results" in r.text or "lexical" in r.text  # the "no semantic search" notice
    items = r.text.split('<li class="paper">')[1:]
    assert 1 <= len(items) <= 5
    for item in items:  # every result is in the filtered category (prefix match)
        assert re.search(r'class="tag" href="/category/astro-ph[^"]*"', item), item[:300]
    nxt = [x["href"] for x in page.all("a") if x.get("rel") == "next"]
    if nxt:
        assert "q=dark+matter" in nxt[0] and "category=astro-ph" in nxt[0] and "offset=5" in nxt[0]
    # The form shows the state back.
    assert 'value="dark matter"' in r.text and 'value="astro-ph"' in r.text


def test_search_page_without_query_shows_form(client: httpx.Client) -> None:
    r = get_ok(client, "/search")
    assert 'id="q"' in r.text and "About " not in r.text
    r = get_ok(client, "/search?q=&category=&since=&until=&author=&sort=relevance&mode=hybrid")
    assert 'id="q"' in r.text


def test_search_sort_newest_and_filters(client: httpx.Client) -> None:
    r = get_ok(client, "/search?q=galaxy&sort=newest&since=2007-01-01&until=2007-12-31")
    dates = re.findall(r'<time datetime="(\d{4}-\d{2}-\d{2})"', r.text)
    assert dates and dates == sorted(dates, reverse=True)
    assert all("2007-01-01" <= d <= "2007-12-31" for d in dates)


def test_paper_page_has_everything(client: httpx.Client) -> None:
    r = get_ok(client, "/paper/0704.0001")
    page = assert_safe_html(r.text)
    text = page.text
    assert "Calculation of prompt diphoton production cross sections" in text
    assert 'href="/author/C.%20Bal' in r.text and "Balázs" in text  # authors link to their pages; TeX accents shown
    assert "https://arxiv.org/abs/0704.0001" in page.links() and "https://arxiv.org/pdf/0704.0001" in page.links()
    assert "https://doi.org/10.1103/physrevd.76.013009" in page.links()
    assert "Phys.Rev.D76:013009,2007" in text
    assert "v1" in text and "v2" in text  # version history
    assert "@misc{" in text and "eprint = {0704.0001}" in text  # BibTeX
    assert 'data-copy="bibtex"' in r.text
    similar = r.text.split('id="similar"', 1)[1]
    assert similar.count('href="/paper/') >= 3
    assert '<link rel="canonical"' in r.text
    assert '<link rel="alternate" type="application/json" href="/api/v1/paper/0704.0001">' in r.text


def test_paper_page_old_style_id_and_versions(client: httpx.Client) -> None:
    r = get_ok(client, "/paper/acc-phys/9411002")
    assert "Order" in r.text and "<math" in r.text  # "$\hbar$" rendered as MathML
    assert get_ok(client, "/paper/arXiv:0704.0001v2").text.count("Calculation of prompt diphoton") >= 1
    r = client.get("/abs/0704.0001", follow_redirects=False)
    assert r.status_code == 301 and r.headers["location"] == "/paper/0704.0001"


def test_tex_renders_as_mathml_or_raw(client: httpx.Client) -> None:
    r = get_ok(client, "/paper/hostile-1")
    assert "<math" in r.text  # $O(n^{1+\gamma})$
    assert "<msup>" in r.text
    assert '<span class="tex">$\\frac{1}{$</span>' in r.text or "\\frac{1}{" in r.text  # broken TeX stays raw
    assert "href=\"javascript" not in r.text.lower() and "style=" not in r.text


def test_hostile_paper_is_escaped_everywhere(client: httpx.Client) -> None:
    quoted = "%3Cscript%3Ealert%28%22author%22%29%3C%2Fscript%3E%20Mallory"
    for path in ("/", "/latest", "/paper/hostile-1", "/category/cs.CR", f"/author/{quoted}",
                 "/search?q=alert+script+mallory", "/search?q=%3Cscript%3Ealert(1)%3C/script%3E"):
        r = get_ok(client, path)
        page = assert_safe_html(r.text)
        if path != "/search?q=%3Cscript%3Ealert(1)%3C/script%3E":
            assert "&lt;script&gt;" in r.text, path
        assert "Mallory" in page.text or path.startswith("/search?q=%3C"), path
    r = get_ok(client, "/paper/hostile-1")
    page = Page(r.text)
    assert 'alert("title")' in page.text  # shown as text, not run
    assert "JaVaScRiPt" not in " ".join(page.links())


def test_author_and_category_pages(client: httpx.Client) -> None:
    r = get_ok(client, "/author/Salman%20Habib")
    assert "Papers by Salman Habib" in r.text
    assert "/feeds/author/Salman%20Habib.atom" in r.text
    assert '/paper/acc-phys/9411001"' in r.text
    r = get_ok(client, "/category/hep-th?limit=3")
    page = Page(r.text)
    assert len([h for h in page.links() if h.startswith("/paper/")]) == 3
    assert "/feeds/category/hep-th.atom" in r.text
    r = get_ok(client, "/category/no-such-cat")
    assert "0 papers" in r.text


@pytest.mark.parametrize("path, status", [
    ("/paper/9999.99999", 404),
    ("/paper/does-not-exist", 404),
    ("/no/such/page", 404),
    ("/latest?offset=-1", 400),
    ("/latest?limit=0", 400),
    ("/latest?limit=100000", 400),
    ("/latest?limit=abc", 422),
    ("/latest?offset=99999999999999999999999", 400),
    ("/category/hep-th?offset=20000", 400),
    ("/category/%3Cscript%3E", 400),
    ("/search?q=x&offset=-5", 400),
    ("/search?q=x&limit=101", 400),
    ("/search?q=x&since=2024-13-45", 400),
    ("/search?q=x&since=yesterday", 400),
    ("/search?q=x&since=2024-05-01&until=2024-01-01", 400),
    ("/search?q=x&sort=random", 400),
    ("/search?q=x&mode=psychic", 400),
    ("/search?q=x&category=../../etc", 400),
    ("/search?q=" + "a" * 1200, 400),
    ("/author/" + "x" * 300, 400),
])
def test_bad_parameters_are_4xx_pages(client: httpx.Client, path: str, status: int) -> None:
    r = client.get(path)
    assert r.status_code == status, (path, r.status_code, r.text[:200])
    assert r.headers["content-type"].startswith("text/html")
    assert f"Error {status}" in r.text
    assert_safe_html(r.text)


@pytest.mark.parametrize("q", ['"unbalanced', "a*b:c(NEAR", "'; DROP TABLE papers; --", "\u0000\u0001", "-", "+",
                               "the of and", "%", "\\", "$x$", "\ud800".encode("utf-8", "surrogatepass").decode(
                                   "utf-8", "replace")])
def test_odd_queries_never_fail(client: httpx.Client, q: str) -> None:
    r = client.get("/search", params={"q": q})
    assert r.status_code in (200, 400), (q, r.status_code)
    assert_safe_html(r.text)


# -- HTTP behaviour ---------------------------------------------------------------------------------------------------


def test_security_headers(client: httpx.Client) -> None:
    for path in ("/", "/paper/0704.0001", "/api/v1/latest", "/feeds/latest.atom", "/nope", "/static/site.css"):
        r = client.get(path)
        csp = r.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "unsafe-eval" not in csp
        assert "frame-ancestors 'none'" in csp and "object-src" not in csp or "default-src 'none'" in csp
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["referrer-policy"] == "strict-origin-when-cross-origin"
        assert r.headers["x-frame-options"] == "DENY"
        assert "server" not in r.headers or "uvicorn" not in r.headers["server"].lower()


def test_etag_last_modified_and_conditional_get(client: httpx.Client) -> None:
    r = get_ok(client, "/paper/0704.0001")
    etag, last = r.headers["etag"], r.headers["last-modified"]
    assert etag.startswith('W/"') and "max-age" in r.headers["cache-control"]
    r2 = client.get("/paper/0704.0001", headers={"If-None-Match": etag})
    assert r2.status_code == 304 and r2.content == b"" and r2.headers["etag"] == etag
    r3 = client.get("/paper/0704.0001", headers={"If-Modified-Since": last})
    assert r3.status_code == 304
    r4 = client.get("/paper/0704.0001", headers={"If-None-Match": 'W/"other"'})
    assert r4.status_code == 200 and r4.content == r.content
    r5 = client.get("/paper/0704.0001", headers={"If-Modified-Since": "Mon, 01 Jan 1990 00:00:00 GMT"})
    assert r5.status_code == 200
    # The same page twice is byte-identical (and served from the response cache the second time).
    assert client.get("/paper/0704.0001").content == r.content


def test_head_requests(client: httpx.Client) -> None:
    r = client.head("/paper/0704.0001")
    assert r.status_code == 200 and r.content == b""
    assert int(r.headers["content-length"]) > 1000


def test_static_files_are_cacheable(client: httpx.Client) -> None:
    home = get_ok(client, "/").text
    css = re.search(r'href="(/static/site\.css\?v=[0-9a-f]+)"', home)[1]
    r = client.get(css)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/css")
    assert "immutable" in r.headers["cache-control"]
    js = re.search(r'src="(/static/app\.js\?v=[0-9a-f]+)"', home)[1]
    r = client.get(js)
    assert r.status_code == 200 and "javascript" in r.headers["content-type"]
    assert client.get("/static/nope.css").status_code == 404


def test_health_ready_metrics(client: httpx.Client) -> None:
    assert client.get("/healthz").text == "ok\n"
    r = client.get("/readyz")
    assert r.status_code == 200 and r.json()["ready"] is True
    client.get("/paper/0704.0001")
    client.get("/search?q=quantum")
    client.get("/api/v1/search?q=quantum")
    r = client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain; version=0.0.4")
    body = r.text
    sample = re.compile(r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*",?)*\})? -?[0-9.e+Inf-]+$')
    for line in body.splitlines():
        assert line.startswith("# ") or sample.match(line), line
    assert 'paperboy_http_requests_total{pid="' in body and 'route="/paper/{ident:path}"' in body
    assert 'paperboy_http_request_duration_seconds_bucket{' in body and 'le="+Inf"' in body
    assert re.search(r'paperboy_search_duration_seconds_count\{[^}]*surface="page"[^}]*\} [1-9]', body)
    assert re.search(r'paperboy_search_duration_seconds_count\{[^}]*surface="api"[^}]*\} [1-9]', body)
    assert re.search(r'paperboy_index_documents\{[^}]*index="lexical"\} [1-9]', body)
    assert re.search(r'paperboy_index_bytes\{[^}]*index="lexical"\} [1-9]', body)
    assert re.search(r"paperboy_papers\{[^}]*\} [1-9]\d{3}", body)
    assert client.get("/metrics").headers["cache-control"] == "no-store"


def test_access_log_is_json(client: httpx.Client) -> None:
    with access_log() as records:
        client.get("/paper/0704.0001?from=log-test", headers={"User-Agent": "log-test", "X-Request-ID": "abc123"})
    lines = [x for x in records if x["ua"] == "log-test"]
    assert lines, records
    line = lines[0]
    assert line["method"] == "GET" and line["path"] == "/paper/0704.0001" and line["status"] == 200
    assert line["route"] == "/paper/{ident:path}" and line["ua"] == "log-test" and line["request_id"] == "abc123"
    assert isinstance(line["ms"], float) and line["bytes"] > 1000


# -- the rendering helpers on their own -------------------------------------------------------------------------------


def test_tex_to_mathml_is_sanitised() -> None:
    from paperboy.web.render import tex_to_mathml

    ok = tex_to_mathml(r"O(n^{1+\gamma})")
    assert ok.startswith('<math xmlns="http://www.w3.org/1998/Math/MathML" display="inline">') and "<msup>" in ok
    assert "&lt;script&gt;" in tex_to_mathml(r"\text{<script>alert(1)</script>}")
    assert "href" not in tex_to_mathml(r"\href{javascript:alert(1)}{x}")
    assert "style" not in tex_to_mathml(r"\style{background:url(x)}{x}")
    assert "mathcolor" not in (tex_to_mathml(r"\color{red;x:expression(1)}{x}") or "")
    assert tex_to_mathml(r"\frac{1}{") is None  # broken: shown raw instead
    assert tex_to_mathml(r"\notacommand x") is None
    assert "&amp;" in (tex_to_mathml(r"a \& b") or "&amp;")


def test_rich_and_snippet() -> None:
    from paperboy.web.render import rich, snippet

    out = str(rich("Find <b>x</b> in $x^2$ fast", [(0, 4), (17, 18)]))
    assert out.startswith("<mark>Find</mark> &lt;b&gt;x&lt;/b&gt;") and "<mark><math" in out
    long = "word " * 200 + "needle $a_1$ " + "tail " * 200
    s = str(snippet(long, [(1000, 1006)], width=120))
    assert s.startswith("… ") and s.endswith(" …") and "<mark>needle</mark>" in s and "<msub>" in s
    assert str(rich("costs $5 and $10 dollars")).count("<math") <= 1  # stray dollars stay readable


def test_safe_url_and_bibtex() -> None:
    from paperboy.papers import Paper
    from paperboy.web.render import bibtex, safe_url

    assert safe_url("https://arxiv.org/abs/0704.0001") == "https://arxiv.org/abs/0704.0001"
    for bad in ("javascript:alert(1)", " JAVASCRIPT:alert(1)", "data:text/html,x", "//evil.example/x",
                "https://user:pw@evil.example/", 'https://x.org/"onmouseover=1', "ftp://x.org/a", None, ""):
        assert safe_url(bad) is None, bad
    entry = bibtex(Paper(id="2401.00001", arxiv_id="2401.00001", title="Unbalanced } braces {", authors=[],
                         categories=["cs.LG"], submitted=date(2024, 1, 1)))
    assert entry.startswith("@misc{") and entry.count("{") == entry.count("}")
    assert "eprint = {2401.00001}" in entry and "primaryClass = {cs.LG}" in entry


# -- the commands -----------------------------------------------------------------------------------------------------


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run_until_ready(args: list[str], port: int, timeout: float = 120.0,
                     code: str = "from paperboy.cli import main; main()"):
    import os
    import subprocess
    import sys
    import time

    env = {k: v for k, v in os.environ.items() if not k.startswith("PAPERBOY_")}
    proc = subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=env)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read().decode()[-3000:]
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise AssertionError("server did not become ready: " + proc.stderr.read().decode()[-3000:])


def _stop(proc) -> tuple[int, str]:
    import signal

    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    return proc.returncode, err.decode()


def test_demo_command_serves_the_bundled_sample(tmp_path: Path) -> None:
    port = _free_port()
    proc = _run_until_ready(["--home", str(tmp_path / "home"), "demo", "--no-embed", "--port", str(port)], port)
    try:
        r = httpx.get(f"http://127.0.0.1:{port}/")
        assert r.status_code == 200 and "1,210" in r.text  # every bundled record ingested
        r = httpx.get(f"http://127.0.0.1:{port}/search", params={"q": "dark matter"})
        assert r.status_code == 200 and "About " in r.text
    finally:
        code, err = _stop(proc)
    assert code in (0, -15), err[-2000:]  # uvicorn re-raises SIGTERM after a clean shutdown
    assert "added 1,210," in err and "Application shutdown complete" in err  # the pipeline's ingest summary


def test_serve_command_logs_json_and_stops_gracefully(tmp_path: Path) -> None:
    home = tmp_path / "home"
    store = open_store(load_settings(home).database_url)
    store.write_batch(hostile_papers(), [])
    store.close()
    port = _free_port()
    proc = _run_until_ready(["--home", str(home), "serve", "--port", str(port), "--workers", "1"], port)
    try:
        assert httpx.get(f"http://127.0.0.1:{port}/paper/hostile-1").status_code == 200
        assert httpx.get(f"http://127.0.0.1:{port}/healthz").text == "ok\n"
    finally:
        code, err = _stop(proc)
    assert code in (0, -15) and "Application shutdown complete" in err, err[-2000:]
    lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    access = [x for x in lines if x.get("msg") == "request" and x.get("path") == "/paper/hostile-1"]
    assert access and access[0]["status"] == 200 and access[0]["route"] == "/paper/{ident:path}"


def test_serve_passes_the_whole_settings_to_workers(tmp_path: Path) -> None:
    """Settings changed in code reach every worker process (they used to rebuild settings from the home alone)."""
    elsewhere = tmp_path / "elsewhere.db"
    store = open_store(f"sqlite:///{elsewhere}")
    store.write_batch(hostile_papers(), [])
    store.close()
    port = _free_port()
    code = ("from paperboy.config import load_settings; from paperboy.web.app import serve; "
            f"s = load_settings({str(tmp_path / 'home')!r}); s.database_url = {f'sqlite:///{elsewhere}'!r}; "
            f"serve(s, port={port}, workers=2, access_log=False)")
    proc = _run_until_ready([], port, code=code)
    try:
        for _ in range(6):  # requests land on either worker
            assert httpx.get(f"http://127.0.0.1:{port}/paper/hostile-1").status_code == 200
    finally:
        code_, err = _stop(proc)
    assert code_ in (0, -15), err[-2000:]


def test_settings_travel_whole_as_json(tmp_path: Path) -> None:
    from paperboy.config import ConfigError, settings_from_json, settings_to_json

    settings = load_settings(tmp_path)
    settings.port, settings.harvest_delay, settings.database_url = 9123, 0.5, "sqlite:///x.db"
    assert settings_from_json(settings_to_json(settings)) == settings
    for bad in ("{}", "[]", "not json", json.dumps({**json.loads(settings_to_json(settings)), "extra": 1})):
        with pytest.raises(ConfigError):
            settings_from_json(bad)


def test_forged_host_does_not_poison_the_cache(client: httpx.Client, site: Site) -> None:
    evil = client.get("/paper/0704.0002", headers={"Host": "evil.example"})
    assert evil.status_code == 200 and "http://evil.example/paper/0704.0002" in evil.text
    good = client.get("/paper/0704.0002")
    assert "evil.example" not in good.text and f"{site.url}/paper/0704.0002" in good.text


def test_without_a_search_engine_pages_work_and_search_says_why(site: Site) -> None:
    from paperboy.web.app import create_app

    app = create_app(site.settings, load_engine="never")
    with LiveServer(app) as server, httpx.Client(base_url=server.url) as c:
        assert c.get("/").status_code == 200
        assert c.get("/paper/0704.0001").status_code == 200  # similar papers just absent
        r = c.get("/search?q=galaxy")
        assert r.status_code == 503 and r.headers["retry-after"] and "not available" in r.text
        assert c.get("/api/v1/search?q=galaxy").json()["status"] == 503
        ready = c.get("/readyz")
        assert ready.status_code == 503 and ready.json()["checks"]["search"].startswith("unavailable")
        assert c.get("/healthz").status_code == 200


def test_trending_tabs(client: httpx.Client) -> None:
    home = get_ok(client, "/").text
    tabs = re.findall(r'href="(/\?window=(?:day|week|month))"', home)
    assert len(tabs) == 3
    for tab in tabs:
        r = get_ok(client, tab)
        assert_safe_html(r.text)
        assert 'aria-current="page"' in r.text and "/feeds/trending.atom?" in r.text
    r = get_ok(client, "/trending?month=2007-04&limit=10")
    page = Page(r.text)
    assert len([h for h in page.links() if h.startswith("/paper/")]) == 10
    nxt = [x["href"] for x in page.all("a") if x.get("rel") == "next"]
    assert nxt == ["/trending?window=month&date=2007-04-01&limit=10&offset=10"]  # canonical window URLs
    assert client.get("/trending?date=2007-02-30").status_code == 400
