"""Collections: a reader's named lists of papers, with a note per paper, reordering, and read-only share links.

The rules live here (the store only stores): names and notes are plain text with limits, every lookup is scoped
to the asking reader (another reader's collection is "not found", never "forbidden", so ids reveal nothing), and
the default collection *is* the reader's saves: adding to or removing from it sets or clears the save mark through
:class:`~paperboy.events.Signals`, whose backend mirrors it into the collection in the same transaction (counts
and trending stay right).  A share link is a 256-bit secret shown once; only its SHA-256 is stored, so a copy of
the database opens nothing, and revoking (or deleting the collection) makes the old link a 404.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from paperboy.events import Signals
from paperboy.store.base import Store, StoredPaper
from paperboy.store.collections import DEFAULT_NAME, Collection, Collections, Item
from paperboy.store.events import Kind

MAX_COLLECTIONS = 100
MAX_ITEMS = 10_000
MAX_NAME = 200
MAX_DESCRIPTION = 2_000
MAX_NOTE = 10_000


class LibraryError(ValueError):
    """A request the library refuses; ``status`` is the HTTP answer (400 bad input, 404 not found, 409 taken)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def not_found(what: str = "collection") -> LibraryError:
    return LibraryError(f"No such {what}.", 404)


def plain_text(value: object, limit: int, what: str, *, required: bool = False, lines: bool = False) -> str:
    """``value`` as clean text: a string, control characters refused (newlines allowed where ``lines``)."""
    if not isinstance(value, str):
        raise LibraryError(f"The {what} must be text.")
    text = value.strip()
    allowed = "\n\t" if lines else ""
    if any((c < " " and c not in allowed) or c == "\x7f" for c in text):
        raise LibraryError(f"The {what} contains control characters.")
    if required and not text:
        raise LibraryError(f"The {what} is empty.")
    if len(text) > limit:
        raise LibraryError(f"The {what} is longer than {limit:,} characters.")
    return text.replace("\r\n", "\n")


def share_digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


@dataclass(frozen=True, slots=True)
class Entry:
    """An item with its paper (None when this instance does not have the paper, e.g. imported from elsewhere)."""

    item: Item
    paper: StoredPaper | None


