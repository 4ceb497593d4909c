"""Everything a reader has, as one JSON document (and their saved papers as BibTeX and CSV), and back.

The document (``format`` "paperboy-export", ``version`` :data:`VERSION`) names papers by their ids (arXiv ids),
never by this instance's internal numbers, and holds no secrets (share links and API tokens stay behind) and no
address, so it imports into any account on any instance.  Its order is deterministic (marks by time, collections
and items in the reader's order), so export → import into an empty account → export gives the same document.

Importing merges: marks already set, collections of the same name and papers already in them are not
duplicated; an existing note is kept.  Papers this instance does not have are kept by id (pending marks, items
without a paper) and listed in the answer, never dropped.  Topics and follows are exported and imported through
their own modules' ``export_reader``/``import_reader`` (imported lazily: a tree without them leaves them out and
says so on import).  Import is not one transaction (events are written by their own backend): each part is
idempotent, so repeating an interrupted import completes it without duplicates.
"""

from __future__ import annotations

import csv
import importlib
import io
import re
from datetime import UTC, datetime
from typing import Any

from paperboy.library.collections import MAX_COLLECTIONS, MAX_NAME, MAX_NOTE, Library, LibraryError, plain_text
from paperboy.store.collections import DEFAULT_NAME
from paperboy.store.events import Event, Kind

FORMAT = "paperboy-export"
VERSION = 1
#: The largest import accepted (a reader with 50,000 events exports about 4 MB).
MAX_IMPORT_BYTES = 10 * 1024 * 1024
#: Parts composed from the other library modules: (document key, module).
PARTS = (("topics", "paperboy.library.topics"), ("follows", "paperboy.library.follows"))
_MARK_KEYS = {"votes": Kind.UPVOTE, "saves": Kind.SAVE}


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _seconds(value: object, where: str) -> float:
    if not isinstance(value, str):
        raise LibraryError(f"{where}: the time must be an ISO 8601 string.", 422)
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise LibraryError(f"{where}: {value[:40]!r} is not an ISO 8601 time.", 422) from None
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()


def _part(module: str) -> Any | None:
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError:
        return None


# -- export ---------------------------------------------------------------------------------------------------------


def export_reader(library: Library, reader: int) -> dict:
    """The reader's whole library as a JSON-ready document."""
    store = library.collections
    marks: dict[str, list[tuple[float, str]]] = {"votes": [], "saves": []}
    by_kind = {Kind.UPVOTE.value: "votes", Kind.SAVE.value: "saves"}
    for mark in [*store.standing_marks(reader), *store.pending(reader)]:
        marks[by_kind[mark.kind]].append((mark.at, mark.paper_ref))
    doc: dict[str, Any] = {"format": FORMAT, "version": VERSION}
    for key, found in marks.items():
        doc[key] = [{"paper": ref, "at": _iso(at)} for at, ref in sorted(found)]
    doc["collections"] = [
        {"name": c.name, "default": c.is_default, "description": c.description,
         "items": [{"paper": it.paper_id, "note": it.note, "added": _iso(it.added_at)}
                   for it in store.items(c.id)]}
        for c in library.of_reader(reader)]
    for key, module in PARTS:
        if (part := _part(module)) is not None:
            doc[key] = part.export_reader(library.store, reader)
    doc["settings"] = {}
    return doc


# -- import ---------------------------------------------------------------------------------------------------------


