"""Response models of the reader's collections and export routes (kept apart from web/models.py, which other
branches edit at the same time); like those, they only describe the answers for the OpenAPI document."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from paperboy.web.models import _Out, error_response

LIBRARY_ERRORS: dict[int | str, dict[str, Any]] = {
    400: error_response("Bad input (the message says which and why)."),
    401: error_response("Not signed in: a session cookie or `Authorization: Bearer TOKEN` is needed."),
    403: error_response("A session without its CSRF token (`X-CSRF-Token`)."),
    404: error_response("No such collection, paper or share link (another reader's collection is not found either)."),
    409: error_response("The name is taken, or the default collection cannot be changed that way."),
    413: error_response("The body is too large."),
    422: error_response("A parameter or the document is missing, malformed or of a newer version."),
    429: error_response("Too many changes: retry after `Retry-After` seconds."),
}


class ItemOut(_Out):
    paper: str = Field(description="The paper's id (its arXiv id where it has one).")
    note: str
    position: int
    added: str = Field(description="When it was added (ISO 8601, UTC).")
    record: dict | None = Field(description="The paper as /api/v1/paper/{id} lists it; null when this instance "
                                            "does not have it (kept by id) or it is hidden.")


class CollectionOut(_Out):
    id: int
    name: str
    description: str
    default: bool = Field(description="The reader's saved papers: saving a paper adds it here.")
    shared: bool = Field(description="Whether a read-only share link works.")
    size: int
    url: str
    api_url: str


class CollectionPageOut(CollectionOut):
    items: list[ItemOut]


class CollectionsOut(_Out):
    collections: list[CollectionOut]


class SharedOut(_Out):
    name: str
    description: str
    items: list[ItemOut]


class ShareOut(_Out):
    url: str = Field(description="The read-only link; shown only in this answer (only its hash is stored).")
    api_url: str


class ItemChangeOut(_Out):
    paper: str
    added: bool | None = None


class ImportOut(_Out):
    imported: bool
    notes: list[str] = Field(description="What was not imported as it is (e.g. papers kept by id), for people.")


class MeOut(_Out):
    email: str
    collections: int
    export: str
    export_bib: str
    export_csv: str
