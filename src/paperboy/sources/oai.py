"""OAI-PMH 2.0 harvester for arXiv (ListRecords in the ``arXiv``, ``arXivRaw`` and ``oai_dc`` formats).

Why a hand-written client: arXiv's OAI endpoint wants one request every few seconds, answers load with
``503 Retry-After``, sometimes drops a connection mid-page, and hands out resumption tokens that expire.
The harvester survives all of that and tells the ingest pipeline where it is: after every page it yields
the page's records and then a :class:`Checkpoint`, so a killed harvest resumes after the last committed
page instead of starting over.

The polite HTTP layer (:class:`PoliteFetcher`) and the hardened XML parser (:func:`parse_xml`) live in
:mod:`paperboy.sources.fetch`, shared with :mod:`paperboy.sources.arxiv_api`.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterator
from datetime import date

import httpx
from lxml import etree

from paperboy.papers import (
    Author,
    Paper,
    Version,
    finish,
    parse_arxiv_id,
    parse_date,
    split_authors,
    version_number,
)
from paperboy.sources.base import Checkpoint, Records, Reject, SourceError
from paperboy.sources.fetch import PoliteFetcher, parse_xml, show_url, text_of

log = logging.getLogger(__name__)

SOURCE = "arxiv-oai"  # Paper.source of everything harvested here
DEFAULT_BASE_URL = "https://oaipmh.arxiv.org/oai"

OAI = "http://www.openarchives.org/OAI/2.0/"
ARXIV = "http://arxiv.org/OAI/arXiv/"
ARXIV_RAW = "http://arxiv.org/OAI/arXivRaw/"
OAI_DC = "http://www.openarchives.org/OAI/2.0/oai_dc/"
DC = "http://purl.org/dc/elements/1.1/"

FORMATS = ("arXiv", "arXivRaw", "oai_dc")
_OAI_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}:\d{2}Z)?$")
_OAI_ID_PREFIX = re.compile(r"^oai:arxiv\.org:", re.I)


def _q(ns: str, tag: str) -> str:
    return f"{{{ns}}}{tag}"


# --------------------------------------------------------------------------------------------------
# Records


def _header_id(header: etree._Element | None) -> str | None:
    return text_of(header, _q(OAI, "identifier"))


def _strip_oai(identifier: str) -> str:
    return _OAI_ID_PREFIX.sub("", identifier.strip())


def _from_arxiv(meta: etree._Element, fallback_id: str | None) -> Paper:
    """The ``arXiv`` format: structured authors (keyname/forenames/suffix/affiliation), created/updated."""

    def t(tag: str, *, strip: bool = True) -> str | None:
        return text_of(meta, _q(ARXIV, tag), strip=strip)

    arxiv_id, _ = parse_arxiv_id(t("id") or fallback_id or "")
    authors: list[Author] = []
    for a in meta.iterfind(f"{_q(ARXIV, 'authors')}/{_q(ARXIV, 'author')}"):
        name = " ".join(p for p in (text_of(a, _q(ARXIV, f)) for f in ("forenames", "keyname", "suffix")) if p)
        affiliations = [x for x in (text_of(af) for af in a.iterfind(_q(ARXIV, "affiliation"))) if x]
        authors.append(Author(name, "; ".join(affiliations) or None))
    return Paper(
        id=arxiv_id,
        arxiv_id=arxiv_id,
        title=t("title", strip=False) or "",
        abstract=t("abstract", strip=False) or "",
        authors=authors,
        categories=(t("categories") or "").split(),
        submitted=parse_date(t("created")),
        updated=parse_date(t("updated")),
        doi=t("doi"),
        journal_ref=t("journal-ref"),
        comments=t("comments"),
        report_no=t("report-no"),
        license=t("license"),
        source=SOURCE,
    )


def _from_arxiv_raw(meta: etree._Element, fallback_id: str | None) -> Paper:
    """The ``arXivRaw`` format: free-text authors, submitter, every version with its date and size."""

    def t(tag: str, *, strip: bool = True) -> str | None:
        return text_of(meta, _q(ARXIV_RAW, tag), strip=strip)

    arxiv_id, _ = parse_arxiv_id(t("id") or fallback_id or "")
    versions: list[Version] = []
    for v in meta.iterfind(_q(ARXIV_RAW, "version")):
        if re.fullmatch(r"v?\d+", (v.get("version") or "").strip()):
            versions.append(Version(version_number(v.get("version")), parse_date(text_of(v, _q(ARXIV_RAW, "date"))),
                                    text_of(v, _q(ARXIV_RAW, "size"))))
    return Paper(
        id=arxiv_id,
        arxiv_id=arxiv_id,
        title=t("title", strip=False) or "",
        abstract=t("abstract", strip=False) or "",
        authors=split_authors(t("authors") or ""),
        categories=(t("categories") or "").split(),
        versions=versions,
        doi=t("doi"),
        journal_ref=t("journal-ref"),
        comments=t("comments"),
        report_no=t("report-no"),
        license=t("license"),
        submitter=t("submitter"),
        source=SOURCE,
    )


def _from_oai_dc(meta: etree._Element, fallback_id: str | None) -> Paper:
    """Simple Dublin Core: no categories or versions, ``Last, First`` creators, ``Comment:`` descriptions."""
    arxiv_id = None
    doi = None
    for ident in meta.iterfind(_q(DC, "identifier")):
        value = text_of(ident) or ""
        if arxiv_id is None and "arxiv.org/abs/" in value:
            arxiv_id = parse_arxiv_id(value)[0]
        elif doi is None and value.lower().startswith(("doi:", "https://doi.org/", "http://dx.doi.org/")):
            doi = value
    if arxiv_id is None:
        arxiv_id = parse_arxiv_id(fallback_id or "")[0]
    authors = []
    for creator in meta.iterfind(_q(DC, "creator")):
        name = text_of(creator) or ""
        last, sep, first = name.partition(",")
        authors.append(Author(f"{first.strip()} {last.strip()}" if sep else name))
    abstract, comments = "", None
    for desc in meta.iterfind(_q(DC, "description")):
        value = text_of(desc, strip=False) or ""
        if value.strip().startswith("Comment:"):
            comments = value.strip()[len("Comment:") :].strip()
        elif not abstract:
            abstract = value
    dates = [d for d in (parse_date(text_of(x)) for x in meta.iterfind(_q(DC, "date"))) if d]
    return Paper(
        id=arxiv_id,
        arxiv_id=arxiv_id,
        title=text_of(meta, _q(DC, "title"), strip=False) or "",
        abstract=abstract,
        authors=authors,
        submitted=min(dates) if dates else None,
        updated=max(dates) if dates else None,
        doi=doi,
        comments=comments,
        license=text_of(meta, _q(DC, "rights")),
        source=SOURCE,
    )


_PARSERS = {
    _q(ARXIV, "arXiv"): _from_arxiv,
    _q(ARXIV_RAW, "arXivRaw"): _from_arxiv_raw,
    _q(OAI_DC, "dc"): _from_oai_dc,
}


def _record(record: etree._Element, *, source: str, index: int) -> Paper | Reject | None:
    """One ``<record>`` as a Paper, a Reject saying why not, or None for a deleted record."""
    header = record.find(_q(OAI, "header"))
    identifier = _header_id(header)
    location = f"record {identifier}" if identifier else f"record #{index} (no identifier)"
    if header is not None and header.get("status") == "deleted":
        return None  # arXiv almost never deletes; a tombstone carries no metadata to store
    metadata = record.find(_q(OAI, "metadata"))
    payload = next((c for c in metadata if isinstance(c.tag, str)), None) if metadata is not None else None

    def reject(reason: str) -> Reject:
        return Reject(source=source, location=location, reason=reason, raw=etree.tostring(record, encoding="unicode"))

    if payload is None:
        return reject("record has no metadata")
    parse = _PARSERS.get(payload.tag)
    if parse is None:
        return reject(f"unsupported metadata format {payload.tag}")
    try:
        return finish(parse(payload, _strip_oai(identifier) if identifier else None))
    except ValueError as exc:  # includes InvalidId
        return reject(str(exc))


_FATAL_CODES = ("badArgument", "badVerb", "cannotDisseminateFormat", "idDoesNotExist", "noSetHierarchy")


def _check_errors(root: etree._Element, *, base_url: str, token: str | None) -> bool:
    """Raise SourceError for OAI error elements; True when the answer is ``noRecordsMatch`` (empty list)."""
    errors = [(e.get("code") or "unknown", " ".join((text_of(e) or "").split())) for e in root.iter(_q(OAI, "error"))]
    if not errors:
        return False
    codes = {code for code, _ in errors}
    if codes == {"noRecordsMatch"}:
        return True
    for code, message in errors:
        if code == "badResumptionToken":
            raise SourceError(
                f"OAI-PMH endpoint {base_url} rejected the resumption token {token!r} (badResumptionToken: "
                f"{message or 'no message'}). Tokens expire after a while; restart the harvest without the saved "
                "token (e.g. with --restart)."
            )
    code, message = next(((c, m) for c, m in errors if c != "noRecordsMatch"), errors[0])
    kind = "" if code in _FATAL_CODES else " (unknown error code)"
    raise SourceError(f"OAI-PMH endpoint {base_url} answered {code}{kind}: {message or 'no message'}")


def _is_oai(root: etree._Element | None) -> bool:
    return root is not None and root.tag == _q(OAI, "OAI-PMH")


def parse_records(xml: bytes, *, source: str) -> Records:
    """Papers and Rejects from one saved OAI-PMH response (ListRecords or GetRecord), no network.

    Why: lets saved harvest pages be re-ingested offline with exactly the harvester's parsing.
    """
    try:
        root = parse_xml(xml, what=source)
    except etree.XMLSyntaxError as exc:
        raise SourceError(f"{source}: not well-formed XML ({exc})") from None
    if not _is_oai(root):
        raise SourceError(f"{source}: not an OAI-PMH response (root element {root.tag})")
    if _check_errors(root, base_url=source, token=None):
        return
    for index, record in enumerate(root.iter(_q(OAI, "record")), 1):
        item = _record(record, source=source, index=index)
        if item is not None:
            yield item


# --------------------------------------------------------------------------------------------------
# Harvest


def checkpoint_key(
    base_url: str,
    metadata_prefix: str = "arXiv",
    set_spec: str | None = None,
    from_date: str | None = None,
    until: str | None = None,
) -> str:
    """The key a harvest's checkpoints are saved under: one resumable list per endpoint and arguments."""
    return f"oai:{base_url.strip()}|{metadata_prefix}|{set_spec or ''}|{from_date or ''}|{until or ''}"


