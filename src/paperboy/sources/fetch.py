"""Polite HTTP fetching and hardened XML parsing, shared by the OAI-PMH harvester and the arXiv API/RSS client.

Why one module: arXiv's services all want one request every few seconds, answer load with ``503 Retry-After``,
sometimes drop a connection mid-body, and send XML that must be parsed without expanding entities or loading
DTDs.  :class:`PoliteFetcher` and :func:`parse_xml` handle that once for :mod:`paperboy.sources.oai` and
:mod:`paperboy.sources.arxiv_api`.
"""

from __future__ import annotations

import email.utils
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
from lxml import etree

from paperboy import __version__
from paperboy.sources.base import SourceError

log = logging.getLogger(__name__)

USER_AGENT = f"paperboy/{__version__} (self-hosted paper discovery; polite harvester)"
DEFAULT_TIMEOUT = httpx.Timeout(60.0, connect=20.0)
MAX_BODY_BYTES = 64 * 1024 * 1024  # a full arXiv page of 1000 records is a few MB
MAX_BACKOFF = 300.0  # seconds; exponential backoff never waits longer than this
MAX_RETRY_AFTER = 3600.0  # seconds; a larger Retry-After is clamped, not obeyed blindly

# An internal DTD subset that declares entities: the shape of "billion laughs" and XXE documents.
_EXTERNAL_DTD = re.compile(rb"<!DOCTYPE\s[^\[>]*?\b(?:SYSTEM|PUBLIC)\b")
_ENTITY_DECL = re.compile(rb"<!DOCTYPE[^\[>]*\[[^\]]*<!ENTITY")


# --------------------------------------------------------------------------------------------------
# Hardened XML


class UnsafeXML(SourceError):
    """A document that declares XML entities; arXiv never sends one, so it is refused, not retried."""


def parse_xml(data: bytes, *, what: str) -> etree._Element:
    """Parse untrusted XML without expanding entities, loading DTDs or touching the network/filesystem.

    Raises :class:`UnsafeXML` for documents with entity declarations (billion laughs, external entities)
    and ``lxml.etree.XMLSyntaxError`` for malformed (e.g. truncated) ones.
    """
    if _ENTITY_DECL.search(data, 0, 65536):
        raise UnsafeXML(_unsafe_message(what))
    if _EXTERNAL_DTD.search(data):  # libxml2 opens an external subset even with load_dtd=False
        raise UnsafeXML(f"{what}: refusing an XML document that names an external DTD (<!DOCTYPE ... SYSTEM/PUBLIC "
                        "...>); arXiv never sends one and loading it could read local files or block on them")
    parser = etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
        collect_ids=False,
    )
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        msg = str(exc).lower()
        if "entit" in msg and ("amplification" in msg or "loop" in msg):
            raise UnsafeXML(_unsafe_message(what)) from None
        raise
    if root.getroottree().docinfo.internalDTD is not None:
        raise UnsafeXML(_unsafe_message(what))
    return root


def _unsafe_message(what: str) -> str:
    return (
        f"{what}: refusing an XML document with a DTD/entity declarations (<!DOCTYPE ... [<!ENTITY ...>]>); "
        "arXiv never sends them and expanding them could exhaust memory or read local files"
    )


def text_of(el: etree._Element | None, tag: str | None = None, *, strip: bool = True) -> str | None:
    """Text of ``el`` (or of its first ``tag`` child), including nested text; None when absent or blank."""
    if el is not None and tag is not None:
        el = el.find(tag)
    if el is None:
        return None
    value = "".join(el.itertext())
    if not value.strip():
        return None
    return value.strip() if strip else value


# --------------------------------------------------------------------------------------------------
# Polite HTTP


class TransientError(Exception):
    """A failure worth retrying (raise it from a ``check`` callback to make :class:`PoliteFetcher` retry)."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


@dataclass(slots=True)
class Fetched:
    """One HTTP answer: ``root`` is the parsed XML (None when a non-2xx body is not XML)."""

    url: str
    status: int
    root: etree._Element | None
    body: bytes


def retry_after_seconds(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP-date); None if unusable."""
    if not value:
        return None
    v = value.strip()
    try:
        return max(0.0, float(v))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(v)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


