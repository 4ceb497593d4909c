"""Response models: what the OpenAPI document promises each JSON endpoint returns.

Responses are built by :mod:`paperboy.web.shapes` and sent as they are (validating every response with
pydantic would cost more than building it); these models only describe them, and the test suite runs
schemathesis against a live server to check that the bodies, status codes and content types match.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Out(BaseModel):
    model_config = ConfigDict(populate_by_name=True)


class ErrorOut(_Out):
    """Every error of the JSON API."""

    error: str = Field(description="What went wrong, for people.")
    status: int = Field(description="The HTTP status code again.")


class AuthorOut(_Out):
    name: str = Field(description="Readable name (TeX accents resolved: Balázs, not Bal\\'azs).")
    affiliation: str | None = None
    url: str = Field(description="This site's page of the author's papers.")


class VersionOut(_Out):
    version: int
    date: str | None
    size: str | None


class PaperOut(_Out):
    id: str
    arxiv_id: str | None
    title: str
    abstract: str
    authors: list[AuthorOut] = Field(description="The first authors (see authors_more for the rest).")
    authors_more: int = Field(0, description="How many authors are left out of `authors`.")
    categories: list[str]
    submitted: str | None = Field(description="First submission day (YYYY-MM-DD).")
    updated: str | None
    date_precision: str | None = Field(None, description="`year` or `month` when the source gave no day.")
    version: int | None
    versions: list[VersionOut]
    doi: str | None
    journal_ref: str | None
    comments: str | None
    report_no: str | None
    license: str | None
    submitter: str | None
    links: dict[str, str]
    withdrawn: bool
    url: str
    api_url: str
    category_urls: dict[str, str]


class HitOut(_Out):
    paper: PaperOut
    score: float
    why: str = Field(description="Why it matched, as a sentence.")
    explain: dict[str, Any] = Field(description="The same as data: `pinned`, `fields`, `lexical_rank`, `dense_rank`.")
    highlights: dict[str, list[list[int]]] = Field(description="Matched spans per field: [start, end) offsets.")


class PeriodOut(_Out):
    kind: str = Field(description="`date`, `week` or `month`.")
    value: str
    label: str
    since: str
    until: str


class QueryOut(_Out):
    q: str
    category: str | None
    since: str | None
    until: str | None
    author: str | None
    venue: str | None = None
    sort: str
    mode: str
    limit: int
    offset: int


class _Paged(_Out):
    total: int
    limit: int
    offset: int
    next: str | None = Field(description="The next page's URL (None on the last page).")
    prev: str | None = Field(description="The previous page's URL (None on the first page).")


class ListingOut(_Paged):
    category: str | None = None
    author: str | None = None
    papers: list[PaperOut]


class CountsOut(_Out):
    upvotes: int
    saves: int
    views: int


class TrendItemOut(_Out):
    paper: PaperOut
    score: float | None = Field(description="The published formula's score (docs/trending.md); None when the "
                                            "window had no reader activity and the newest papers are shown.")
    counts: CountsOut | None = Field(description="The window's counts behind the score.")
    why: str | None = Field(description="Why it is trending: \"14 upvotes and 3 saves today\".")


class FormulaOut(_Out):
    text: str
    weights: dict[str, float]
    half_life_hours: dict[str, float]


class TrendingOut(_Paged):
    window: str = Field(description="`day`, `week` or `month` (UTC calendar periods).")
    date: str = Field(description="A day in the window (YYYY-MM-DD).")
    period: PeriodOut
    ranking: str = Field(description="`trending`, or `newest` when nobody did anything in the window.")
    notice: str | None = Field(description="Why the newest papers are shown instead, when they are.")
    formula: FormulaOut
    items: list[TrendItemOut]


class HomeTrendingOut(_Out):
    window: str
    date: str
    period: PeriodOut
    ranking: str
    notice: str | None
    total: int
    limit: int
    offset: int
    formula: FormulaOut
    items: list[TrendItemOut]


class ReaderMarksOut(_Out):
    upvoted: bool
    saved: bool


class PaperSignalsOut(_Out):
    paper: str = Field(description="The paper's canonical id.")
    counts: CountsOut
    reader: ReaderMarksOut | None = Field(description="Your own marks (None when not signed in).")


class SignalsOut(_Out):
    papers: dict[str, PaperSignalsOut] = Field(description="By the id asked for; unknown ids are left out.")


class SearchOut(_Out):
    query: QueryOut
    total: int
    took_ms: float
    mode_used: str
    notice: str | None
    suggestion: str | None = Field(None, description="A spelling the index knows, when the query's words are rare.")
    next: str | None
    prev: str | None
    hits: list[HitOut]


class CategoryBoxOut(_Out):
    category: str
    papers_total: int
    papers: list[PaperOut]


class HomeOut(_Out):
    total: int
    periods: dict[str, PeriodOut]
    newest: list[PaperOut]
    by_category: list[CategoryBoxOut]
    trending: HomeTrendingOut | None = Field(None, description="With `?window=`: that window's trending papers.")


class PaperPageOut(PaperOut):
    bibtex: str
    similar_url: str
    similar: list[HitOut]


class SimilarOut(_Out):
    paper_id: str
    similar: list[HitOut]


class CategoryCountOut(_Out):
    category: str
    papers: int
    url: str


class CategoriesOut(_Out):
    categories: list[CategoryCountOut]


class ReadyOut(_Out):
    ready: bool
    checks: dict[str, str]


class HfAuthorOut(_Out):
    id_: str = Field(alias="_id")
    name: str
    hidden: bool


class HfPaperOut(_Out):
    id: str
    authors: list[HfAuthorOut]
    mediaUrls: list[str]  # noqa: N815 - the Hub's field names
    publishedAt: str | None  # noqa: N815
    submittedOnDailyAt: str | None  # noqa: N815
    title: str
    summary: str
    upvotes: int
    discussionId: str  # noqa: N815
    ai_keywords: list[str]
    numComments: int  # noqa: N815


class HfItemOut(_Out):
    paper: HfPaperOut
    publishedAt: str | None  # noqa: N815
    title: str
    summary: str
    numComments: int  # noqa: N815
    isAuthorParticipating: bool  # noqa: N815


def error_response(description: str) -> dict[str, Any]:
    """One documented error answer for a route's ``responses`` (the body is always :class:`ErrorOut`)."""
    return {"model": ErrorOut, "description": description}


