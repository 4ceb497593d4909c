"""JSON Lines sources: arXiv's public metadata snapshot format and a generic paper format.

Both are read as a stream of lines (plain or gzip, chosen by the file's magic bytes), so
memory stays flat however large the file.  A bad line becomes a :class:`Reject` with its
line number; a truncated gzip stream keeps every line before the damage.
"""

from __future__ import annotations

import gzip
import io
import re
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import orjson

from paperboy.papers import (
    Author,
    InvalidId,
    Paper,
    Version,
    arxiv_links,
    finish,
    parse_arxiv_id,
    parse_date,
    parse_date_precision,
    split_authors,
    version_number,
)
from paperboy.sources.arxiv_format import cross_list, listing_archive
from paperboy.sources.base import Records, Reject, SourceError

MAX_LINE_BYTES = 16 * 1024 * 1024


def iter_lines(stream: IO[bytes], source: str) -> Iterator[tuple[int, bytes] | Reject]:
    """Numbered raw lines of a plain or gzipped byte stream; damage becomes a final Reject."""
    buffered = io.BufferedReader(stream) if not hasattr(stream, "peek") else stream
    if buffered.peek(2)[:2] == b"\x1f\x8b":
        buffered = gzip.GzipFile(fileobj=buffered)  # type: ignore[assignment]
    n = 0
    try:
        for n, line in enumerate(buffered, start=1):  # noqa: B007
            yield n, line
    except (EOFError, OSError, zlib.error) as exc:
        yield Reject(source, f"after line {n}", f"input is truncated or corrupt: {exc}")


def read_file(path: Path | str, fmt: str = "auto", stream: IO[bytes] | None = None) -> Records:
    """Papers from a JSON Lines file (``fmt``: auto, snapshot or jsonl); ``-`` or a stream reads that instead."""
    source = str(path)
    if stream is None:
        try:
            stream = open(path, "rb")  # noqa: SIM115 - closed below
        except OSError as exc:
            raise SourceError(f"cannot open {source}: {exc.strerror or exc}") from exc
    with stream:
        for item in iter_lines(stream, source):
            if isinstance(item, Reject):
                yield item
                continue
            n, line = item
            if not line.strip():
                continue
            location = f"line {n}"
            if len(line) > MAX_LINE_BYTES:
                yield Reject(source, location, f"line is {len(line):,} bytes (limit {MAX_LINE_BYTES:,})",
                             line[:4000].decode("utf-8", "replace"))
                continue
            try:
                text = line.decode("utf-8")
            except UnicodeDecodeError as exc:
                yield Reject(source, location, f"invalid UTF-8 at byte {exc.start}", line.decode("utf-8", "replace"))
                continue
            try:
                record = orjson.loads(text)
            except orjson.JSONDecodeError as exc:
                yield Reject(source, location, f"invalid JSON: {exc}", text)
                continue
            if not isinstance(record, dict):
                yield Reject(source, location, f"expected a JSON object, got {type(record).__name__}", text)
                continue
            try:
                if fmt == "snapshot" or (fmt == "auto" and _looks_like_snapshot(record)):
                    yield from_snapshot(record)
                else:
                    yield from_generic(record)
            except (ValueError, TypeError, KeyError, AttributeError) as exc:
                yield Reject(source, location, str(exc) or type(exc).__name__, text)


def _looks_like_snapshot(record: dict) -> bool:
    return "versions" in record and ("update_date" in record or "authors_parsed" in record)


def _text(value: object, what: str) -> str:
    """A text field; None is empty, anything else is an error naming the field."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValueError(f"{what}: expected text, got {_kind(value)}")
    return value


def _opt_text(value: object, what: str) -> str | None:
    return _text(value, what) or None


def _list(value: object, what: str) -> list:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValueError(f"{what}: expected a list, got {_kind(value)}")
    return value


def _date_text(value: object, what: str) -> str | None:
    """A date given as text, or a year given as a number."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise ValueError(f"{what}: expected a date, got {_kind(value)}")


def _kind(value: object) -> str:
    return {dict: "an object", list: "a list", bool: "true/false", str: "text"}.get(type(value), type(value).__name__)


def _cross_listing(raw_id: str, source_file: object) -> tuple[str, str | None]:
    """``("gr-qc/0011022", "astro-ph")`` for a listing entry "gr-qc/0011022 (*cross-listing*)" read from
    ``ftp/astro-ph/listings/...``: the id without the marker, and the category whose listing cross-lists it."""
    if m := _CROSS.match(raw_id):
        return m["id"], listing_archive(source_file) if isinstance(source_file, str) else None
    return raw_id, None


_CROSS = re.compile(r"^\s*(?P<id>\S+)\s*\(\*cross-listing\*\)\s*$", re.I)


