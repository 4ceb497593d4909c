"""Subscribing and the links of a delivered digest, on a real site: uvicorn, SQLite, aiosmtpd, the outbox sender.

A digest composed for a confirmed subscriber goes through the outbox to aiosmtpd; the test parses the MIME
message, checks its headers and both parts, and opens every link against the running app.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from email.message import EmailMessage
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest

from fixtures.subscribe import confirm_link, mail_to
from mail_server import MailSink
from paperboy.accounts import open_accounts
from paperboy.digest import RenderSettings, compose, open_context, render
from paperboy.digest.subscribe import CONFIRM_HOURS, SubscribeService
from paperboy.mail import message_id
from paperboy.papers import Author, Paper
from paperboy.periods import period
from paperboy.store.events import Kind
from readers_site import ReadersSite, field, start_readers_site

HOSTILE = '<img src=x onerror=alert(1)> "Quoted" & </td><script>alert(2)</script>'


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> ReadersSite:
    with MailSink() as sink:
        yield from start_readers_site(tmp_path_factory.mktemp("digest-site"), sink)


def subscribe(site: ReadersSite, client: httpx.Client, email: str, frequency: str = "daily") -> str:
    """Subscribe through the banner's form; the confirmation link from the delivered mail."""
    before = len(site.sink.messages)
    response = client.post("/subscribe", data={"email": email, "frequency": frequency, "tz": "Europe/Paris"})
    assert response.status_code == 303 and response.headers["location"] == "/subscribe/sent", response.text
    return confirm_link(mail_to(site.sink, email.lower(), before))


def confirm(client: httpx.Client, link: str) -> httpx.Response:
    page = client.get(link)
    if page.status_code != 200:
        return page
    return client.post("/subscribe/confirm", data={"token": field(page.text, "token")})


def test_the_banner_form_is_on_every_page(site):
    with site.client() as client:
        for path in ("/", "/latest", "/paper/2401.00001"):
            page = client.get(path).text
            assert '<form method="post" action="/subscribe"' in page
            assert "Get trending papers in your email inbox once a day!" in page


def test_double_opt_in_same_answer_known_or_not_and_links_used_once(site):
    subs = open_context(site.store, site.settings).subscriptions
    with site.client() as client:
        link = subscribe(site, client, "New.Reader@Example.org", "weekly")
        assert subs.by_email("new.reader@example.org") is None  # nothing before confirmation
        page = client.get(link)
        assert page.status_code == 200 and "new.reader@example.org" in page.text
        assert subs.by_email("new.reader@example.org") is None  # a GET (a mail scanner) confirms nothing
        done = confirm(client, link)
        assert done.status_code == 200 and "You are subscribed" in done.text, done.text
        sub = subs.by_email("new.reader@example.org")
        assert sub.frequency == "weekly" and sub.tz == "Europe/Paris" and sub in list(subs.active())
        # Used twice: refused, whether opened or posted.
        assert client.get(link).status_code == 400
        token = parse_qs(urlsplit(link).query)["token"][0]
        assert client.post("/subscribe/confirm", data={"token": token}).status_code == 400
        # A known address gets the same answer as an unknown one (and a fresh link in its mail).
        known = client.post("/subscribe", data={"email": "new.reader@example.org", "frequency": "daily"})
        unknown = client.post("/subscribe", data={"email": "somebody.else@example.org", "frequency": "daily"})
        assert (known.status_code, known.headers["location"]) == (unknown.status_code, unknown.headers["location"])
        api_known = client.post("/api/v1/subscribe", json={"email": "new.reader@example.org"})
        api_unknown = client.post("/api/v1/subscribe", json={"email": "third@example.org", "frequency": "weekly"})
        assert api_known.status_code == api_unknown.status_code == 202
        assert api_known.json() == api_unknown.json()


def test_addresses_idn_plus_and_malformed(site):
    with site.client() as client:
        before = len(site.sink.messages)
        ok = client.post("/api/v1/subscribe", json={"email": "Ada+digest@Bücher.example", "frequency": "daily"})
        assert ok.status_code == 202
        assert mail_to(site.sink, "ada+digest@xn--bcher-kva.example", before)
        for bad in ("no-at-sign", "ädä@example.org", "a@b", "x" * 300 + "@example.org"):
            assert client.post("/api/v1/subscribe", json={"email": bad}).status_code == 400
            page = client.post("/subscribe", data={"email": bad, "frequency": "daily"})
            assert page.status_code == 400 and 'role="alert"' in page.text
        assert client.post("/api/v1/subscribe", json={"email": "a@example.org", "frequency": "hourly"}).status_code \
            == 400
        assert client.post("/api/v1/subscribe", json={"email": "a@example.org", "tz": "Mars/Olympus"}).status_code \
            == 400
        assert client.post("/api/v1/subscribe", json={"frequency": "daily"}).status_code == 422


