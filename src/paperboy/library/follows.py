"""Follows: a reader follows authors, categories and venues, and reads the newest papers of all of them at once.

* :func:`target` checks what a reader asks to follow and gives its matching key: an author by identity
  (:mod:`paperboy.library.authors`: "Y. Bengio" finds "Yoshua Bengio" while that is unambiguous), a category
  (an archive such as ``cs`` includes ``cs.LG``), a venue by the words of its journal reference before the year.
* :func:`following` is the Following page: the newest papers of every follow merged, de-duplicated, each with why it
  is there ("new paper by *Yoshua Bengio*", "in cs.LG", "at ICLR 2024"), newest first, paged.  Each follow is one
  index range of at most ``offset + limit + 1`` papers (a paper in the merged top k is in the top k of every follow
  it matches), so a page costs the same whatever the corpus size.
* "New" on the page: papers stored since the reader's look before the latest at the page's first page (pids are
  in arrival order), so after an ingest the next visit marks what arrived, and paging or the JSON twin agree.
* :func:`new_since` answers the digest's question: the reader's follows' papers listed on or after a day.
* :func:`export_reader` / :func:`import_reader`: the follows part of the reader's export document.
"""

from __future__ import annotations

import re
import time
import weakref
from dataclasses import dataclass, field
from datetime import date

from paperboy.library import authors
from paperboy.papers import Paper
from paperboy.store.base import Store
from paperboy.store.follows import KINDS, Follow, Follows

MAX_FOLLOWS = 500  # per reader: a Following page reads one index range per follow
MAX_VALUE = 200
MAX_OFFSET = 1000
_CATEGORY = re.compile(r"[a-z][a-z-]*(\.[A-Za-z][A-Za-z-]*)?")


class FollowError(ValueError):
    """Something that cannot be followed (unknown kind, empty or malformed value, too many follows)."""


@dataclass(frozen=True, slots=True)
class Target:
    """What a follow matches: ``key`` for the store, ``value`` as shown."""

    kind: str
    key: str
    value: str


@dataclass(slots=True)
class Reason:
    """Why a paper is on the Following page: the follow (kind, value) and the sentence's emphasised part."""

    kind: str
    follow: str
    subject: str  # "Yoshua Bengio" as this paper lists the name, "cs.LG", "ICLR 2024"

    @property
    def text(self) -> str:
        lead = {"author": "new paper by", "category": "in", "venue": "at"}[self.kind]
        return f"{lead} {self.subject}"


@dataclass(slots=True)
class Item:
    """One paper of the Following page and every follow it is there for."""

    paper: Paper
    reasons: list[Reason] = field(default_factory=list)
    new: bool = False  # stored since the reader's look before the latest at the Following page


@dataclass(slots=True)
class Page:
    items: list[Item]
    has_more: bool
    follows: list[Follow]


_OPEN: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def open_follows(store: Store) -> Follows:
    """The follows backend of ``store`` (one per store object), its keys filled for papers older than follows."""
    found = _OPEN.get(store)
    if found is None:
        from paperboy.store.sqlite import SQLiteStore
        from paperboy.store.sqlite_follows import SQLiteFollows

        if not isinstance(store, SQLiteStore):
            raise TypeError(f"no follows backend for {type(store).__name__}")
        found = _OPEN[store] = SQLiteFollows(store)
        found.fill_keys()
    return found


def _clean(value: object) -> str:
    if not isinstance(value, str):
        raise FollowError("value must be a string")
    text = " ".join(value.split())
    if not text:
        raise FollowError("value must not be empty")
    if len(text) > MAX_VALUE:
        raise FollowError(f"value must be at most {MAX_VALUE} characters")
    return text


def target(kind: object, value: object) -> Target:
    """What following ``kind`` ``value`` means, or :class:`FollowError` saying why it cannot be followed."""
    if kind not in KINDS:
        raise FollowError(f"kind must be one of {', '.join(KINDS)}")
    text = _clean(value)
    if kind == "author":
        name = authors.parse(text)
        if name is None or not name.surname:
            raise FollowError(f"{text[:50]!r} is not an author name")
        return Target("author", f"{name.block}|{name.form}", text)
    if kind == "category":
        if not _CATEGORY.fullmatch(text):
            raise FollowError(f"{text[:50]!r} is not a category (such as cs.LG or hep-th)")
        return Target("category", text, text)
    key = authors.venue_key(text)
    if key is None:
        raise FollowError(f"{text[:50]!r} names no venue (such as ICLR or Phys. Rev. D)")
    return Target("venue", key, text)


def follow(store: Store, reader: int, kind: object, value: object) -> tuple[Target, bool]:
    """Follow; the target and whether it is new (following twice is harmless)."""
    t = target(kind, value)
    follows = open_follows(store)
    mine = follows.of(reader)
    if len(mine) >= MAX_FOLLOWS and not any(f.key == t.key and f.kind == t.kind for f in mine):
        raise FollowError(f"a reader can follow at most {MAX_FOLLOWS} authors, categories and venues")
    return t, follows.add(reader, t.kind, t.key, t.value, time.time())