def check_document(data: object) -> dict:
    """The document's outline checked before anything is written (422 with what is wrong)."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise LibraryError(f"This is not a paperboy export (its 'format' must be {FORMAT!r}).", 422)
    version = data.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise LibraryError("The export has no valid 'version'.", 422)
    if version > VERSION:
        raise LibraryError(f"This export was made by a newer paperboy (format version {version}); this instance "
                           f"reads up to version {VERSION}.", 422)
    for key in ("votes", "saves", "collections"):
        if not isinstance(data.get(key, []), list):
            raise LibraryError(f"'{key}' must be a list.", 422)
    for key in _MARK_KEYS:
        for n, mark in enumerate(data.get(key, [])):
            if not isinstance(mark, dict) or not isinstance(mark.get("paper"), str) or not mark["paper"].strip():
                raise LibraryError(f"{key}[{n}] needs a 'paper' id.", 422)
            _seconds(mark.get("at"), f"{key}[{n}]")
    if len(data.get("collections", [])) > MAX_COLLECTIONS:
        raise LibraryError(f"At most {MAX_COLLECTIONS} collections can be imported.", 422)
    for n, c in enumerate(data.get("collections", [])):
        if not isinstance(c, dict) or not isinstance(c.get("items", []), list):
            raise LibraryError(f"collections[{n}] must be an object with a list of 'items'.", 422)
        if not c.get("default"):
            plain_text(c.get("name"), MAX_NAME, f"name of collections[{n}]", required=True)
        for k, item in enumerate(c.get("items", [])):
            if not isinstance(item, dict) or not isinstance(item.get("paper"), str) or not item["paper"].strip():
                raise LibraryError(f"collections[{n}].items[{k}] needs a 'paper' id.", 422)
            plain_text(item.get("note", ""), MAX_NOTE, f"note of collections[{n}].items[{k}]", lines=True)
            if "added" in item:
                _seconds(item["added"], f"collections[{n}].items[{k}]")
    return data


def import_reader(library: Library, reader: int, data: object) -> list[str]:
    """Merge a document into the reader's library; answers what was not imported as it is (notes for people)."""
    doc = check_document(data)
    notes: list[str] = []
    store, papers = library.collections, library.store
    before = {c.name: c.size for c in library.of_reader(reader)}
    default = next(c for c in library.of_reader(reader) if c.is_default)
    known: dict[str, int | None] = {}

    def pid_of(ref: str) -> int | None:
        if ref not in known:
            found = papers.get(ref) if len(ref) <= 300 else None
            known[ref] = found.pid if found is not None else None
        return known[ref]

    events, missing = [], {"votes": [], "saves": []}
    for key, kind in _MARK_KEYS.items():
        for mark in doc.get(key, []):
            ref, at = mark["paper"].strip(), _seconds(mark["at"], key)
            pid = pid_of(ref)
            if pid is None:
                store.add_pending(reader, kind.value, ref, at)
                if kind is Kind.SAVE:  # the default collection holds every save, known paper or not
                    store.add_item(default.id, None, ref, "", at)
                missing[key].append(ref)
            else:
                events.append(Event(0, datetime.fromtimestamp(at, UTC), kind, pid, f"r:{reader}"))
    library.signals.events.append(sorted(events, key=lambda e: e.at))
    for key, refs in missing.items():
        if refs:
            notes.append(f"{len(refs)} {key[:-1]}(s) of papers this instance does not have were kept by id: "
                         f"{', '.join(refs[:10])}{' …' if len(refs) > 10 else ''}")

    for c in doc.get("collections", []):
        if c.get("default"):
            target = default
        else:
            name = plain_text(c["name"], MAX_NAME, "collection name", required=True)
            target = next((x for x in library.of_reader(reader) if x.name == name), None) or library.create(
                reader, name if name.casefold() != DEFAULT_NAME.casefold() else f"{name} (imported)",
                c.get("description", ""))
        existing = {it.paper_id: it for it in store.items(target.id)}
        unknown = []
        for item in c.get("items", []):
            ref, note = item["paper"].strip(), plain_text(item.get("note", ""), MAX_NOTE, "note", lines=True)
            added = _seconds(item["added"], "item") if "added" in item else library.clock()
            pid = pid_of(ref)
            if pid is None:
                unknown.append(ref)
            if ref not in existing:
                if target.is_default and pid is not None:
                    library.signals.events.append([Event(0, datetime.fromtimestamp(added, UTC), Kind.SAVE, pid,
                                                         f"r:{reader}")])
                    store.set_note(target.id, ref, note)
                else:
                    store.add_item(target.id, pid, ref, note, added)
            elif note and not existing[ref].note:
                store.set_note(target.id, ref, note)
        if not before.get(target.name):  # an empty (or new) collection takes the document's order
            store.reorder(target.id, [item["paper"].strip() for item in c.get("items", [])])
        if unknown:
            notes.append(f"{len(unknown)} paper(s) in {target.name!r} are not in this instance and were kept by id: "
                         f"{', '.join(unknown[:10])}{' …' if len(unknown) > 10 else ''}")

    for key, module in PARTS:
        if key not in doc:
            continue
        part = _part(module)
        if part is None:
            notes.append(f"This instance cannot import {key} yet; they were not imported.")
        else:
            notes.extend(part.import_reader(papers, reader, doc[key]))
    return notes