def test_a_confirmation_link_after_expiry_does_not_work(site):
    now = [time.time()]
    ctx = open_context(site.store, site.settings)
    service = SubscribeService(ctx.subscriptions, open_accounts(site.store), site.settings, clock=lambda: now[0])
    before = len(site.sink.messages)
    service.request("late@example.org", "daily", "UTC", "10.0.0.9")
    token = parse_qs(urlsplit(confirm_link(mail_to(site.sink, "late@example.org", before))).query)["token"][0]
    now[0] += CONFIRM_HOURS * 3600 + 1
    assert service.pending_email(token) is None and service.confirm(token) is None
    assert ctx.subscriptions.by_email("late@example.org") is None


def _digest_mail(site: ReadersSite, email: str) -> tuple[EmailMessage, int, str]:
    """Subscribe ``email``, compose and render its digest, send it through the outbox; the delivered message."""
    with site.client() as client:
        assert confirm(client, subscribe(site, client, email)).status_code == 200
    ctx = open_context(site.store, site.settings)
    sub = ctx.subscriptions.by_email(email)
    ctx.subscriptions.update(sub.reader_id, categories=("cs",))
    sub = ctx.subscriptions.get(sub.reader_id)
    now = datetime.now(UTC)
    hostile = site.store.get("2401.99999")
    for stored in (site.store.get("2401.00001"), hostile):
        ctx.events.set_mark(7, stored.pid, Kind.UPVOTE, True, now)
    day = period("date", now.date().isoformat())
    digest = compose(ctx, sub, day, now)
    key = f"digest:{sub.reader_id}:{day.value}"
    rendered = render(digest, RenderSettings.from_context(ctx))
    before = len(site.sink.messages)
    assert open_accounts(site.store).outbox.enqueue(rendered.mail(key), time.time())
    return mail_to(site.sink, email, before), sub.reader_id, key


@pytest.fixture(scope="module")
def delivered(site):
    site.store.write_batch([Paper(id="2401.99999", source="test", arxiv_id="2401.99999", title=HOSTILE,
                                  abstract="An abstract with $x^2$ and <b>tags</b>.", authors=[Author("Eve")],
                                  categories=["cs.CR"], submitted=datetime.now(UTC).date())], [])
    return _digest_mail(site, "digest.reader@example.org")


def test_the_delivered_digest_headers_and_both_parts(site, delivered):
    message, reader_id, key = delivered
    assert message["To"] == "digest.reader@example.org"
    assert message["Message-ID"] == message_id(key, site.settings.mail_from)
    assert message["Date"] and message["From"] == site.settings.mail_from
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["List-Id"] == "paperboy digest <digest.127.0.0.1>"
    https, mailto = re.findall(r"<([^>]+)>", message["List-Unsubscribe"])
    assert https.startswith(site.url + "/digest/unsubscribe?") and mailto.startswith("mailto:noreply@paperboy.test")
    assert message.get_content_type() == "multipart/alternative"
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    # Hostile titles: escaped in the HTML, on one line in the text; no script, no remote image anywhere.
    assert "&lt;img src=x onerror=alert(1)&gt;" in html and "&lt;/td&gt;&lt;script&gt;" in html
    assert "<script" not in html.lower() and "<img" not in html.lower()
    assert f"* {HOSTILE}" in text.splitlines()
    assert "Sparse attention for very long documents" in text and "Sparse attention for very long documents" in html
    assert "x²" in text or "x^2" in text  # math as readable text


def _links(message: EmailMessage) -> set[str]:
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    found = set(re.findall(r"https?://[^\s<>\"]+", text))
    found |= {h.replace("&amp;", "&") for h in re.findall(r'href="([^"]+)"', html)}
    return found


def test_every_link_works_against_the_running_app(site, delivered):
    message, reader_id, _ = delivered
    links = _links(message)
    paths = {urlsplit(u).path for u in links}
    assert {"/digest/click", "/digest/feedback", "/digest/unsubscribe", "/digest/settings",
            "/digest/preview"} <= paths
    subs = open_context(site.store, site.settings).subscriptions
    with site.client() as client:
        for url in sorted(links):
            assert url.startswith(site.url), url
            response = client.get(url)
            path = urlsplit(url).path
            if path == "/digest/click":
                paper = parse_qs(urlsplit(url).query)["p"][0]
                assert response.status_code == 303 and response.headers["location"] == f"/paper/{paper}"
            else:
                assert response.status_code == 200, (url, response.status_code)
        # Opening links recorded clicks but no feedback and no unsubscription (GETs show buttons).
        assert subs.feedback(reader_id) == {} and not subs.get(reader_id).unsubscribed
        assert subs.stats().feedback["click"] >= 2


def test_feedback_links_record_without_signing_in(site, delivered):
    message, reader_id, _ = delivered
    subs = open_context(site.store, site.settings).subscriptions
    up = next(u for u in _links(message) if "/digest/feedback" in u and "v=up" in u and "2401.00001" in u)
    with httpx.Client(timeout=10) as anonymous:  # no cookies at all
        page = anonymous.get(up)
        assert page.status_code == 200 and "More like this" in page.text
        done = anonymous.post(up)
        assert done.status_code == 200 and "Thanks" in done.text
    assert subs.feedback(reader_id) == {"2401.00001": "up"}


