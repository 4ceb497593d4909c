"""The paper record and its identifiers.

Every source turns its input into :class:`Paper` objects; the store merges them by
identity (arXiv id, then DOI, then normalised title).  Normalisation lives here so
that every source and the store agree on what "the same paper" means.
"""

from __future__ import annotations

import functools
import hashlib
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import orjson

# New-style ids: YYMM.NNNN (2007-2014) or YYMM.NNNNN (2015+), optional version.
_NEW_ID = re.compile(r"^(?P<id>\d{4}\.\d{4,5})(?:v(?P<v>\d+))?$")
# Old-style ids: archive[.SUBJ]/YYMMNNN, optional version.  The subject class is
# dropped from the canonical id (math.GT/0309136 is math/0309136 on arXiv).
_OLD_ID = re.compile(
    r"^(?P<archive>[a-z]+(?:-[a-z]+)*)(?:\.(?P<subj>[A-Za-z]{2}))?/(?P<num>\d{7})(?:v(?P<v>\d+))?$"
)
_ID_PREFIX = re.compile(r"^(?:arxiv:|https?://(?:www\.|export\.)?arxiv\.org/(?:abs|pdf)/)", re.I)
_DOI = re.compile(r"^10\.\d{4,9}/\S+$")
_DOI_PREFIX = re.compile(r"^(?:doi:|https?://(?:dx\.)?doi\.org/)", re.I)

MAX_TITLE_CHARS = 2_000
MAX_ABSTRACT_CHARS = 100_000
MAX_AUTHORS = 5_000
MAX_VERSION = 10_000  # arXiv papers have tens of versions; a bound keeps a hostile number out of 64-bit columns


class InvalidId(ValueError):
    """Raised for a string that is not an arXiv identifier."""


def parse_arxiv_id(text: str) -> tuple[str, int | None]:
    """Split an arXiv identifier into ``(canonical id, version or None)``.

    Accepts ``2401.01234``, ``2401.01234v3``, ``arXiv:2401.01234``, abs/pdf URLs,
    ``hep-th/9901001`` and ``math.GT/0309136v2``.
    """
    raw = (text or "").strip()
    s = _ID_PREFIX.sub("", raw)
    if s.endswith(".pdf"):
        s = s[:-4]
    if m := _NEW_ID.match(s):
        yymm = int(s[2:4])
        if not 1 <= yymm <= 12:
            raise InvalidId(f"not an arXiv id (month {s[2:4]}): {raw[:80]!r}")
        return m["id"], version_number(m["v"]) if m["v"] else None
    if m := _OLD_ID.match(s):
        return f"{m['archive']}/{m['num']}", version_number(m["v"]) if m["v"] else None
    raise InvalidId(f"not an arXiv id: {raw[:80]!r}")


def version_number(label: str) -> int:
    """``3`` from "v3" or "3"; ValueError for anything else or a number past :data:`MAX_VERSION`."""
    digits = label.strip().removeprefix("v")
    if not (digits.isascii() and digits.isdigit()) or not 1 <= len(digits) <= 5:
        raise InvalidId(f"bad version label {label[:40]!r}")
    number = int(digits)
    if not 1 <= number <= MAX_VERSION:
        raise InvalidId(f"version {number:,} is out of range (1 to {MAX_VERSION:,})")
    return number


def is_arxiv_id(text: str) -> bool:
    try:
        parse_arxiv_id(text)
    except InvalidId:
        return False
    return True


def normalise_doi(text: str | None) -> str | None:
    """Lower-cased bare DOI (``10.1103/physrevd.76.013009``) or None if not a DOI."""
    if not text:
        return None
    s = _DOI_PREFIX.sub("", text.strip().split()[0] if text.strip() else "")
    s = s.rstrip(".,;")
    return s.lower() if _DOI.match(s) else None


_WS = re.compile(r"\s+")
_TEX_BREAK = re.compile(r"\\\\(?=\s)|\\newline\b")


def clean_text(text: str | None) -> str:
    """Collapse whitespace and TeX line breaks (``\\\\``) into single spaces."""
    if not text:
        return ""
    if "\\" in text:
        text = _TEX_BREAK.sub(" ", text)
    return " ".join(text.split())