class PoliteFetcher:
    """GETs XML from one service: ``delay`` seconds between requests, retries with backoff, then gives up.

    Transient failures (network errors, timeouts, a connection dropped mid-body, 429/5xx, malformed XML)
    are retried up to ``max_retries`` times: after ``Retry-After`` when the server sent one, else after an
    exponential backoff.  Then :class:`SourceError` says what went wrong.  The polite delay is slept in
    full before every request but the first, whatever the consumer did meanwhile: simple, and never too
    fast.  Waiting goes through the injected ``sleep`` so tests never really sleep.
    """

    def __init__(
        self,
        *,
        client: httpx.Client | None = None,
        delay: float = 3.0,
        max_retries: int = 5,
        sleep: Callable[[float], None] = time.sleep,
        what: str = "server",
    ) -> None:
        self._own_client = client is None
        self.client = client or httpx.Client(
            timeout=DEFAULT_TIMEOUT, headers={"User-Agent": USER_AGENT}, follow_redirects=True
        )
        self.delay = max(0.0, float(delay))
        self.max_retries = max(0, int(max_retries))
        self.sleep = sleep
        self.what = what
        self.requests = 0

    def close(self) -> None:
        if self._own_client:
            self.client.close()

    def __enter__(self) -> PoliteFetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def get(
        self, url: str, params: dict[str, str | int] | None = None, *, check: Callable[[Fetched], None] | None = None
    ) -> Fetched:
        """GET ``url``; 2xx bodies must parse as XML, other 4xx are returned for the caller to judge."""
        wait = self.delay if self.requests else 0.0
        last = ""
        for attempt in range(self.max_retries + 1):
            if wait > 0:
                self.sleep(wait)
            self.requests += 1
            try:
                fetched = self._once(url, params)
                if check is not None:
                    check(fetched)
                return fetched
            except TransientError as exc:
                last = exc.reason
                if attempt == self.max_retries:
                    break
                wait = self._backoff(attempt, exc.retry_after)
                log.warning(
                    "%s %s: %s; retry %d/%d in %.0f s", self.what, url, exc.reason, attempt + 1, self.max_retries, wait
                )
        tries = self.max_retries + 1
        raise SourceError(
            f"{self.what} {show_url(url, params)}: giving up after {tries} attempt{'s' * (tries > 1)}; "
            f"last error: {last}"
        )

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(max(retry_after, self.delay), MAX_RETRY_AFTER)
        return min(max(self.delay, 1.0) * 2**attempt, MAX_BACKOFF)

    def _once(self, url: str, params: dict[str, str | int] | None) -> Fetched:
        try:
            with self.client.stream("GET", url, params=params, follow_redirects=True) as resp:
                body = _read_limited(resp, url)
                status, headers, final_url = resp.status_code, resp.headers, str(resp.url)
        except httpx.UnsupportedProtocol as exc:
            raise SourceError(f"{self.what} {url}: unsupported URL ({exc})") from None
        except httpx.TimeoutException as exc:
            raise TransientError(f"timed out ({type(exc).__name__})") from None
        except httpx.RemoteProtocolError as exc:
            raise TransientError(f"connection dropped ({exc or type(exc).__name__})") from None
        except (httpx.TransportError, httpx.DecodingError) as exc:
            raise TransientError(f"network error ({exc or type(exc).__name__})") from None
        except (httpx.HTTPError, httpx.InvalidURL) as exc:  # too many redirects, a malformed URL
            raise SourceError(f"{self.what} {url}: {exc or type(exc).__name__}") from None
        if status in (429, 503) or status >= 500:
            raise TransientError(f"HTTP {status}", retry_after_seconds(headers.get("Retry-After")))
        if 200 <= status < 300:
            try:
                root = parse_xml(body, what=final_url)
            except etree.XMLSyntaxError as exc:
                raise TransientError(f"malformed XML ({exc})") from None
            return Fetched(final_url, status, root, body)
        try:
            root = parse_xml(body, what=final_url) if body.strip() else None
        except etree.XMLSyntaxError:
            root = None
        return Fetched(final_url, status, root, body)


def _read_limited(resp: httpx.Response, url: str) -> bytes:
    chunks: list[bytes] = []
    size = 0
    for chunk in resp.iter_bytes():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise SourceError(f"{url}: response larger than {MAX_BODY_BYTES:,} bytes; refusing it")
        chunks.append(chunk)
    return b"".join(chunks)


def show_url(url: str, params: dict[str, str | int] | None) -> str:
    return str(httpx.URL(url, params=params)) if params else url


# --------------------------------------------------------------------------------------------------