class Library:
    """Collections of one store, for every reader."""

    def __init__(self, store: Store, signals: Signals, collections: Collections,
                 clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.signals = signals
        self.collections = collections
        self.clock = clock

    # -- collections --------------------------------------------------------------------------------------------

    def of_reader(self, reader: int) -> list[Collection]:
        self.collections.ensure_default(reader, self.clock())
        return self.collections.of_reader(reader)

    def get(self, reader: int, collection_id: int) -> Collection:
        found = self.collections.get(reader, collection_id)
        if found is None:
            raise not_found()
        return found

    def _name(self, name: object) -> str:
        text = plain_text(name, MAX_NAME, "collection name", required=True)
        if text.casefold() == DEFAULT_NAME.casefold():
            raise LibraryError(f"{DEFAULT_NAME!r} is the name of your saved papers; choose another name.", 409)
        return text

    def create(self, reader: int, name: object, description: object = "") -> Collection:
        text, about = self._name(name), plain_text(description, MAX_DESCRIPTION, "description", lines=True)
        if len(self.of_reader(reader)) >= MAX_COLLECTIONS:
            raise LibraryError(f"You have {MAX_COLLECTIONS} collections, the most there can be: delete one first.")
        made = self.collections.create(reader, text, about, self.clock())
        if made is None:
            raise LibraryError(f"You already have a collection named {text!r}.", 409)
        return made

    def update(self, reader: int, collection_id: int, name: object, description: object) -> Collection:
        current = self.get(reader, collection_id)
        if current.is_default and name != current.name:
            raise LibraryError("Your saved papers keep their name.", 409)
        text = current.name if current.is_default else self._name(name)
        about = plain_text(description, MAX_DESCRIPTION, "description", lines=True)
        if not self.collections.update(reader, collection_id, text, about):
            raise LibraryError(f"You already have a collection named {text!r}.", 409)
        return self.get(reader, collection_id)

    def delete(self, reader: int, collection_id: int) -> None:
        if self.get(reader, collection_id).is_default:
            raise LibraryError("Your saved papers cannot be deleted (unsave papers to remove them).", 409)
        self.collections.delete(reader, collection_id)

    # -- items --------------------------------------------------------------------------------------------------

    def entries(self, collection: Collection) -> list[Entry]:
        items = self.collections.items(collection.id)
        papers = {sp.pid: sp for sp in self.store.get_many([it.pid for it in items if it.pid is not None])}
        return [Entry(it, papers.get(it.pid) if it.pid is not None else None) for it in items]

    def add(self, reader: int, collection_id: int, paper: StoredPaper, note: object = "") -> bool:
        """Add a paper (False when it is there already); to the default collection this is a save."""
        collection = self.get(reader, collection_id)
        text = plain_text(note, MAX_NOTE, "note", lines=True)
        if collection.size >= MAX_ITEMS:
            raise LibraryError(f"A collection holds at most {MAX_ITEMS:,} papers.")
        if collection.is_default:
            already = any(it.pid == paper.pid for it in self.collections.items(collection.id))
            self.signals.mark(reader, paper.pid, Kind.SAVE, True)
            if text:
                self.collections.set_note(collection.id, paper.paper.id, text)
            return not already
        return self.collections.add_item(collection.id, paper.pid, paper.paper.id, text, self.clock())

    def note(self, reader: int, collection_id: int, paper_id: str, note: object) -> None:
        collection = self.get(reader, collection_id)
        if not self.collections.set_note(collection.id, paper_id, plain_text(note, MAX_NOTE, "note", lines=True)):
            raise not_found("paper in this collection")

    def remove(self, reader: int, collection_id: int, paper_id: str) -> None:
        """Remove a paper; from the default collection this is an unsave."""
        collection = self.get(reader, collection_id)
        entry = next((e for e in self.entries(collection) if e.item.paper_id == paper_id), None)
        if entry is None:
            raise not_found("paper in this collection")
        if collection.is_default and entry.item.pid is not None:
            self.signals.mark(reader, entry.item.pid, Kind.SAVE, False)
            return
        self.collections.remove_item(collection.id, paper_id)
        if collection.is_default:  # an imported save of a paper not here: the save goes with the item
            self.collections.remove_pending(reader, Kind.SAVE.value, paper_id)

    def reorder(self, reader: int, collection_id: int, paper_ids: object) -> None:
        """Put the given papers first in this order (the rest keep theirs after them)."""
        collection = self.get(reader, collection_id)
        if not isinstance(paper_ids, list) or not all(isinstance(p, str) for p in paper_ids):
            raise LibraryError("'papers' must be a list of paper ids.")
        if len(paper_ids) > MAX_ITEMS:
            raise LibraryError(f"A collection holds at most {MAX_ITEMS:,} papers.")
        present = {e.item.paper_id for e in self.entries(collection)}
        unknown = [p for p in paper_ids if p not in present]
        if unknown:
            raise LibraryError(f"Not in this collection: {', '.join(unknown[:5])[:300]}.")
        self.collections.reorder(collection.id, paper_ids)

    def move(self, reader: int, collection_id: int, paper_id: str, step: int) -> None:
        """Move one paper up (``step`` -1) or down (+1): the no-script form's reorder."""
        order = [e.item.paper_id for e in self.entries(self.get(reader, collection_id))]
        if paper_id not in order:
            raise not_found("paper in this collection")
        k = order.index(paper_id)
        j = min(max(k + step, 0), len(order) - 1)
        order[k], order[j] = order[j], order[k]
        self.collections.reorder(collection_id, order)

    # -- sharing ------------------------------------------------------------------------------------------------

    def share(self, reader: int, collection_id: int) -> str:
        """A new read-only link secret for the collection (an older link stops working); shown once."""
        self.get(reader, collection_id)
        secret = secrets.token_urlsafe(32)
        self.collections.set_share(reader, collection_id, share_digest(secret))
        return secret

    def unshare(self, reader: int, collection_id: int) -> None:
        self.get(reader, collection_id)
        self.collections.set_share(reader, collection_id, None)

    def shared(self, secret: str) -> Collection:
        """The collection a share link opens; 404 for a guessed, revoked or deleted one."""
        found = self.collections.by_share(share_digest(secret)) if 20 <= len(secret) <= 100 else None
        if found is None:
            raise not_found("shared collection")
        return found

    # -- the account --------------------------------------------------------------------------------------------

    def delete_account(self, reader: int) -> bool:
        """Delete the reader and everything they own, in one transaction."""
        return self.collections.delete_reader(reader)


def open_library(store: Store, signals: Signals) -> Library:
    """The library of a store (SQLite now) on the given signals (whose events backend mirrors saves)."""
    from paperboy.store.sqlite import SQLiteStore
    from paperboy.store.sqlite_collections import SQLiteCollections
    from paperboy.store.sqlite_events import SQLiteEvents

    if not isinstance(store, SQLiteStore) or not isinstance(signals.events, SQLiteEvents):
        raise ValueError(f"collections have no backend for {type(store).__name__} yet (SQLite only)")
    return Library(store, signals, SQLiteCollections(store, signals.events))