def from_snapshot(r: dict) -> Paper:
    """One record of arXiv's metadata snapshot (the Kaggle ``arxiv-metadata-oai-snapshot.json`` layout).

    Every field is type-checked here: a wrong type is a ValueError naming the field, so the record
    becomes a Reject instead of failing the store's write later.
    """
    raw_id = _text(r.get("id"), "id")
    if not raw_id:
        raise ValueError("record has no id")
    raw_id, cross_listed = _cross_listing(raw_id, r.get("source_file"))
    arxiv_id, _ = parse_arxiv_id(raw_id)
    versions = []
    for v in _list(r.get("versions"), "versions"):
        if not isinstance(v, dict):
            raise ValueError(f"versions: expected objects, got {_kind(v)}")
        versions.append(Version(version_number(_text(v.get("version"), "versions[].version")),
                                parse_date(_date_text(v.get("created"), "versions[].created")),
                                _opt_text(v.get("size"), "versions[].size")))
    if r.get("authors_parsed"):
        authors = []
        for parts in _list(r["authors_parsed"], "authors_parsed"):
            parts = [_text(x, "authors_parsed[][]") for x in _list(parts, "authors_parsed[]")]
            name = " ".join(x for x in (parts[1] if len(parts) > 1 else "", *parts[:1], *parts[2:3]) if x)
            authors.append(Author(name.strip()))
    else:
        authors = split_authors(_text(r.get("authors"), "authors"))
    categories = _text(r.get("categories"), "categories").split()
    paper = Paper(
        id=arxiv_id,
        arxiv_id=arxiv_id,
        title=_text(r.get("title"), "title"),
        abstract=_text(r.get("abstract"), "abstract"),
        authors=authors,
        categories=categories,
        versions=versions,
        updated=parse_date(_date_text(r.get("update_date"), "update_date")),
        doi=_opt_text(r.get("doi"), "doi"),
        journal_ref=_opt_text(r.get("journal-ref"), "journal-ref"),
        comments=_opt_text(r.get("comments"), "comments"),
        report_no=_opt_text(r.get("report-no"), "report-no"),
        license=_opt_text(r.get("license"), "license"),
        submitter=_opt_text(r.get("submitter"), "submitter"),
        links=arxiv_links(arxiv_id),
        source="snapshot",
    )
    finish(paper)
    cross_list(paper, cross_listed)
    if versions:  # update_date is the metadata's last change; the last version's date is the paper's
        paper.updated = versions[-1].date or paper.updated
    return paper


def from_generic(r: dict) -> Paper:
    """A generic paper record: ``title``, ``abstract``, optional ``id``, ``authors``, ``date``/``year``,
    ``categories``, ``doi``, ``arxiv``, ``venue``, ``url``, ``pdf``.  Every field is type-checked (a wrong
    type is a ValueError naming the field); a date keeps the precision it was given ("2025" is a year)."""
    title = _text(r.get("title"), "title")
    if not title.strip():
        raise ValueError("record has no title")
    arxiv_id = None
    if arxiv_text := _text(r.get("arxiv"), "arxiv"):
        try:
            arxiv_id = parse_arxiv_id(arxiv_text)[0]
        except InvalidId:
            arxiv_id = None
    raw_id = r.get("id")
    if raw_id is not None and (not isinstance(raw_id, str | int) or isinstance(raw_id, bool)):
        raise ValueError(f"id: expected text, got {_kind(raw_id)}")
    own_id = str(raw_id).strip() if raw_id is not None else ""
    if not own_id and not arxiv_id:
        raise ValueError("record has no id")
    authors_value = r.get("authors")
    if isinstance(authors_value, str):
        authors = split_authors(authors_value)
    else:
        authors = [
            Author(_text(a.get("name"), "authors[].name"), _opt_text(a.get("affiliation"), "authors[].affiliation"))
            if isinstance(a, dict) else Author(_text(a, "authors[]"))
            for a in _list(authors_value, "authors")
        ]
    categories = r.get("categories")
    categories = categories.split() if isinstance(categories, str) else _list(categories, "categories")
    year = _date_text(r.get("year"), "year")
    when, precision = parse_date_precision(
        _date_text(r.get("date"), "date") or _date_text(r.get("published"), "published") or year)
    venue = _opt_text(r.get("venue"), "venue")
    links = {k: v for k in ("url", "pdf") if (v := _text(r.get(k), k)).startswith(("http://", "https://"))}
    if arxiv_id:
        links = {**arxiv_links(arxiv_id), **links}
    paper = Paper(
        id=arxiv_id or own_id,
        arxiv_id=arxiv_id,
        title=title,
        abstract=_text(r.get("abstract"), "abstract"),
        authors=authors,
        categories=[_text(c, "categories[]") for c in categories],
        submitted=when,
        date_precision=precision,
        doi=_opt_text(r.get("doi"), "doi"),
        journal_ref=_opt_text(r.get("journal_ref"), "journal_ref") or (" ".join(x for x in (venue, year) if x)
                                                                        if venue else None),
        links=links,
        source="jsonl",
    )
    return finish(paper)
