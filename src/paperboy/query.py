"""The query engine's request and result types, shared by every surface (CLI, web, API, feeds).

Kept apart from the engine itself so that surfaces depend on a small, stable contract.  The contract validates
itself: a :class:`SearchRequest` that exists is a request the engine can answer (clean text, known mode and sort,
limit and offset in range), so every surface gets the same rule and the same messages, and the engine never checks
again.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal, get_args

from paperboy.papers import Paper

Mode = Literal["hybrid", "lexical", "dense"]
Sort = Literal["relevance", "newest"]
MODES: tuple[str, ...] = get_args(Mode)
SORTS: tuple[str, ...] = get_args(Sort)
MAX_LIMIT = 100
MAX_OFFSET = 1000
MAX_QUERY_CHARS = 1000
MAX_FILTER_CHARS = 200
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class QueryError(ValueError):
    """A request that cannot be answered (e.g. an inverted date range); the message is safe to show users."""


def clean_text(text: object, max_chars: int = MAX_QUERY_CHARS, what: str = "the query") -> str:
    """Make any input a safe query string: bytes decoded leniently, lone surrogates and control characters
    removed, whitespace collapsed, cut to ``max_chars``."""
    if text is None:
        return ""
    if isinstance(text, bytes | bytearray):
        text = bytes(text).decode("utf-8", "replace")
    if not isinstance(text, str):
        raise QueryError(f"{what} must be text")
    text = text.encode("utf-8", "replace").decode("utf-8")  # lone surrogates (undecodable argv) -> '?'
    return " ".join(_CONTROL.sub(" ", text).split())[:max_chars]


def _clean_optional(value: object, what: str) -> str | None:
    return clean_text(value, MAX_FILTER_CHARS, what) or None


@dataclass(slots=True, frozen=True)
class Filters:
    category: str | None = None  # prefix match on any of the paper's categories: "cs" or "cs.LG"
    since: date | None = None  # first submission on or after
    until: date | None = None  # first submission on or before
    author: str | None = None  # matches author names (normalised, all words must match one author)
    venue: str | None = None  # every word is a word of the venue / journal_ref, any case: "ICLR" or "ICLR 2024"

    def __post_init__(self) -> None:
        for name in ("category", "author", "venue"):
            object.__setattr__(self, name, _clean_optional(getattr(self, name), f"the {name} filter"))
        if self.since and self.until and self.since > self.until:
            raise QueryError(f"the date range is inverted: {self.since} is after {self.until}")

    @property
    def active(self) -> bool:
        return any((self.category, self.since, self.until, self.author, self.venue))


def _whole(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise QueryError(f"{name} must be a whole number")
    try:
        return int(value)
    except ValueError as exc:
        raise QueryError(f"{name} must be a whole number") from exc


@dataclass(slots=True, frozen=True)
class SearchRequest:
    """One search; construction cleans the text and raises :class:`QueryError` for anything out of range."""

    query: str
    filters: Filters = field(default_factory=Filters)
    sort: Sort = "relevance"
    mode: Mode = "hybrid"
    limit: int = 20
    offset: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.filters, Filters):
            raise QueryError("filters must be a Filters object")
        if self.mode not in MODES:
            raise QueryError(f"unknown mode {self.mode!r} (choose from {', '.join(MODES)})")
        if self.sort not in SORTS:
            raise QueryError(f"unknown sort {self.sort!r} (choose from {', '.join(SORTS)})")
        limit, offset = _whole(self.limit, "limit"), _whole(self.offset, "offset")
        if not 1 <= limit <= MAX_LIMIT:
            raise QueryError(f"limit must be between 1 and {MAX_LIMIT}")
        if not 0 <= offset <= MAX_OFFSET:
            raise QueryError(f"offset must be between 0 and {MAX_OFFSET}")
        object.__setattr__(self, "query", clean_text(self.query))
        object.__setattr__(self, "limit", limit)
        object.__setattr__(self, "offset", offset)


@dataclass(slots=True)
class Hit:
    pid: int
    paper: Paper
    score: float
    why: str  # a sentence for readers, e.g. "Matches the title; close in meaning." or "Exact arXiv id."
    highlights: dict[str, list[tuple[int, int]]] = field(default_factory=dict)  # field -> [(start, end)] spans
    #: the same as data, for JSON: ``pinned`` ("arxiv_id" / "doi" / "title" or None), ``fields`` (where the
    #: words match: "title", "abstract", "authors"), ``lexical_rank`` and ``dense_rank`` (1-based, or None)
    explain: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class SearchResult:
    request: SearchRequest
    hits: list[Hit]
    total: int  # estimated number of matching papers ("about N results"; 0 when none match the words)
    took_ms: float
    mode_used: Mode  # "lexical" when dense was requested but the embedder was unavailable or too slow
    notice: str | None = None  # for readers, e.g. "No papers match these words; showing the closest by meaning."
    suggestion: str | None = None  # a respelt query from the index's own vocabulary ("Did you mean ...")