_TITLE_JUNK = re.compile(r"[^0-9a-z]+")
_TEX_CMD = re.compile(r"\\[a-zA-Z]+|[{}$^_]")


@functools.lru_cache(maxsize=8192)  # the store asks for the same title several times while merging a batch
def normalise_title(title: str) -> str:
    """A matching key for titles: accents, TeX markup, case and punctuation removed."""
    s = _TEX_CMD.sub(" ", title)
    if not s.isascii():
        s = "".join(c for c in unicodedata.normalize("NFKD", s) if not unicodedata.combining(c))
    return _TITLE_JUNK.sub(" ", s.lower()).strip()


PRECISIONS = ("day", "month", "year")  # how much of a date a record really gave


def parse_date(text: str | None) -> date | None:
    """Parse the date formats met in arXiv and JSON sources; None if unparseable."""
    return parse_date_precision(text)[0]


def parse_date_precision(text: str | None) -> tuple[date | None, str]:
    """``(date, precision)``: "2025" is ``(2025-01-01, "year")``, "2025-03" ``(2025-03-01, "month")``.

    The precision travels with the paper so that a year-only record is shown as "2025" and never
    lands in a day or week listing as if it had appeared on 1 January.
    """
    if not text:
        return None, "day"
    s = str(text).strip()
    if re.fullmatch(r"\d{4}(?:-\d{2})?", s):
        try:
            return date(int(s[:4]), int(s[5:] or 1), 1), "month" if len(s) > 4 else "year"
        except ValueError:
            return None, "day"
    if len(s) == 10 and s[4] == "-":
        try:
            return date.fromisoformat(s), "day"
        except ValueError:
            return None, "day"
    for fmt in ("%Y-%m-%d", "%a, %d %b %Y %H:%M:%S %Z", "%a, %d %b %Y %H:%M:%S GMT", "%d %b %Y"):
        try:
            return datetime.strptime(s, fmt).date(), "day"
        except ValueError:
            pass
    try:
        return datetime.fromisoformat(s.replace("Z", "+00:00")).date(), "day"
    except ValueError:
        return None, "day"


def date_span(start: date, precision: str) -> tuple[date, date]:
    """The first and last day a date of this precision stands for (2025/year: 1 Jan .. 31 Dec 2025)."""
    if precision == "year":
        return start.replace(month=1, day=1), start.replace(month=12, day=31)
    if precision == "month":
        nxt = start.replace(day=28) + timedelta(days=4)
        return start.replace(day=1), nxt - timedelta(days=nxt.day)
    return start, start


def listing_span(paper: Paper) -> tuple[date, date] | None:
    """THE listing date rule: a paper is listed at its first submission, or its last update when that is
    all a source gave, over the whole span its precision allows; None for a paper with no date at all."""
    when = paper.submitted or paper.updated
    return date_span(when, paper.date_precision) if when else None


def iso_date(paper: Paper) -> str:
    """The listing date in ISO form at its precision ("2025", "2025-03", "2025-03-13"), as HTML's
    ``<time datetime>`` takes it; "" without a date."""
    when = paper.submitted or paper.updated
    return when.isoformat()[: {"year": 4, "month": 7}.get(paper.date_precision, 10)] if when else ""


def display_date(paper: Paper) -> str:
    """The listing date as a reader reads it, at the precision the record has: "2025", "March 2025" or
    "13 March 2025"; "" for a paper without a date (never an invented epoch date)."""
    when = paper.submitted or paper.updated
    if when is None:
        return ""
    if paper.date_precision == "year":
        return str(when.year)
    if paper.date_precision == "month":
        return f"{when.strftime('%B')} {when.year}"
    return f"{when.day} {when.strftime('%B')} {when.year}"


@dataclass(slots=True)
class Author:
    name: str
    affiliation: str | None = None


@dataclass(slots=True)
class Version:
    version: int
    date: date | None = None
    size: str | None = None