def unfollow(store: Store, reader: int, kind: object, value: object) -> tuple[Target, bool]:
    """Unfollow; the target and whether the reader followed it."""
    t = target(kind, value)
    return t, open_follows(store).remove(reader, t.kind, t.key)


def follows_of(store: Store, reader: int) -> list[Follow]:
    return open_follows(store).of(reader)


def is_following(store: Store, reader: int, kind: str, value: str) -> bool:
    t = target(kind, value)
    return any(f.kind == t.kind and f.key == t.key for f in open_follows(store).of(reader))


def _forms(follows: Follows, key: str) -> tuple[str, tuple[str, ...]]:
    """An author follow's block and the given-name forms that are the same person, decided now."""
    surname, initial, form = key.split("|", 2)
    block = f"{surname}|{initial}"
    return block, tuple(sorted(authors.same_person(form, follows.forms(block))))


def _gather(store: Store, reader: int, need: int, since: date | None, hidden: frozenset[int],
            seen: int | None = None) -> tuple[list[Item], list[Follow]]:
    """The merged, de-duplicated newest papers of the reader's follows, at most ``need`` of them; papers after pid
    ``seen`` are marked new."""
    backend = open_follows(store)
    follows = backend.of(reader)
    hits: dict[int, tuple[str, list[tuple[Follow, tuple[str, ...]]]]] = {}
    for f in follows:
        block, forms = (f.key, ()) if f.kind != "author" else _forms(backend, f.key)
        for listed, pid in backend.newest(f.kind, block, forms, limit=need + len(hidden), since=since):
            if pid not in hidden:
                hits.setdefault(pid, (listed or "", []))[1].append((f, forms))
    order = sorted(hits, key=lambda pid: (hits[pid][0], pid), reverse=True)[:need]
    papers = {sp.pid: sp.paper for sp in store.get_many(order)}
    items = [Item(papers[pid], [_reason(papers[pid], f, forms) for f, forms in hits[pid][1]],
                  seen is not None and pid > seen) for pid in order if pid in papers]
    return items, follows


def _reason(paper: Paper, f: Follow, forms: tuple[str, ...]) -> Reason:
    if f.kind == "author":
        block = f.key.rsplit("|", 1)[0]
        name = next((a.name for a in paper.authors if (p := authors.parse(a.name)) and p.block == block
                     and p.form in forms), f.value)
        return Reason("author", f.value, name)
    if f.kind == "venue":
        return Reason("venue", f.value, paper.journal_ref or f.value)
    return Reason("category", f.value, f.value)


def following(store: Store, reader: int, *, limit: int = 20, offset: int = 0,
              hidden: frozenset[int] = frozenset(), look: bool = False) -> Page:
    """One page of the reader's Following list (see the module docstring); ``hidden`` papers are left out.

    Papers stored since the reader's look before the latest are marked new; ``look`` makes this call a new look
    (the page's first page, seen by the reader: not an API call or a later page)."""
    if not 1 <= limit <= 100:
        raise FollowError("limit must be between 1 and 100")
    if not 0 <= offset <= MAX_OFFSET:
        raise FollowError(f"offset must be between 0 and {MAX_OFFSET}")
    seen = open_follows(store).last_seen(reader, look=look)
    items, follows = _gather(store, reader, offset + limit + 1, None, hidden, seen)
    return Page(items[offset:offset + limit], len(items) > offset + limit, follows)


def new_since(store: Store, reader: int, since: date, *, limit: int = 100,
              hidden: frozenset[int] = frozenset()) -> list[Item]:
    """For the digest: the reader's follows' papers listed on or after ``since``, newest first, with reasons."""
    return _gather(store, reader, limit, since, hidden)[0]


# -- export / import (composed by paperboy.library.export) --------------------------------------------------------


def export_reader(store: Store, reader_id: int) -> dict:
    """The reader's follows as JSON-ready data: ``{"follows": [{"kind", "value", "followed_at"}]}``."""
    return {"follows": [{"kind": f.kind, "value": f.value, "followed_at": round(f.created_at, 3)}
                        for f in follows_of(store, reader_id)]}


def import_reader(store: Store, reader_id: int, data: dict) -> list[str]:
    """Merge exported follows into the reader's (a follow already there is kept once); notes on entries skipped."""
    notes: list[str] = []
    entries = data.get("follows", []) if isinstance(data, dict) else None
    if not isinstance(entries, list):
        return ["follows: expected a list; nothing imported"]
    backend = open_follows(store)
    count = len(backend.of(reader_id))
    for i, entry in enumerate(entries):
        try:
            if not isinstance(entry, dict):
                raise FollowError("not an object")
            t = target(entry.get("kind"), entry.get("value"))
            if count >= MAX_FOLLOWS:
                raise FollowError(f"at most {MAX_FOLLOWS} follows")
            at = entry.get("followed_at")
            count += backend.add(reader_id, t.kind, t.key, t.value,
                                 float(at) if isinstance(at, int | float) else time.time())
        except FollowError as exc:
            notes.append(f"follows[{i}] skipped: {exc}")
    return notes