# -- BibTeX and CSV -----------------------------------------------------------------------------------------------

_TEX_SPECIALS = {"\\": r"\textbackslash{}", "{": r"\textbraceleft{}", "}": r"\textbraceright{}", "%": r"\%",
                 "&": r"\&", "#": r"\#", "$": r"\$", "_": r"\_", "^": r"\^{}", "~": r"\~{}",
                 "<": r"\textless{}", ">": r"\textgreater{}"}
_TEX_SPECIAL = re.compile(r"[\\{}%&#$_^~<>]")


def tex_text(text: str) -> str:
    """Plain text (a reader's note) as a TeX field value: every special character escaped, braces balanced, and
    no raw ``<``/``>`` (a bibliography page that pastes fields into HTML gets no markup from a note)."""
    flat = " ".join(text.split())
    return _TEX_SPECIAL.sub(lambda m: _TEX_SPECIALS[m[0]], flat)


def _saved(library: Library, reader: int) -> list[tuple[str, Any]]:
    """(collection name, entry) for every paper in the reader's collections, the default collection first."""
    return [(c.name, e) for c in library.of_reader(reader) for e in library.entries(c)]


def bibtex(library: Library, reader: int) -> str:
    """The papers in the reader's collections as BibTeX, each once, with unique keys and the reader's notes."""
    from paperboy.web.render import bibtex as paper_bibtex

    entries, seen, keys, tries = [], set(), set(), {}
    for _, entry in _saved(library, reader):
        if entry.paper is None or entry.paper.pid in seen:
            continue
        seen.add(entry.paper.pid)
        text = paper_bibtex(entry.paper.paper)
        head, _, body = text.partition(",\n")
        key = base = head.removeprefix("@misc{")
        while key in keys:  # same author, year and title word: smith2024graph, smith2024graph2, ...
            tries[base] = tries.get(base, 1) + 1
            key = f"{base}{tries[base]}"
        keys.add(key)
        if entry.item.note:
            body = body.removesuffix("\n}") + f",\n  note = {{{tex_text(entry.item.note)}}}\n}}"
        entries.append(f"@misc{{{key},\n{body}")
    return "\n\n".join(entries) + ("\n" if entries else "")


def csv_cell(value: str) -> str:
    """A cell a spreadsheet will not run: text starting with ``= + - @`` (or tab / CR) gets a leading quote."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


CSV_COLUMNS = ("collection", "position", "paper", "title", "authors", "year", "url", "note", "added")


def csv_text(library: Library, reader: int) -> str:
    """Every item of every collection as CSV rows (papers not here have only their id)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    positions: dict[str, int] = {}
    for name, entry in _saved(library, reader):
        positions[name] = positions.get(name, 0) + 1
        paper = entry.paper.paper if entry.paper else None
        year = paper.submitted.year if paper and paper.submitted else ""
        url = f"https://arxiv.org/abs/{paper.arxiv_id}" if paper and paper.arxiv_id else ""
        row = [name, str(positions[name]), entry.item.paper_id, paper.title if paper else "",
               "; ".join(a.name for a in paper.authors) if paper else "", str(year), url, entry.item.note,
               _iso(entry.item.added_at)]
        writer.writerow([csv_cell(v) for v in row])
    return out.getvalue()
