"""Render a composed :class:`~paperboy.digest.compose.Digest` into a mail ready for the outbox.

Two parts from templates (``digest/templates``): HTML that survives real mail clients (tables for layout, inline
styles, no scripts, no remote images, colours that work on dark backgrounds) and plain text.  Everything from
papers is text: the HTML template escapes it (autoescape), the text part gets it on one line with control
characters removed, so a hostile title can neither inject markup nor forge lines or headers.  Links are signed
here (:mod:`paperboy.digest.links`), never stored in the digest.  Headers: ``List-Unsubscribe`` (https and
mailto), ``List-Unsubscribe-Post: List-Unsubscribe=One-Click`` (RFC 8058) and ``List-Id``.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from email.utils import parseaddr
from pathlib import Path
from urllib.parse import quote, urlsplit

import jinja2

from paperboy.accounts import site_url
from paperboy.config import Settings
from paperboy.digest.compose import Digest, DigestContext
from paperboy.digest.links import Links, Signer
from paperboy.store.accounts import Mail

TEMPLATES = Path(__file__).with_name("templates")
MAX_SUBJECT = 120
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_UNTIDY = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]|\s\s|^\s|\s$")


@dataclass(frozen=True, slots=True)
class RenderSettings:
    """What rendering needs besides the digest: the site's public address, the link key, the sender address."""

    base_url: str
    signer: Signer
    mail_from: str

    @classmethod
    def from_context(cls, ctx: DigestContext) -> RenderSettings:
        return cls.create(ctx.settings, ctx.subscriptions.signing_key())

    @classmethod
    def create(cls, settings: Settings, key: bytes) -> RenderSettings:
        return cls(base_url=site_url(settings), signer=Signer(key), mail_from=settings.mail_from)


@dataclass(frozen=True, slots=True)
class RenderedMail:
    """A rendered digest: the outbox takes it as a :class:`Mail` (:meth:`mail`) under the sender's key."""

    recipient: str
    subject: str
    text: str
    html: str
    headers: tuple[tuple[str, str], ...]

    def mail(self, key: str) -> Mail:
        return Mail(key=key, recipient=self.recipient, subject=self.subject, text=self.text, html=self.html,
                    headers=self.headers)


def one_line(text: object) -> str:
    """Text fit for one line of a plain-text mail or a header: no control characters, single spaces."""
    text = str(text)
    if _UNTIDY.search(text) is None:  # composed text usually is tidy already
        return text
    return " ".join(_CONTROL.sub(" ", str(text)).split())


@functools.cache
def _env(kind: str) -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=kind == "html",
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                             keep_trailing_newline=True)
    env.filters["line"] = one_line
    return env


def subject(digest: Digest) -> str:
    """"Your paperboy digest, 3 December 2026: <first title> and 11 more"."""
    ids = digest.paper_ids
    first = next(p.title for s in digest.sections for p in s.papers)
    more = f" and {len(ids) - 1} more" if len(ids) > 1 else ""
    text = one_line(f"paperboy, {digest.label}: {first}")
    if len(text) + len(more) > MAX_SUBJECT:
        text = text[:MAX_SUBJECT - len(more) - 1].rstrip() + "…"
    return text + more


def list_id(settings: RenderSettings) -> str:
    host = urlsplit(settings.base_url).hostname or "localhost"
    return f"paperboy digest <digest.{host}>"


def headers(settings: RenderSettings, links: Links, unsubscribe: str) -> tuple[tuple[str, str], ...]:
    """RFC 2369 / RFC 8058 list headers; the mailto subject carries the same signature as the https link."""
    address = parseaddr(settings.mail_from)[1]
    token = links.signer.sign("unsubscribe", links.reader_id)
    mailto = f"mailto:{address}?subject={quote(f'unsubscribe {links.reader_id} {token}')}"
    return (("List-Unsubscribe", f"<{unsubscribe}>, <{mailto}>"),
            ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
            ("List-Id", list_id(settings)))


def render(digest: Digest, settings: RenderSettings) -> RenderedMail:
    """The multipart mail of ``digest`` (same input, same output: a re-render after a crash is identical)."""
    links = Links(settings.base_url, settings.signer, digest.reader_id, digest.period)
    urls = {pid: {"read": links.click(pid), "up": links.feedback(pid, "up"), "down": links.feedback(pid, "down")}
            for pid in digest.paper_ids}  # signed once, used by both parts
    context = {"digest": digest, "links": links, "urls": urls, "subject": subject(digest),
               "unsubscribe": links.unsubscribe(), "settings": links.settings(), "preview": links.preview()}
    return RenderedMail(recipient=digest.email, subject=context["subject"],
                        text=_env("text").get_template("digest.txt").render(context),
                        html=_env("html").get_template("digest.html").render(context),
                        headers=headers(settings, links, context["unsubscribe"]))