def _validate(metadata_prefix: str, set_spec: str | None, from_date: str | None, until: str | None) -> None:
    if metadata_prefix not in FORMATS:
        raise SourceError(f"unsupported metadataPrefix {metadata_prefix!r}; use one of {', '.join(FORMATS)}")
    if set_spec is not None and (not set_spec.strip() or any(c.isspace() for c in set_spec)):
        raise SourceError(f"invalid OAI set {set_spec!r} (examples: cs, math, physics:hep-ex)")
    for name, value in (("from", from_date), ("until", until)):
        if value is None:
            continue
        ok = bool(_OAI_DATE.match(value))
        if ok:
            try:
                date.fromisoformat(value[:10])
            except ValueError:
                ok = False
        if not ok:
            raise SourceError(f"invalid OAI-PMH {name!r} date {value!r}; use YYYY-MM-DD")


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def harvest(
    base_url: str,
    *,
    metadata_prefix: str = "arXiv",
    set_spec: str | None = None,
    from_date: str | None = None,
    until: str | None = None,
    resume: dict | None = None,
    client: httpx.Client | None = None,
    delay: float = 3.0,
    max_retries: int = 5,
    sleep: Callable[[float], None] = time.sleep,
) -> Records:
    """Harvest ``ListRecords`` from an OAI-PMH endpoint, following resumption tokens to the end.

    After each page: the page's Papers/Rejects, then ``Checkpoint(checkpoint_key(...), {"token", "cursor",
    "complete_list_size", "done"})``.  ``resume`` is the last saved checkpoint value: with a token the
    harvest restarts from it (only ``verb`` and ``resumptionToken`` are sent, as OAI-PMH requires); a
    ``done`` checkpoint has no token, so the list is harvested again from the start.
    """
    _validate(metadata_prefix, set_spec, from_date, until)
    key = checkpoint_key(base_url, metadata_prefix, set_spec, from_date, until)
    resume = resume or {}
    token: str | None = (resume.get("token") or None) if not resume.get("done") else None
    cursor = resume.get("cursor")
    position = cursor if token and isinstance(cursor, int) and cursor >= 0 else 0
    fetcher = PoliteFetcher(client=client, delay=delay, max_retries=max_retries, sleep=sleep, what="OAI-PMH endpoint")
    try:
        yield from _harvest(fetcher, base_url, key, token, position, metadata_prefix, set_spec, from_date, until)
    finally:
        fetcher.close()


