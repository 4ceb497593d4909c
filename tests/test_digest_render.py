"""Rendering a digest: escaping in both parts, header-safe subjects, list headers, signed links, determinism."""

from __future__ import annotations

import re
from email import message_from_bytes, policy
from urllib.parse import parse_qs, urlsplit

from paperboy.config import Settings
from paperboy.digest import Digest, DigestPaper, RenderSettings, Section, render
from paperboy.digest.links import Signer
from paperboy.mail import build_message

KEY = bytes(range(32))
HOSTILE = "<script>alert(1)</script>\r\nBcc: victim@example.org\x1b[31m & \"quoted\" </td></table>"


def digest(title: str = HOSTILE, papers: int = 2, more: int = 0) -> Digest:
    items = tuple(DigestPaper(id=f"2612.{i:05d}", title=title if i == 0 else f"Plain title {i}",
                              authors="Ada <Lovelace>", teaser="A teaser with <b>tags</b> & ampersands…",
                              why="14 upvotes today") for i in range(papers))
    return Digest(reader_id=42, email="reader@example.org", period_kind="date", period="2026-12-03",
                  label="3 December 2026", composed_at="2026-12-03T07:00:00+00:00",
                  sections=(Section("trending", "Trending today", items, more, "/category/cs.LG"),),
                  notice="The arXiv harvest is behind <by a day>.")


def settings(tmp_path) -> RenderSettings:
    return RenderSettings.create(Settings(home=tmp_path, base_url="https://papers.example.org",
                                          mail_from="paperboy <digest@papers.example.org>"), KEY)


def test_hostile_text_is_escaped_in_both_parts_and_never_reaches_headers(tmp_path):
    mail = render(digest(), settings(tmp_path))
    assert "<script>" not in mail.html and "&lt;script&gt;alert(1)&lt;/script&gt;" in mail.html
    assert "&lt;/td&gt;&lt;/table&gt;" in mail.html and "Ada &lt;Lovelace&gt;" in mail.html
    assert "<img" not in mail.html and "<script" not in mail.html.lower()  # no remote images, no scripts
    assert "\x1b" not in mail.html and "\r" not in mail.html  # control characters leave both parts
    lines = mail.text.splitlines()
    title_line = next(line for line in lines if line.startswith("* <script>"))
    assert "Bcc: victim@example.org" in title_line  # kept on the title's own line, as text
    assert not any(line.startswith("Bcc:") for line in lines) and "\x1b" not in mail.text and "\r" not in mail.text
    assert "\n" not in mail.subject and "\r" not in mail.subject and "Bcc" in mail.subject
    message = build_message(mail.mail("digest:42:2026-12-03"), "paperboy <digest@papers.example.org>")
    parsed = message_from_bytes(message.as_bytes(), policy=policy.default)
    assert parsed["Bcc"] is None and parsed["To"] == "reader@example.org"
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert parsed["List-Id"] == "paperboy digest <digest.papers.example.org>"


def test_links_are_signed_absolute_and_from_base_url(tmp_path):
    mail = render(digest(more=9_990), settings(tmp_path))
    signer = Signer(KEY)
    urls = set(re.findall(r"https?://\S+", mail.text))
    assert urls and all(u.startswith("https://papers.example.org/") for u in urls)
    assert "https://papers.example.org/category/cs.LG" in urls and "9,990 more" in mail.text
    for url in urls:
        parts = urlsplit(url)
        q = {k: v[0] for k, v in parse_qs(parts.query).items()}
        if parts.path == "/digest/feedback":
            assert signer.check(q["s"], "feedback", 42, q["p"], q["v"])
            assert not signer.check(q["s"], "feedback", 42, q["p"], "up" if q["v"] == "down" else "down")
        elif parts.path == "/digest/click":
            assert signer.check(q["s"], "click", 42, q["p"], "2026-12-03")
        elif parts.path == "/digest/unsubscribe":
            assert signer.check(q["s"], "unsubscribe", 42) and not signer.check(q["s"], "settings", 42)
    https, mailto = re.findall(r"<([^>]+)>", dict(mail.headers)["List-Unsubscribe"])
    assert https == next(u for u in urls if "/digest/unsubscribe" in u)
    assert mailto.startswith("mailto:digest@papers.example.org?subject=unsubscribe%2042%20")


def test_rendering_is_deterministic_and_subjects_are_bounded(tmp_path):
    one = digest(title="A" * 400, papers=12)
    assert render(one, settings(tmp_path)) == render(Digest.from_json(one.to_json()), settings(tmp_path))
    subject = render(one, settings(tmp_path)).subject
    assert subject.endswith("… and 11 more") and len(subject) <= 120
    assert render(digest(title="Only one", papers=1), settings(tmp_path)).subject == \
        "paperboy, 3 December 2026: Only one"