#: What the vote, save and view routes may answer besides the usual errors.
READER_ERRORS: dict[int | str, dict[str, Any]] = {
    401: error_response("Not signed in: a session cookie or `Authorization: Bearer TOKEN` is needed."),
    403: error_response("A session without its CSRF token (`X-CSRF-Token`), or a view reported from another site."),
    404: error_response("No such paper (or it is hidden)."),
    422: error_response("A parameter is missing or of the wrong type."),
    429: error_response("Too many changes: retry after `Retry-After` seconds."),
}

#: The errors every JSON endpoint may answer (router-level ``responses``).
JSON_ERRORS: dict[int | str, dict[str, Any]] = {
    400: error_response("A parameter has a value that cannot be used (the message says which and why)."),
    404: error_response("No such paper, author or category."),
    422: error_response("A parameter is missing or of the wrong type."),
    503: error_response("Search is not available right now (the engine is loading); "
                        "retry after `Retry-After` seconds."),
}


def _text(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"text/plain": {"schema": {"type": "string"}}}}


#: The errors of the Atom feeds: plain text, like the rest of a feed reader's world.
TEXT_ERRORS: dict[int | str, dict[str, Any]] = {
    400: _text("A parameter has a value that cannot be used."),
    404: _text("No such author or category."),
    422: _text("A parameter is missing or of the wrong type."),
    503: _text("Search is not available right now."),
}