@dataclass(slots=True)
class Paper:
    """One paper as a source sees it; the store merges several into one record.

    ``id`` is the canonical key: the arXiv id (no version) when there is one, else the
    source's own id.  ``version`` is the latest version this record describes.
    """

    id: str
    title: str
    abstract: str = ""
    authors: list[Author] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)  # primary first
    submitted: date | None = None  # first version
    updated: date | None = None  # latest version
    version: int | None = None
    versions: list[Version] = field(default_factory=list)
    arxiv_id: str | None = None
    doi: str | None = None
    journal_ref: str | None = None
    comments: str | None = None
    report_no: str | None = None
    license: str | None = None
    submitter: str | None = None
    links: dict[str, str] = field(default_factory=dict)
    withdrawn: bool = False
    source: str = ""
    # Original, un-normalised text of title/abstract (only when it differs).
    original: dict[str, str] = field(default_factory=dict)
    # How much of ``submitted`` (or ``updated`` when there is no submission date) the source gave: "day",
    # "month" or "year" (one of PRECISIONS).
    date_precision: str = "day"

    @property
    def primary_category(self) -> str | None:
        return self.categories[0] if self.categories else None

    @property
    def title_norm(self) -> str:
        return normalise_title(self.title)

    def content_hash(self) -> str:
        """Hash of the fields a reader sees; equal hash means re-ingest changes nothing."""
        return hash_dict(self.to_dict())

    def to_dict(self) -> dict:
        """A JSON-ready dict (dates as ISO strings), used by ``show --json`` and the API."""
        return {
            "id": self.id,
            "arxiv_id": self.arxiv_id,
            "title": self.title,
            "abstract": self.abstract,
            "authors": [{"name": a.name, "affiliation": a.affiliation} for a in self.authors],
            "categories": list(self.categories),
            "submitted": _iso(self.submitted),
            "updated": _iso(self.updated),
            "version": self.version,
            "versions": [{"version": v.version, "date": _iso(v.date), "size": v.size} for v in self.versions],
            "doi": self.doi,
            "journal_ref": self.journal_ref,
            "comments": self.comments,
            "report_no": self.report_no,
            "license": self.license,
            "submitter": self.submitter,
            "links": dict(self.links),
            "withdrawn": self.withdrawn,
        } | ({"date_precision": self.date_precision} if self.date_precision != "day" else {})


def hash_dict(d: dict) -> str:
    """The content hash of a :meth:`Paper.to_dict` result."""
    return hashlib.blake2b(orjson.dumps(d, option=orjson.OPT_SORT_KEYS), digest_size=16).hexdigest()


def _iso(d: date | None) -> str | None:
    return d.isoformat() if d else None


def arxiv_links(arxiv_id: str) -> dict[str, str]:
    return {"abs": f"https://arxiv.org/abs/{arxiv_id}", "pdf": f"https://arxiv.org/pdf/{arxiv_id}"}


def split_authors(text: str) -> list[Author]:
    """Split arXiv's free-text author line ("A, B and C (Inst)") into authors.

    A parenthesised group at the end of an author is that author's affiliation; one inside a
    name ("Zhe (Rita) Liang") is a nickname and stays in the name; a group standing alone
    after a comma goes to the author before it, as arXiv's own display does.
    """
    text = clean_text(text)
    if not text:
        return []
    if "(" not in text:
        return [Author(n) for c in _AUTHOR_SEP.split(text) if (n := c.strip())][:MAX_AUTHORS]
    groups: list[str] = []
    buf: list[str] = []
    current: list[str] = []
    depth = 0
    for ch in text:
        if ch == "(":
            depth += 1
            if depth == 1:
                continue
        elif ch == ")" and depth:
            depth -= 1
            if depth == 0:
                groups.append("".join(current).strip())
                current = []
                buf.append("\0")
                continue
        (current if depth else buf).append(ch)
    if depth:  # unbalanced: treat the rest as plain text
        buf.append("(" + "".join(current))
    parts: list[Author] = []
    group_iter = iter(groups)
    for chunk in _AUTHOR_SEP.split("".join(buf)):
        pieces = chunk.split("\0")
        own = [next(group_iter, "") for _ in pieces[1:]]
        tail_is_name = bool(pieces[-1].strip())  # text after the last group: every group is part of the name
        keep = len(own) if tail_is_name else len(own) - 1  # groups written back into the name as "(...)"
        name = "".join(p + (f"({own[i]})" if i < keep else "") for i, p in enumerate(pieces))
        affiliation = None if tail_is_name or not own else own[-1]
        name = " ".join(name.split())
        if name:
            parts.append(Author(name, affiliation or None))
        elif affiliation and parts:
            parts[-1].affiliation = affiliation
    if not parts and groups:  # the whole list was in parentheses
        return split_authors(text.replace("(", " ").replace(")", " "))
    return parts[:MAX_AUTHORS]


