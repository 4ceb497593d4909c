"""Deterministic merging of the per-source records of one paper.

A paper may arrive from several sources (an ``.abs`` file, a listing, OAI-PMH, a
conference JSON file) and in several versions.  The store keeps every distinct source
record and folds them from the oldest information to the newest (by the date the record
describes, then version, then arrival), so that newer records override fields and
records without a version number (a daily listing's replacement entry) still count by
their date, while an empty field never erases a value.  Because already-seen records are
skipped by content hash, re-ingesting the same inputs in any order changes nothing.
"""

from __future__ import annotations

from datetime import date

from paperboy.papers import Paper, Version, date_span

_OVERRIDABLE = ("title", "abstract", "journal_ref", "comments", "report_no", "license", "submitter", "doi")


def merge(records: list[tuple[int, Paper]]) -> Paper:
    """Fold ``(arrival seq, paper)`` records into one paper."""
    ordered = [p for _, p in sorted(records, key=lambda r: (r[1].updated or r[1].submitted or date.min,
                                                             r[1].version or 0, r[0]))]
    first = ordered[0]
    out = Paper(id=first.id, title=first.title)
    versions: dict[int, Version] = {}
    for p in ordered:
        for key in _OVERRIDABLE:
            value = getattr(p, key)
            if value:
                setattr(out, key, value)
                if key in ("title", "abstract"):
                    if key in p.original:
                        out.original[key] = p.original[key]
                    else:
                        out.original.pop(key, None)
        if p.authors:
            out.authors = p.authors
        if p.categories:
            out.categories = p.categories
        if p.arxiv_id and not out.arxiv_id:
            out.arxiv_id = p.arxiv_id
        if p.submitted and (out.submitted is None or _better_first_date(p, out)):
            out.submitted = p.submitted
            out.date_precision = p.date_precision
        if p.updated and (out.updated is None or p.updated > out.updated):
            out.updated = p.updated
            if out.submitted is None:  # the listing date is the update: its precision goes with it
                out.date_precision = p.date_precision
        if p.version and (out.version or 0) <= p.version:
            out.version = p.version
            out.withdrawn = p.withdrawn
        elif not p.version and not out.version:
            out.withdrawn = p.withdrawn
        for v in p.versions:
            known = versions.get(v.version)
            if known is None or (known.date is None and v.date is not None):
                versions[v.version] = v
        out.links.update(p.links)
    out.versions = [versions[k] for k in sorted(versions)]
    if out.arxiv_id:
        out.id = out.arxiv_id
    out.source = "+".join(sorted({p.source for p in ordered if p.source}))
    return out


def _better_first_date(p: Paper, out: Paper) -> bool:
    """Whether ``p``'s submission date should replace ``out``'s: a finer date inside the coarser one's span
    ("13 March 2025" refines "2025"), otherwise the earlier one."""
    assert p.submitted is not None and out.submitted is not None
    new_from, new_to = date_span(p.submitted, p.date_precision)
    old_from, old_to = date_span(out.submitted, out.date_precision)
    if (new_from, new_to) == (old_from, old_to):
        return False
    if old_from <= new_from and new_to <= old_to:
        return True
    if new_from <= old_from and old_to <= new_to:
        return False
    return new_from < old_from
