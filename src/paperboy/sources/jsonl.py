"""JSON Lines sources: arXiv's public metadata snapshot format and a generic paper format.

Both are read as a stream of lines (plain or gzip, chosen by the file's magic bytes), so
memory stays flat however large the file.  A bad line becomes a :class:`Reject` with its
line number; a truncated gzip stream keeps every line before the damage.
"""

from __future__ import annotations

import gzip
import io
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
    split_authors,
)
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


def _text(value: object) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValueError(f"expected text, got {type(value).__name__}")
    return value


def from_snapshot(r: dict) -> Paper:
    """One record of arXiv's metadata snapshot (the Kaggle ``arxiv-metadata-oai-snapshot.json`` layout)."""
    raw_id = _text(r.get("id"))
    if not raw_id:
        raise ValueError("record has no id")
    arxiv_id, _ = parse_arxiv_id(raw_id)
    versions = []
    for v in r.get("versions") or []:
        label = _text(v.get("version")).lstrip("v")
        if not label.isdigit():
            raise ValueError(f"bad version label {v.get('version')!r}")
        versions.append(Version(int(label), parse_date(v.get("created")), v.get("size")))
    if r.get("authors_parsed"):
        authors = [
            Author(" ".join(x for x in (parts[1] if len(parts) > 1 else "", parts[0], *parts[2:3]) if x).strip())
            for parts in r["authors_parsed"]
        ]
    else:
        authors = split_authors(_text(r.get("authors")))
    paper = Paper(
        id=arxiv_id,
        arxiv_id=arxiv_id,
        title=_text(r.get("title")),
        abstract=_text(r.get("abstract")),
        authors=authors,
        categories=_text(r.get("categories")).split(),
        versions=versions,
        updated=parse_date(r.get("update_date")),
        doi=r.get("doi"),
        journal_ref=r.get("journal-ref"),
        comments=r.get("comments"),
        report_no=r.get("report-no"),
        license=r.get("license"),
        submitter=r.get("submitter"),
        links=arxiv_links(arxiv_id),
        source="snapshot",
    )
    finish(paper)
    if versions:  # update_date is the metadata's last change; the last version's date is the paper's
        paper.updated = versions[-1].date or paper.updated
    return paper


def from_generic(r: dict) -> Paper:
    """A generic paper record: ``title``, ``abstract``, optional ``id``, ``authors``, ``date``/``year``,
    ``categories``, ``doi``, ``arxiv``, ``venue``, ``url``, ``pdf``."""
    title = _text(r.get("title"))
    if not title.strip():
        raise ValueError("record has no title")
    arxiv_id = None
    if r.get("arxiv"):
        try:
            arxiv_id = parse_arxiv_id(_text(r["arxiv"]))[0]
        except InvalidId:
            arxiv_id = None
    raw_id = r.get("id")
    if raw_id is not None and not isinstance(raw_id, str | int):
        raise ValueError(f"id must be text, got {type(raw_id).__name__}")
    own_id = str(raw_id).strip() if raw_id is not None else ""
    if not own_id and not arxiv_id:
        raise ValueError("record has no id")
    authors_value = r.get("authors") or []
    if isinstance(authors_value, str):
        authors = split_authors(authors_value)
    else:
        authors = [
            Author(_text(a.get("name")), a.get("affiliation")) if isinstance(a, dict) else Author(_text(a))
            for a in authors_value
        ]
    categories = r.get("categories") or []
    if isinstance(categories, str):
        categories = categories.split()
    when = parse_date(r.get("date") or r.get("published") or (str(r["year"]) if r.get("year") else None))
    venue = " ".join(str(x) for x in (r.get("venue"), r.get("year")) if x) if r.get("venue") else None
    links = {k: v for k in ("url", "pdf") if isinstance(v := r.get(k), str) and v.startswith(("http://", "https://"))}
    if arxiv_id:
        links = {**arxiv_links(arxiv_id), **links}
    paper = Paper(
        id=arxiv_id or own_id,
        arxiv_id=arxiv_id,
        title=title,
        abstract=_text(r.get("abstract")),
        authors=authors,
        categories=[_text(c) for c in categories],
        submitted=when,
        doi=r.get("doi") if isinstance(r.get("doi"), str) else None,
        journal_ref=r.get("journal_ref") or venue,
        links=links,
        source="jsonl",
    )
    return finish(paper)
