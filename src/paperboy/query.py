"""The query engine's request and result types, shared by every surface (CLI, web, API, feeds).

Kept apart from the engine itself so that surfaces depend on a small, stable contract.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Literal

from paperboy.papers import Paper

Mode = Literal["hybrid", "lexical", "dense"]
Sort = Literal["relevance", "newest"]
MAX_LIMIT = 100
MAX_OFFSET = 1000
MAX_QUERY_CHARS = 1000


class QueryError(ValueError):
    """A request that cannot be answered (e.g. an inverted date range); the message is safe to show users."""


@dataclass(slots=True, frozen=True)
class Filters:
    category: str | None = None  # prefix match on any of the paper's categories: "cs" or "cs.LG"
    since: date | None = None  # first submission on or after
    until: date | None = None  # first submission on or before
    author: str | None = None  # matches author names (normalised, all words must match one author)

    def __post_init__(self) -> None:
        if self.since and self.until and self.since > self.until:
            raise QueryError(f"the date range is inverted: {self.since} is after {self.until}")

    @property
    def active(self) -> bool:
        return any((self.category, self.since, self.until, self.author))


@dataclass(slots=True, frozen=True)
class SearchRequest:
    query: str
    filters: Filters = field(default_factory=Filters)
    sort: Sort = "relevance"
    mode: Mode = "hybrid"
    limit: int = 20
    offset: int = 0


@dataclass(slots=True)
class Hit:
    pid: int
    paper: Paper
    score: float
    why: str  # short explanation, e.g. "title match; semantic rank 3" or "exact arXiv id"
    highlights: dict[str, list[tuple[int, int]]] = field(default_factory=dict)  # field -> [(start, end)] spans


@dataclass(slots=True)
class SearchResult:
    request: SearchRequest
    hits: list[Hit]
    total: int  # estimated number of matching papers (for "about N results" and paging)
    took_ms: float
    mode_used: Mode  # "lexical" when dense was requested but the embedder was unavailable or too slow
    notice: str | None = None  # e.g. "semantic search unavailable: lexical results only"
