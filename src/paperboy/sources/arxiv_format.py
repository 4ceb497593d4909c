"""arXiv's own metadata text formats: ``.abs`` files and listing files (monthly, ``new*``, ``pastweek*``).

Both formats share one record layout: an id line (``arXiv:0704.0001`` or ``Paper: hep-th/9901001``),
``Key: value`` header lines with indented continuation lines, a ``\\\\`` line, then the abstract (if
any) closed by another ``\\\\`` line.  Listings concatenate many such records between dashed
separator lines.  This module turns such text into :class:`Paper` objects; every per-record problem
becomes a :class:`Reject` so that one bad record never stops an ingest.  Reading files, folders and
archives is :mod:`paperboy.sources.arxiv_files`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date

from paperboy.papers import Paper, Version, finish, parse_arxiv_id, parse_date, split_authors, version_number
from paperboy.sources.base import Records, Reject

ABS_SOURCE = "abs"  # Paper.source of records read from .abs files
LISTING_SOURCE = "listing"  # Paper.source of records read from listing files

# "arXiv:0704.0001", "Paper: hep-th/9901001", "arXiv:2302.12353 (*cross-listing*)",
# "Paper (*cross-listing*): cond-mat/0001445".
_CROSS = r"\(\*cross-listing\*\)"
_LISTING_PATH = re.compile(r"(?:^|/)(?P<archive>[a-z]+(?:-[a-z]+)*)/listings/")
_ID_LINE = re.compile(rf"^(?:arXiv|Paper)\s*(?:{_CROSS}\s*)?:\s*(?P<id>\S+)\s*(?:{_CROSS})?\s*$", re.I)
_FIELD_KEY = re.compile(r"[A-Za-z][A-Za-z0-9._-]*(?: \([^():]*\))?")
_FIELD_SPLIT = re.compile(r"\n(?=[^ \t\n])")
_CONTINUATION = re.compile(r"[ \t]*\n\s*")
_REVISED = re.compile(r"^date \(revised(?: v(?P<v>\d+))?\)$")
_REPLACED = re.compile(r"replaced with revised version\s+(?P<value>[^\n]*)", re.I)
# Between entries: "-----..." lines; between a daily listing's sections: "%-%-...", "%%--%%--...", "%%%---...".
_SEPARATOR = re.compile(r"^[-%]{10,}\s*$")
_OLD_STYLE = re.compile(r"^(?P<archive>[a-z]+(?:-[a-z]+)*(?:\.[A-Za-z]{2})?)/\d{7}")
_MONTHS = {
    m: i for i, m in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1)
}
# "Mon, 2 Apr 2007 19:18:42 GMT", "Fri,  3 Mar 23 01:36:02 GMT" (2-digit year in mail headers).
_RFC_DATE = re.compile(r"\b(?P<d>\d{1,2})\s+(?P<m>[A-Za-z]{3})[a-z]*\.?,?\s+(?P<y>\d{4}|\d{2})\b")
# "Tue Dec  1 01:06:05 MET 1992" (ctime style, old monthly listings).
_CTIME_DATE = re.compile(
    r"\b(?P<m>[A-Za-z]{3})\s+(?P<d>\d{1,2})\s+\d{1,2}:\d{2}(?::\d{2})?\s+(?:[A-Z]{2,6}\s+)?(?P<y>\d{4})\b"
)
# Lines of a listing that date the entries after them: a monthly listing's "Papers received as of
# ...", a pastweek listing's "/* Fri, 3 Mar 2023 */" day markers, a daily listing's mail "Date:" header.
_LISTING_DATE_MARK = re.compile(r"^(?:Papers received as of\s+(?P<a>.*)|/\*\s*(?P<b>[^*]*?)\s*\*/\s*)$")
_MAIL_DATE = re.compile(r"^Date:\s*(?P<d>.*)$")
_DATE_MARK_START = ("P", "/", "D")


# --------------------------------------------------------------------------- dates and text


def _date(text: str) -> date | None:
    """Date of an arXiv date string; arXiv writes RFC 822 dates, old listings ctime dates."""
    parts = text.split(None, 4)
    if len(parts) >= 4 and parts[0].endswith(",") and len(parts[3]) == 4:  # the usual "Mon, 2 Apr 2007 ..."
        month = _MONTHS.get(parts[2].lower())
        if month and parts[1].isdigit() and parts[3].isdigit():
            try:
                return date(int(parts[3]), month, int(parts[1]))
            except ValueError:
                return None
    for rx in (_RFC_DATE, _CTIME_DATE):
        if m := rx.search(text):
            month = _MONTHS.get(m["m"].lower())
            year = int(m["y"])
            if len(m["y"]) == 2:
                year += 1900 if year >= 91 else 2000  # arXiv started in 1991
            if month:
                try:
                    return date(year, month, int(m["d"]))
                except ValueError:
                    return None
    return parse_date(text)


def decode(data: bytes) -> str:
    """UTF-8, falling back to latin-1 line by line: old arXiv files are latin-1, and a listing may mix both.

    Decoding per line keeps every UTF-8 line intact even when one line of the file is latin-1, and
    latin-1 maps every byte, so nothing is lost.
    """
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    out = []
    for line in data.split(b"\n"):
        try:
            out.append(line.decode("utf-8"))
        except UnicodeDecodeError:
            out.append(line.decode("latin-1"))
    return "\n".join(out)


def _lines(text: str) -> list[str]:
    """Split on newlines only, so that line numbers match what an editor shows."""
    return text.replace("\r\n", "\n").split("\n")


def _is_marker(line: str) -> bool:
    """True for a ``\\\\`` record marker line (also ``\\\\ ( https://arxiv.org/abs/... , 12kb)``)."""
    return line.startswith("\\\\") and (line.strip() == "\\\\" or line[2:].lstrip().startswith("("))


def _submitter(text: str) -> str | None:
    """The name from a ``From:`` line; e-mail addresses are dropped, they are not metadata."""
    name = re.sub(r"<[^>]*>?", " ", text).strip()
    if len(name) >= 2 and name[0] == name[-1] == '"':
        name = name[1:-1].strip()
    if not name or ("@" in name and " " not in name):
        return None
    return name


# --------------------------------------------------------------------------- one record


def _parse_record(lines: list[str], first: int, end: int, *, source: str, single: bool) -> Paper:
    """Build a paper from ``lines[first:end]``, where ``lines[first]`` is the id line.

    ``single`` is True for an ``.abs`` file (the abstract runs to the last ``\\\\`` line), False for a
    listing entry (the abstract ends at a ``\\\\`` line followed by a separator line).
    """
    m = _ID_LINE.match(lines[first])
    if not m:
        raise ValueError(f"expected an 'arXiv:' or 'Paper:' id line, found {lines[first][:80]!r}")
    raw_id = m["id"]
    arxiv_id, id_version = parse_arxiv_id(raw_id)  # InvalidId is a ValueError with a precise message
    i = first + 1
    while i < end and not lines[i].startswith("\\\\"):  # the header runs to the first "\\" line
        i += 1
    header_end = i
    fields: dict[str, str] = {}
    dates: list[tuple[int | None, str]] = []  # (version, or None for "revised" without a number; value)
    replaced: str | None = None
    # One piece per field: a line that does not start with white space, with its indented continuation lines.
    for piece in _FIELD_SPLIT.split("\n".join(lines[first + 1 : header_end])):
        head, colon, value = piece.partition(":")
        name = _field_name(head) if colon else None
        if name is None:  # an unknown line: ignored, with whatever is indented under it
            if rm := _REPLACED.match(piece):
                replaced = rm["value"]
            continue
        value = _CONTINUATION.sub(" ", value).strip() if "\n" in value else value.strip()
        if name.startswith("date"):
            if name == "date":
                dates.append((1, value))
            elif rv := _REVISED.match(name):
                dates.append((version_number(rv["v"]) if rv["v"] else None, value))
        elif name not in fields:  # a repeated field: keep the first
            fields[name] = value

    abstract = ""
    if header_end < end and lines[header_end].strip() == "\\\\":
        start = header_end + 1
        stop = None
        if single:
            for j in range(end - 1, header_end, -1):
                if _is_marker(lines[j]):
                    stop = j
                    break
        elif _ends_entry(lines, start, end):
            stop = start  # a listing entry without abstract: a separator follows the header
        else:
            for j in range(start, end):
                if _is_marker(lines[j]) and _ends_entry(lines, j + 1, end):
                    stop = j
                    break
        if stop is None:  # no closing marker: take what is there, minus trailing separators
            stop = end
            while stop > start and (not lines[stop - 1].strip() or _SEPARATOR.match(lines[stop - 1])):
                stop -= 1
        abstract = "\n".join(lines[start:stop]).strip()

    title = fields.get("title", "")
    if not title.strip():
        raise ValueError("no 'Title:' field" if "title" not in fields else "empty 'Title:' field")

    versions: list[Version] = []
    seen: set[int] = set()
    for number, value in dates:
        if number is None:  # old listings: "Date (revised):" lines count on from the last version
            number = max(seen, default=1) + 1
        if number in seen:
            continue
        seen.add(number)
        when, size = value, None
        if value.endswith(")") and "(" in value:  # "Mon, 2 Apr 2007 19:18:42 GMT   (443kb)"
            when, _, size = value[:-1].rpartition("(")
            size = size.strip() or None
        versions.append(Version(number, _date(when), size))

    categories = fields.get("categories", "").split()
    if not categories and (om := _OLD_STYLE.match(raw_id)):
        categories = [om["archive"]]  # old-style ids name their archive (and subject class)

    paper = Paper(
        id=arxiv_id,
        arxiv_id=arxiv_id,
        title=title,
        abstract=abstract,
        authors=split_authors(fields.get("authors", "")),
        categories=categories,
        version=id_version,
        versions=versions,
        doi=fields.get("doi"),
        journal_ref=fields.get("journal-ref"),
        comments=fields.get("comments"),
        report_no=fields.get("report-no"),
        license=fields.get("license"),
        submitter=_submitter(fields["from"]) if "from" in fields else None,
        source=source,
    )
    if replaced is not None:
        # A daily listing's replacement entry: a new version on that date, its number not given.
        paper.updated = _date(replaced)
    return finish(paper)


_FIELD_NAMES: dict[str, str | None] = {}


def _field_name(head: str) -> str | None:
    """The lower-cased field name for the text before a header line's colon, or None if it is not one.

    Memoised: the same few dozen names make up nearly every header line.
    """
    if head in _FIELD_NAMES:
        return _FIELD_NAMES[head]
    name = head.lower() if _FIELD_KEY.fullmatch(head) else None
    if len(_FIELD_NAMES) < 10_000:
        _FIELD_NAMES[head] = name
    return name


def _ends_entry(lines: list[str], j: int, end: int) -> bool:
    """True if ``lines[j:end]`` starts with a separator line or holds only blank lines."""
    for k in range(j, end):
        if lines[k].strip():
            return bool(_SEPARATOR.match(lines[k]))
    return True


# --------------------------------------------------------------------------- public parsers


def read_abs(text: str, *, source: str, location: str) -> Paper:
    """Parse the text of one ``.abs`` file into a finished paper.

    ``source`` and ``location`` name the file for the error notes.  Raises ValueError with a
    precise message for a record that cannot be a paper (empty file, no id line, no title...).
    """
    try:
        return parse_abs(text)
    except ValueError as exc:
        exc.add_note(f"in {source} at {location}")
        raise


def parse_abs(text: str) -> Paper:
    """One ``.abs`` file's text as a finished paper; ValueError when it cannot be one (callers add where)."""
    if not text.strip():
        raise ValueError("empty file")
    lines = _lines(text)
    first = 0
    while first < len(lines) and (
        _is_marker(lines[first]) or _SEPARATOR.match(lines[first]) or not lines[first].strip()
    ):
        first += 1
    if first == len(lines):
        raise ValueError("no 'arXiv:' or 'Paper:' id line (only separator lines)")
    if not _ID_LINE.match(lines[first]):
        raise ValueError(f"no 'arXiv:' or 'Paper:' id line (line {first + 1} is {lines[first][:80]!r})")
    return _parse_record(lines, first, len(lines), source=ABS_SOURCE, single=True)


def iter_listing(text: str, *, source: str) -> Records:
    """Yield one paper (or reject) per entry of a listing file, in file order.

    Entries start at an id line right after a ``\\\\`` line.  Duplicates are all yielded (the
    store dedups).  An entry without any date line is dated by the listing itself (``Papers
    received as of ...``, ``/* Fri, 3 Mar 2023 */``, or the mail header of a daily listing).
    """
    yield from parse_listing(text, source=source, where="")


def listing_archive(path: str) -> str | None:
    """The archive whose listing a file is (``ftp/astro-ph/listings/0007`` -> ``astro-ph``), if the path says."""
    m = _LISTING_PATH.search(path)
    return m["archive"] if m else None


def cross_list(paper: Paper, archive: str | None) -> None:
    """Record the category of the listing that cross-lists a paper, when its categories lack it."""
    if archive and not any(c == archive or c.startswith(archive + ".") for c in paper.categories):
        paper.categories.append(archive)


def parse_listing(
    text: str, *, source: str, where: str, listed_in: str | None = None
) -> Iterator[Paper | Reject]:
    """:func:`iter_listing` with reject locations prefixed by ``where`` and cross-listings given ``listed_in``."""
    lines = _lines(text)
    starts = [
        i
        for i in range(1, len(lines))
        if lines[i - 1].startswith("\\\\") and lines[i - 1].strip() == "\\\\" and _ID_LINE.match(lines[i])
    ]
    if not starts:
        yield Reject(source, where or "whole file", "no entries found in listing", text)
        return
    context: date | None = None
    mark = 0
    prefix = f"{where}: " if where else ""
    for n, first in enumerate(starts, start=1):
        for k in range(mark, first):  # dates the listing gives before this entry
            if lines[k][:1] not in _DATE_MARK_START:
                continue
            if dm := _LISTING_DATE_MARK.match(lines[k]):
                context = _date(dm["a"] or dm["b"]) or context
            elif n == 1 and (md := _MAIL_DATE.match(lines[k])):
                context = _date(md["d"]) or context
        end = starts[n] - 1 if n < len(starts) else len(lines)
        mark = first + 1
        location = f"{prefix}entry {n} (line {first + 1})"
        try:
            paper = _parse_record(lines, first, end, source=LISTING_SOURCE, single=False)
        except ValueError as exc:
            yield Reject(source, location, str(exc), "\n".join(lines[first:end]))
            continue
        if "cross-listing" in lines[first]:
            cross_list(paper, listed_in)
        if paper.submitted is None and paper.updated is None and context is not None:
            paper.updated = context
        yield paper