def _forgeries(url: str) -> list[str]:
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    out = []
    for name, value in (("s", "A" * 22), ("r", str(int(query["r"]) + 1)), ("p", "2401.00002"), ("v", "down"),
                        ("s", query["s"][:-1]), ("s", None)):
        if name in query or value is None:
            forged = dict(query)
            if value is None:
                forged.pop(name)
            else:
                forged[name] = value
            out.append(f"{parts.scheme}://{parts.netloc}{parts.path}?{urlencode(forged)}")
    return out


def test_forged_links_are_refused(site, delivered):
    message, reader_id, _ = delivered
    links = _links(message)
    subs = open_context(site.store, site.settings).subscriptions
    with httpx.Client(timeout=10) as client:
        for path in ("/digest/feedback", "/digest/unsubscribe", "/digest/click", "/digest/settings"):
            url = next(u for u in links if urlsplit(u).path == path and "v=down" not in u)
            for forged in _forgeries(url):
                assert client.get(forged).status_code in (400, 401), forged  # 401: no signature, no session
                if path != "/digest/click":
                    assert client.post(forged).status_code in (400, 401, 403), forged
        # An unsubscribe signature is no feedback one.
        unsub = parse_qs(urlsplit(next(u for u in links if "/digest/unsubscribe" in u)).query)
        stolen = f"{site.url}/digest/feedback?r={reader_id}&p=2401.00001&v=down&s={unsub['s'][0]}"
        assert client.post(stolen).status_code == 400
    assert subs.feedback(reader_id).get("2401.00001") != "down" and not subs.get(reader_id).unsubscribed


def test_settings_through_the_signed_link(site, delivered):
    message, reader_id, _ = delivered
    settings_url = next(u for u in _links(message) if "/digest/settings" in u)
    subs = open_context(site.store, site.settings).subscriptions
    with httpx.Client(timeout=10) as client:
        form = {"frequency": "weekly", "send_hour": "6", "tz": "Asia/Kolkata", "categories": "cs.LG stat.ML",
                "section_trending": "1", "section_follows": "1", "skip_no_announcement_days": "1", "action": "save"}
        saved = client.post(settings_url, data=form)
        assert saved.status_code == 200 and "Saved." in saved.text
        sub = subs.get(reader_id)
        assert (sub.frequency, sub.send_hour, sub.tz, sub.categories, sub.sections) == (
            "weekly", 6, "Asia/Kolkata", ("cs.LG", "stat.ML"), ("trending", "follows"))
        assert client.post(settings_url, data={**form, "tz": "Nowhere/Land"}).status_code == 400
        assert client.post(settings_url, data={**form, "send_hour": "24"}).status_code == 400
        assert subs.get(reader_id).tz == "Asia/Kolkata"
        # Without the link or a session: nothing to see.
        assert client.get(f"{site.url}/digest/settings").status_code == 401
        subs.update(reader_id, frequency="daily", categories=("cs",), sections=("trending", "follows", "recommended"))


def test_one_click_unsubscribe_without_a_session_answers_200(site):
    message, reader_id, _ = _digest_mail(site, "leaver@example.org")
    https = re.findall(r"<([^>]+)>", message["List-Unsubscribe"])[0]
    subs = open_context(site.store, site.settings).subscriptions
    with httpx.Client(timeout=10, follow_redirects=False) as client:
        assert client.get(https).status_code == 200 and not subs.get(reader_id).unsubscribed
        response = client.post(https, content=b"List-Unsubscribe=One-Click",
                               headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert response.status_code == 200 and "You are unsubscribed" in response.text
        assert client.post(https, content=b"List-Unsubscribe=One-Click").status_code == 200  # twice: still fine
    assert subs.get(reader_id).unsubscribed
    assert reader_id not in {s.reader_id for s in subs.active()}


def test_a_signed_in_reader_reaches_settings_and_preview_with_a_session(site):
    with site.client() as client:
        site.sign_in(client, "session.reader@example.org")
        assert client.get("/digest/settings").status_code == 404  # signed in, not subscribed
        assert confirm(client, subscribe(site, client, "session.reader@example.org")).status_code == 200
        page = client.get("/digest/settings")
        assert page.status_code == 200 and "session.reader@example.org" in page.text
        form = {"frequency": "daily", "send_hour": "9", "tz": "UTC", "categories": "", "section_trending": "1",
                "action": "save"}
        assert client.post("/digest/settings", data=form).status_code == 403  # a session needs its CSRF token
        saved = client.post("/digest/settings", data={**form, "csrf_token": field(page.text, "csrf_token")})
        assert saved.status_code == 200 and "Saved." in saved.text
        sub = open_context(site.store, site.settings).subscriptions.by_email("session.reader@example.org")
        assert sub.send_hour == 9 and sub.sections == ("trending",)
        preview = client.get("/digest/preview")
        assert preview.status_code == 200 and preview.headers["cache-control"] == "private, no-store"
        assert "script-src" not in preview.headers["content-security-policy"]