_AUTHOR_SEP = re.compile(r",|;|\band\b|&")


def finish(paper: Paper) -> Paper:
    """Normalise a freshly parsed paper in place: whitespace, ids, dates, limits.

    Raises ValueError for a record that cannot be a paper (no title).
    """
    for key in ("title", "abstract"):
        raw = getattr(paper, key) or ""
        cleaned = clean_text(raw)
        if cleaned != raw:
            paper.original[key] = raw
        setattr(paper, key, cleaned)
    if not paper.title:
        raise ValueError("record has no title")
    if len(paper.title) > MAX_TITLE_CHARS:
        raise ValueError(f"title is {len(paper.title):,} characters (limit {MAX_TITLE_CHARS:,})")
    if len(paper.abstract) > MAX_ABSTRACT_CHARS:
        raise ValueError(f"abstract is {len(paper.abstract):,} characters (limit {MAX_ABSTRACT_CHARS:,})")
    paper.doi = normalise_doi(paper.doi)
    paper.categories = list(dict.fromkeys(c for c in paper.categories if c))
    for a in paper.authors:
        a.name = clean_text(a.name)
    paper.authors = [a for a in paper.authors if a.name][:MAX_AUTHORS]  # the cap split_authors applies, for lists
    for key in ("journal_ref", "comments", "report_no", "license", "submitter"):
        value = getattr(paper, key)
        setattr(paper, key, clean_text(value) or None)
    if paper.date_precision not in PRECISIONS:
        raise ValueError(f"date precision must be one of {', '.join(PRECISIONS)}, not {paper.date_precision!r}")
    for number in (paper.version, *(v.version for v in paper.versions)):
        if number is not None and not 0 <= number <= MAX_VERSION:
            raise ValueError(f"version {number:,} is out of range (1 to {MAX_VERSION:,})")
    if paper.versions:
        paper.versions.sort(key=lambda v: v.version)
        paper.version = max(paper.version or 0, paper.versions[-1].version)
        paper.submitted = paper.submitted or paper.versions[0].date
        paper.updated = paper.versions[-1].date or paper.updated
    paper.updated = paper.updated or paper.submitted
    if paper.arxiv_id and not paper.links:
        paper.links = arxiv_links(paper.arxiv_id)
    if paper.doi:
        paper.links.setdefault("doi", f"https://doi.org/{paper.doi}")
    if paper.comments and re.search(r"\b(withdrawn|has been withdrawn)\b", paper.comments, re.I):
        paper.withdrawn = True
    return paper


def now_utc() -> datetime:
    return datetime.now(UTC)


@functools.lru_cache(maxsize=65536)
def normalise_author(name: str) -> str:
    """A matching key for author names: accents, TeX accents, case and punctuation removed."""
    return normalise_title(name.replace("\\'", "").replace('\\"', "").replace("\\`", "").replace("\\^", ""))


def paper_from_dict(d: dict) -> Paper:
    """Inverse of :meth:`Paper.to_dict` (plus the optional ``original`` and ``source`` keys)."""
    return Paper(
        id=d["id"],
        title=d["title"],
        abstract=d.get("abstract") or "",
        authors=[Author(a["name"], a.get("affiliation")) for a in d.get("authors") or []],
        categories=list(d.get("categories") or []),
        submitted=parse_date(d.get("submitted")),
        updated=parse_date(d.get("updated")),
        version=d.get("version"),
        versions=[Version(v["version"], parse_date(v.get("date")), v.get("size")) for v in d.get("versions") or []],
        arxiv_id=d.get("arxiv_id"),
        doi=d.get("doi"),
        journal_ref=d.get("journal_ref"),
        comments=d.get("comments"),
        report_no=d.get("report_no"),
        license=d.get("license"),
        submitter=d.get("submitter"),
        links=dict(d.get("links") or {}),
        withdrawn=bool(d.get("withdrawn")),
        source=d.get("source") or "",
        original=dict(d.get("original") or {}),
        date_precision=d.get("date_precision") or "day",
    )
