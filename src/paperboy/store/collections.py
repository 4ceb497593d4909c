"""The collections seam of the store (SQLite now, PostgreSQL later without touching callers).

A reader's collections are named, ordered lists of papers with a note per paper.  One collection per reader is
the *default* one: it mirrors the reader's saves (the events backend adds and removes its items in the same
transaction as the save), so it is never created, renamed or deleted by hand.  Share links are stored as the
SHA-256 of their secret only.  An item whose paper this instance does not have (an import from elsewhere) keeps
the id it came with (``paper_ref``) and no ``pid``; nothing imported is dropped.  Rules (names, limits, who may do
what) live in :mod:`paperboy.library.collections`; this layer only stores.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

DEFAULT_NAME = "Saved"


@dataclass(frozen=True, slots=True)
class Collection:
    id: int
    reader: int
    name: str
    description: str
    is_default: bool
    shared: bool
    created_at: float
    size: int = 0


@dataclass(frozen=True, slots=True)
class Item:
    """A paper in a collection: ``paper_id`` is the paper's current id (or ``paper_ref`` when ``pid`` is None)."""

    paper_id: str
    pid: int | None
    note: str
    position: int
    added_at: float


@dataclass(frozen=True, slots=True)
class PendingMark:
    """An imported upvote or save of a paper this instance does not have (yet)."""

    kind: str
    paper_ref: str
    at: float


class Collections(ABC):
    """Storage of collections, items, share-link digests and pending imported marks."""

    @abstractmethod
    def of_reader(self, reader: int) -> list[Collection]:
        """The reader's collections in order (the default one first), with their sizes."""

    @abstractmethod
    def get(self, reader: int, collection_id: int) -> Collection | None:
        """The reader's collection ``collection_id``; None for another reader's (callers answer 404)."""

    @abstractmethod
    def ensure_default(self, reader: int, now: float) -> Collection:
        """The reader's default collection, created if missing."""

    @abstractmethod
    def create(self, reader: int, name: str, description: str, now: float) -> Collection | None:
        """A new collection at the end; None when the reader already has one of that name."""

    @abstractmethod
    def update(self, reader: int, collection_id: int, name: str, description: str) -> bool:
        """Rename / describe; False when the name is taken."""

    @abstractmethod
    def delete(self, reader: int, collection_id: int) -> None:
        """Delete a (non-default) collection, its items and its share link."""

    @abstractmethod
    def items(self, collection_id: int) -> list[Item]:
        """The items of a collection in order."""

    @abstractmethod
    def add_item(self, collection_id: int, pid: int | None, paper_ref: str, note: str, now: float) -> bool:
        """Append a paper (a known ``pid``, or only its id); False when it is already there."""

    @abstractmethod
    def set_note(self, collection_id: int, paper_ref: str, note: str) -> bool:
        """Set an item's note; False when the paper is not in the collection."""

    @abstractmethod
    def remove_item(self, collection_id: int, paper_ref: str) -> bool:
        """Remove an item; False when it was not there."""

    @abstractmethod
    def reorder(self, collection_id: int, paper_refs: list[str]) -> None:
        """Put the named items first, in this order; the others keep their order after them."""

    @abstractmethod
    def set_share(self, reader: int, collection_id: int, share_hash: bytes | None) -> None:
        """Store a new share-link digest (or None: not shared); the previous link stops working."""

    @abstractmethod
    def by_share(self, share_hash: bytes) -> Collection | None:
        """The collection a share link opens, if it is still shared (and its owner is not hidden by an admin)."""

    @abstractmethod
    def pending(self, reader: int) -> list[PendingMark]:
        """The reader's imported marks of papers not here."""

    @abstractmethod
    def add_pending(self, reader: int, kind: str, paper_ref: str, at: float) -> None:
        """Keep an imported mark of an unknown paper (once per kind and paper)."""

    @abstractmethod
    def remove_pending(self, reader: int, kind: str, paper_ref: str) -> None:
        """Forget an imported mark of an unknown paper (the reader removed it)."""

    @abstractmethod
    def standing_marks(self, reader: int) -> list[PendingMark]:
        """The reader's current upvotes and saves (kind, paper id, when set), oldest first, for export."""

    @abstractmethod
    def delete_reader(self, reader: int) -> bool:
        """Delete the reader and everything they own (collections, events, topics, follows, sessions, tokens) in
        one transaction; False when there was no such reader."""