def _harvest(
    fetcher: PoliteFetcher,
    base_url: str,
    key: str,
    token: str | None,
    position: int,
    metadata_prefix: str,
    set_spec: str | None,
    from_date: str | None,
    until: str | None,
) -> Iterator[Paper | Reject | Checkpoint]:
    seen_tokens: set[str] = set()
    page = 0
    while True:
        page += 1
        params: dict[str, str | int]
        if token:
            params = {"verb": "ListRecords", "resumptionToken": token}
        else:
            params = {"verb": "ListRecords", "metadataPrefix": metadata_prefix}
            for name, value in (("set", set_spec), ("from", from_date), ("until", until)):
                if value:
                    params[name] = value
        fetched = fetcher.get(base_url, params)
        root = fetched.root
        if root is None or not _is_oai(root):
            what = f"root element <{etree.QName(root).localname}>" if root is not None else "not XML"
            raise SourceError(f"{show_url(base_url, params)}: HTTP {fetched.status}, not an OAI-PMH response ({what})")
        if _check_errors(root, base_url=base_url, token=token):
            log.info("%s: noRecordsMatch, nothing to harvest", base_url)
            done = {"token": None, "cursor": position, "complete_list_size": position if page == 1 else None}
            yield Checkpoint(key, {**done, "done": True})
            return
        if fetched.status != 200:
            raise SourceError(f"{show_url(base_url, params)}: HTTP {fetched.status}")
        listing = root.find(_q(OAI, "ListRecords"))
        if listing is None:
            raise SourceError(f"{show_url(base_url, params)}: OAI-PMH response without ListRecords or error")
        count = 0
        for record in listing.iterfind(_q(OAI, "record")):
            count += 1
            item = _record(record, source=base_url, index=position + count)
            if item is not None:
                yield item
        token_el = listing.find(_q(OAI, "resumptionToken"))
        next_token = (token_el.text or "").strip() if token_el is not None else ""
        cursor = _int(token_el.get("cursor")) if token_el is not None else None
        size = _int(token_el.get("completeListSize")) if token_el is not None else None
        position = cursor + count if cursor is not None else position + count
        if not next_token and size is None:
            size = position
        if next_token and (next_token == token or next_token in seen_tokens):
            raise SourceError(
                f"{base_url}: the server repeated resumptionToken {next_token!r}; stopping to avoid a loop"
            )
        yield Checkpoint(
            key, {"token": next_token or None, "cursor": position, "complete_list_size": size, "done": not next_token}
        )
        if not next_token:
            return
        seen_tokens.add(next_token)
        token = next_token
